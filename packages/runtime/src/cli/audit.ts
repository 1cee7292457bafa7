import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { MandateError, silentLogger } from '../kernel/index.js';
import { openStore } from '../app/index.js';
import { exportAudit, keyIdOf, verifyAudit } from '../audit/index.js';
import { EXIT, out, printJson, load, common } from './shared.js';

/** `mandate audit verify|export|tail`. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify, export and follow the audit trail');
  common(audit.command('verify').description('recompute the hash chain and check the signed checkpoints'))
    .option(
      '--public-key <file...>',
      'trusted public key PEM(s), one per signing node (default: audit-signing.pub.pem in the config’s key directory)',
    )
    .action(async (opts) => {
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const publicKeys: Record<string, string> = {};
        // SECURITY: verify reads public keys only; it never creates a key (a fresh key would sign nothing).
        const files: string[] = opts.publicKey ?? [join(loaded.config.keys.dir, 'audit-signing.pub.pem')];
        for (const f of files) {
          let pem: string;
          try {
            pem = await readFile(resolve(f), 'utf8');
          } catch {
            throw new MandateError(
              'bad_request',
              `cannot read public key ${f}: pass the signing node's key with --public-key`,
            );
          }
          publicKeys[keyIdOf(pem)] = pem;
        }
        let last = 0;
        const r = await verifyAudit(store, {
          publicKeys,
          onProgress: (n) => {
            if (!opts.json && process.stderr.isTTY && n - last >= 10_000) {
              last = n;
              process.stderr.write(`\rverified ${n} records…`);
            }
          },
        });
        if (last && process.stderr.isTTY) process.stderr.write('\n');
        if (opts.json) printJson(r);
        else if (r.ok)
          out(
            `ok: ${r.records} records, ${r.checkpoints} signed checkpoints, head ${r.head ? `#${r.head.seq} ${r.head.hash}` : '(empty)'}`,
          );
        else out(`FAILED at record ${r.firstBad?.seq}: ${r.firstBad?.problem} — ${r.firstBad?.message}`);
        process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
      } finally {
        await store.close();
      }
    });
  common(audit.command('export').description('write the audit trail as JSONL or CEF'), false)
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'cef']).default('jsonl'))
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .option('--agent <id>')
    .option('--user <id>')
    .option('--action <name>')
    .option('--effect <effect>')
    .option('--from <iso>')
    .option('--to <iso>')
    .action(async (opts) => {
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const chunks: string[] = [];
        const filter: Record<string, string> = {};
        for (const k of ['agent', 'user', 'action', 'effect', 'from', 'to']) if (opts[k]) filter[k] = opts[k];
        const n = await exportAudit(store, {
          format: opts.format,
          filter,
          write: (c) => {
            if (opts.out) chunks.push(c);
            else process.stdout.write(c);
          },
        });
        if (opts.out) {
          await writeFile(resolve(opts.out), chunks.join(''));
          process.stderr.write(`exported ${n} records to ${opts.out}\n`);
        }
      } finally {
        await store.close();
      }
    });
  common(
    audit.command('tail').description('print the newest audit records; --follow keeps printing new ones'),
  )
    .option('-n, --lines <n>', 'how many of the newest records', '20')
    .option('-f, --follow', 'keep following')
    .action(async (opts) => {
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const head = await store.auditHead();
        let after = Math.max(0, head.seq - Number(opts.lines));
        const show = async () => {
          for (const r of await store.readAudit(after, 1000)) {
            after = r.seq;
            const e = JSON.parse(r.eventText) as Record<string, unknown>;
            if (opts.json) out(JSON.stringify({ seq: r.seq, hash: r.hash, event: e }));
            else
              out(
                `#${r.seq} ${e.time} ${e.type}${e.effect ? ` ${e.effect}` : ''}${e.agent ? ` agent=${e.agent}` : ''}${e.user ? ` user=${e.user}` : ''}${e.action ? ` ${e.action}` : ''}${e.decisionId ? ` ${e.decisionId}` : ''}`,
              );
          }
        };
        await show();
        if (opts.follow) {
          await new Promise<void>((stop) => {
            const t = setInterval(() => void show().catch(() => undefined), 500);
            process.once('SIGINT', () => {
              clearInterval(t);
              stop();
            });
          });
        }
      } finally {
        await store.close();
      }
    });
}
