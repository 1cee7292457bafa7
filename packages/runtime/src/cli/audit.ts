import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { MandateError, isoTimeOrNull, silentLogger, sleepUnlessAborted } from '../kernel/index.js';
import type { StoredAuditRecord } from '../storage/index.js';
import { auditWithMirror, maxCheckpointGap, openStore } from '../app/index.js';
import { exportAudit, exportBundle, readHmacKey, readSigner, type AuditSigner } from '../audit/index.js';
import { EXIT, leftOut, out, load, common } from './shared.js';
import { keyDirSealer, readPublicKeys, registerAuditVerify, verifyAsConfigured } from './audit-verify.js';

const FILTERS = ['agent', 'user', 'action', 'effect', 'from', 'to'] as const;

/** `--from`/`--to`: an ISO time, or a usage error naming the flag (never an empty export). */
export function isoTime(flag: string) {
  return (value: string): string => {
    const iso = isoTimeOrNull(value);
    if (iso === null)
      throw new MandateError(
        'bad_request',
        `--${flag} ${JSON.stringify(value)}: expected an ISO time such as 2026-01-05T10:00:00Z`,
      );
    return iso;
  };
}

/** `-n`: a whole number of records, or a usage error. */
function lineCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new MandateError('bad_request', `-n ${JSON.stringify(value)}: expected a whole number of records`);
  return n;
}

/** `mandate audit verify|export|tail`. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify, export and follow the audit trail');
  registerAuditVerify(audit);
  common(
    audit
      .command('export')
      .description(
        'write the audit trail as JSONL or CEF, or as an evidence bundle that verifies with no database',
      ),
    false,
  )
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'cef']).default('jsonl'))
    .option('--bundle', 'an evidence bundle: every record, the signed checkpoints and the public keys')
    .option('--public-key <file...>', 'with --bundle: public keys to list (default: the key directory’s)')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .option('--agent <id>')
    .option('--user <id>')
    .option('--action <name>')
    .addOption(new Option('--effect <effect>').choices(['allow', 'deny', 'approval_required']))
    .option('--from <iso>', 'from this time (inclusive)', isoTime('from'))
    .option('--to <iso>', 'up to this time (inclusive)', isoTime('to'))
    .action(async (opts) => {
      const filter: Record<string, string> = {};
      for (const k of FILTERS) if (opts[k]) filter[k] = opts[k];
      if (opts.bundle && (Object.keys(filter).length > 0 || opts.format !== 'jsonl'))
        throw new MandateError(
          'bad_request',
          '--bundle holds the whole chain: leave out --format and the filters',
        );
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const chunks: string[] = [];
        const write = (c: string) => {
          if (opts.out) chunks.push(c);
          else process.stdout.write(c);
        };
        let n: number;
        if (opts.bundle) {
          const ownKey = join(loaded.config.keys.dir, 'audit-signing.pub.pem');
          const keyFiles: string[] = opts.publicKey ?? (existsSync(ownKey) ? [ownKey] : []);
          const publicKeys = await readPublicKeys(keyFiles);
          // With the node's key the bundle ends with a checkpoint of its last record, so every record
          // is signed — of a chain verified first, against the stored checkpoints and the mirror;
          // without it, the records after the last stored checkpoint are not (verify refuses them).
          const signer = await readSigner(loaded.config.keys.dir);
          let attest: { signer: AuditSigner; verifiedHead: { seq: number; hash: string } } | undefined;
          if (signer) {
            publicKeys[signer.keyId] ??= signer.publicKeyPem;
            // SECURITY: with the seal key, the records after the newest checkpoint must be the
            // writers' (ADR 0038): a record a database admin added after the head was signed here.
            // A key directory without one vouches for no head.
            const sealer = await keyDirSealer(loaded.config.keys.dir);
            const checked = await verifyAsConfigured(store, auditWithMirror(loaded.config, true), {
              publicKeys,
              sealer,
            });
            if (!sealer) {
              process.stderr.write(
                `no audit seal key in ${loaded.config.keys.dir}: nothing says which writer appended the records after the last checkpoint; the bundle is written without a checkpoint of its head\n`,
              );
              process.exitCode = EXIT.failed;
            } else if (checked.ok && checked.head) attest = { signer, verifiedHead: checked.head };
            else if (!checked.ok) {
              // SECURITY: the node's key never vouches for a chain that does not verify.
              process.stderr.write(
                `the chain does not verify (record ${checked.firstBad?.seq}: ${checked.firstBad?.problem} — ${checked.firstBad?.message}); the bundle is written without a checkpoint of its head\n`,
              );
              process.exitCode = EXIT.failed;
            }
          } else
            process.stderr.write(
              `no audit signing key in ${loaded.config.keys.dir}: the records after the last stored checkpoint are unsigned in this bundle\n`,
            );
          n = (
            await exportBundle(store, {
              publicKeys: Object.values(publicKeys),
              maxGap: maxCheckpointGap(loaded.config.audit),
              exportedAt: new Date().toISOString(),
              write,
              ...(attest ? { attest } : {}),
            })
          ).records;
        } else {
          // SECURITY: a record edited into the filter (its query column disagrees with its hashed
          // event) is left out, and the export fails: what matched by its columns alone is not evidence.
          n = await exportAudit(store, {
            format: opts.format,
            filter,
            write,
            tampered: leftOut('the export'),
            // Kept personal fields are checked against their records when the key directory holds the key.
            hmacKey: await readHmacKey(loaded.config.keys.dir),
          });
        }
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
    .option('-n, --lines <n>', 'how many of the newest records', lineCount, 20)
    .option('-f, --follow', 'keep following')
    .action(async (opts) => {
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const head = await store.auditHead();
        let after = Math.max(0, head.seq - (opts.lines as number));
        const print = (r: StoredAuditRecord) => {
          const e = JSON.parse(r.eventText) as Record<string, unknown>;
          // SECURITY: one record, one line. Fields hold text an agent chose (`onBehalfOf` with a
          // newline and a whole fake record after it); `out` keeps newlines as layout, so they are
          // written as escapes here.
          const f = (v: unknown) => oneLine(String(v));
          if (opts.json) out(JSON.stringify({ seq: r.seq, hash: r.hash, event: e }));
          else
            out(
              `#${r.seq} ${f(e.time)} ${f(e.type)}${e.effect ? ` ${f(e.effect)}` : ''}${e.agent ? ` agent=${f(e.agent)}` : ''}${e.user ? ` user=${f(e.user)}` : ''}${e.action ? ` ${f(e.action)}` : ''}${e.decisionId ? ` ${f(e.decisionId)}` : ''}`,
            );
        };
        // Everything after `after`, page by page: a burst is printed at once, not 1,000 a tick.
        const show = async () => {
          let page;
          do {
            page = await store.readAudit(after, 1000);
            for (const r of page) {
              print(r);
              after = r.seq;
            }
          } while (page.length === 1000);
        };
        await show();
        if (opts.follow) {
          // One read at a time: a read still printing when the next one started (a timer did that)
          // printed the same records twice. Until SIGINT or SIGTERM.
          const stopped = new AbortController();
          const stop = () => stopped.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          while (!stopped.signal.aborted) {
            await sleepUnlessAborted(500, stopped.signal);
            if (!stopped.signal.aborted) await show().catch(() => undefined);
          }
        }
      } finally {
        await store.close();
      }
    });
}

/** Text on one line: line breaks and tabs written as `\n`, `\r`, `\t` (the rest is `out`'s to escape). */
export function oneLine(s: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return s.replace(
    /[\n\r\t\u2028\u2029\u0085]/g,
    (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
