import { readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { EntitiesDocumentSchema, ToolsDocumentSchema, type Decision } from '@mandate/protocol';
import {
  MandateError,
  isMandateError,
  newId,
  parseJsonStrict,
  silentLogger,
  createJsonLogger,
} from '../kernel/index.js';
import { loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/index.js';
import { createMandate, describeStore, openStore, runPolicyCases, type Mandate } from '../app/index.js';
import { createCedarEngine, loadPolicyDir } from '../policy/index.js';
import { apiKeyHash } from '../http/index.js';
import { exportAudit, keyIdOf, verifyAudit } from '../audit/index.js';
import { parseUpstreamFlag } from '../gateway/index.js';
import { authenticate } from '../http/auth.js';

/**
 * Exit codes (documented in docs/cli.md):
 * 0 success / allow · 1 deny, verification failed, test mismatch · 2 usage or configuration error ·
 * 3 approval_required · 4 store or server unavailable · 5 internal error.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, approval: 3, unavailable: 4, internal: 5 } as const;

export function exitCodeFor(err: unknown): { code: number; message: string | null } {
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : EXIT.usage, message: null };
  if (isMandateError(err)) {
    const unavailable = ['store_unavailable', 'audit_unavailable', 'overloaded', 'timeout'].includes(
      err.code,
    );
    return {
      code: unavailable ? EXIT.unavailable : err.code === 'internal' ? EXIT.internal : EXIT.usage,
      message: `${err.code}: ${err.message}`,
    };
  }
  return { code: EXIT.internal, message: (err as Error)?.stack ?? String(err) };
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

interface CommonOpts {
  config?: string;
  store?: string;
  json?: boolean;
}

function load(opts: CommonOpts & { port?: string; host?: string; logLevel?: string }): LoadedConfig {
  const o: ConfigOverrides = {};
  if (opts.config) o.configFile = opts.config;
  if (opts.store) o.store = opts.store;
  if (opts.host) o.host = opts.host;
  if (opts.port !== undefined) {
    const n = Number(opts.port);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new MandateError('bad_request', `--port ${opts.port} is not a port number`);
    o.port = n;
  }
  if (opts.logLevel) o.logLevel = opts.logLevel as ConfigOverrides['logLevel'];
  return loadConfig(o);
}

/** Adds `--upstream` flags to the config's gateway upstreams. */
function withUpstreams(
  loaded: LoadedConfig,
  opts: { upstream?: string[]; trustOnFirstUse?: boolean },
): LoadedConfig {
  for (const flag of opts.upstream ?? []) {
    const u = parseUpstreamFlag(flag, opts.trustOnFirstUse === true);
    loaded.config.gateway.upstreams.push({
      args: [],
      exposeBareNames: false,
      ...u,
      trustOnFirstUse: u.trustOnFirstUse ?? false,
    });
  }
  return loaded;
}

async function withMandate<T>(opts: CommonOpts, fn: (m: Mandate) => Promise<T>, quiet = true): Promise<T> {
  const loaded = load(opts);
  const m = await createMandate(loaded, quiet ? { logger: silentLogger } : {});
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

const common = (cmd: Command, json = true) => {
  cmd.option(
    '-c, --config <file>',
    'config file (env MANDATE_CONFIG; default ./mandate.config.json when present)',
  );
  cmd.option('--store <url>', 'memory | sqlite:<path> | postgres://… (env MANDATE_STORE)');
  if (json) cmd.option('--json', 'print JSON');
  return cmd;
};

/** HTTP client for the commands that act as a person (approvers, users) against a running server. */
async function api(
  opts: { url?: string; key?: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const base = opts.url ?? process.env.MANDATE_URL ?? 'http://127.0.0.1:8787';
  const key = opts.key ?? process.env.MANDATE_KEY;
  if (!key) throw new MandateError('unauthenticated', 'give an API key with --key or MANDATE_KEY');
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new MandateError('store_unavailable', `cannot reach Mandate at ${base}: ${(err as Error).message}`);
  }
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : null;
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } })?.error;
    const code = (e?.code ?? 'internal') as ConstructorParameters<typeof MandateError>[0];
    throw new MandateError(code, e?.message ?? `HTTP ${res.status}`);
  }
  return data;
}

const remote = (cmd: Command) =>
  cmd
    .option('--url <url>', 'Mandate server URL (env MANDATE_URL)', undefined)
    .option('--key <key>', 'API key (env MANDATE_KEY)')
    .option('--json', 'print JSON');

export function buildProgram(): Command {
  const program = new Command('mandate')
    .description(
      'Mandate: authorization runtime for AI agents — policy, delegation, exact-call approvals, verifiable audit.',
    )
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();

  common(
    program.command('serve').description('run the HTTP API (decisions, approvals, grants, policies, audit)'),
    false,
  )
    .option('-p, --port <port>', 'port (env MANDATE_PORT; default 8787)')
    .option('--host <host>', 'address to bind (env MANDATE_HOST; default 127.0.0.1)')
    .option('--log-level <level>', 'debug | info | warn | error | silent')
    .option(
      '--upstream <name=cmd|url>',
      'an MCP server for the gateway at /mcp (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--trust-on-first-use', 'pin the --upstream tools on first sight without review (development)')
    .action(async (opts) => {
      const loaded = withUpstreams(load(opts), opts);
      const m = await createMandate(loaded);
      const { url } = await m.listen();
      const active = m.policies.active();
      out(
        [
          `Mandate is running at ${url}`,
          `  store:   ${describeStore(loaded.config.store)}`,
          `  policy:  ${active ? `${active.version} (${active.policies.length} policies)` : 'none active — PUT /v1/policies'}`,
          `  tools:   ${m.tools().list().length} registered`,
          ...(loaded.config.gateway.upstreams.length > 0
            ? [
                `  mcp:     ${url}/mcp (gateway to ${loaded.config.gateway.upstreams.map((u) => u.name).join(', ')}; agent API key as bearer)`,
              ]
            : []),
          `  try:     curl -s ${url}/readyz`,
          `  docs:    README.md (5-minute tour), docs/api.md, docs/cli.md`,
        ].join('\n'),
      );
      await new Promise<void>((resolveStop) => {
        const stop = () => resolveStop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      m.logger.info('shutting down');
      await m.close();
    });

  common(
    program
      .command('gateway')
      .description('serve the MCP gateway on stdin/stdout for one agent (its key from --key or MANDATE_KEY)'),
    false,
  )
    .requiredOption('--stdio', 'serve MCP over stdin/stdout')
    .option('--key <key>', 'the agent API key (env MANDATE_KEY)')
    .option(
      '--upstream <name=cmd|url>',
      'an upstream MCP server (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--trust-on-first-use', 'pin the --upstream tools on first sight without review (development)')
    .action(async (opts) => {
      const key = opts.key ?? process.env.MANDATE_KEY;
      if (!key) throw new MandateError('unauthenticated', 'give the agent API key with --key or MANDATE_KEY');
      const loaded = withUpstreams(load(opts), opts);
      // stdout carries the protocol: logs go to stderr only.
      const m = await createMandate(loaded, {
        logger: createJsonLogger(loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level),
      });
      try {
        if (!m.gateway)
          throw new MandateError(
            'bad_request',
            'no upstreams: configure gateway.upstreams or pass --upstream',
          );
        const caller = await authenticate(m.store, `Bearer ${key}`);
        const { closed } = await m.gateway.serveStdio(caller);
        await closed;
      } finally {
        await m.close();
      }
    });

  const tools = program
    .command('tools')
    .description('MCP gateway tool pins: list them, approve new or changed definitions');
  common(tools.command('list').description('pinned upstream tools and their status')).action(async (opts) => {
    const pins = await withMandate(opts, (m) => m.store.listToolPins());
    if (opts.json) printJson(pins);
    else
      for (const p of pins)
        out(`${p.status.padEnd(11)} ${p.server}.${p.tool}  ${p.hash}  ${p.approvedBy ?? ''}`);
  });
  common(tools.command('approve <name>').description('approve the current definition of <server.tool>'))
    .option('--hash <hash>', 'approve only if the pinned definition has this hash')
    .action(async (name: string, opts) => {
      const pin = await withMandate(opts, async (m) => {
        if (!m.gateway) throw new MandateError('bad_request', 'no upstreams are configured');
        return m.gateway.approve(name, 'admin:cli', opts.hash);
      });
      if (opts.json) printJson(pin);
      else out(`approved ${pin.server}.${pin.tool} ${pin.hash}`);
    });

  common(program.command('check').description('decide one call in-process and print the decision'))
    .requiredOption('--agent <id>', 'agent id')
    .option('--user <id>', 'user the agent acts for')
    .requiredOption('--action <name>', 'action, e.g. payments.refund')
    .option('--args <json>', 'args as a JSON object', '{}')
    .option('--intent <text>', "the agent's stated intent")
    .option('--approval <id>', 'approval id to consume')
    .action(async (opts) => {
      const args = parseJsonStrict(opts.args as string);
      if (!args || typeof args !== 'object' || Array.isArray(args))
        throw new MandateError('bad_request', '--args must be a JSON object');
      const d: Decision = await withMandate(opts, async (m) => {
        const r = await m.decisions.decide(
          {
            agent: opts.agent,
            onBehalfOf: opts.user ?? null,
            action: opts.action,
            args: args as Record<string, unknown>,
            intent: opts.intent ?? null,
            approvalId: opts.approval ?? null,
          },
          { role: 'admin', subject: null, keyId: 'cli' },
        );
        return r.decision;
      });
      if (opts.json) printJson(d);
      else {
        out(
          `${d.effect.toUpperCase()}  ${opts.action} by ${opts.agent}${opts.user ? ` for ${opts.user}` : ''}  (${d.decisionId})`,
        );
        for (const r of d.reasons) out(`  reason: ${r.policyId}${r.reason ? ` — ${r.reason}` : ''}`);
        for (const e of d.errors) out(`  error:  ${e.code} — ${e.message}`);
        if (d.approval)
          out(`  approval: ${d.approval.id} routed to ${d.approval.role}, expires ${d.approval.expiresAt}`);
      }
      process.exitCode =
        d.effect === 'allow' ? EXIT.ok : d.effect === 'approval_required' ? EXIT.approval : EXIT.failed;
    });

  const policy = program.command('policy').description('validate, test and diff policy sets');
  policy
    .command('validate <dir>')
    .description('validate a policy directory (*.cedar + one *.cedarschema) as a whole')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const source = await loadPolicyDir(resolve(dir));
      const r = createCedarEngine().validate(source);
      if (opts.json) printJson(r);
      else if (r.ok) out(`ok: ${Object.keys(source.policies).length} file(s) valid`);
      else
        for (const p of r.problems)
          out(`${p.file ?? '-'}${p.policyId ? ` [${p.policyId}]` : ''}: ${p.message}`);
      process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
    });
  common(
    policy
      .command('test <dir>')
      .description('run YAML decision cases (<dir>/tests/*.yaml) through the real decision path'),
  )
    .option('--cases <path>', 'a YAML file or folder of cases (default <dir>/tests)')
    .option('--tools <file>', 'tools file (default: the config’s)')
    .option('--entities <file>', 'entities file (default: the config’s)')
    .action(async (dir: string, opts) => {
      const root = resolve(dir);
      const source = await loadPolicyDir(root);
      let loaded: LoadedConfig | null = null;
      try {
        loaded = load(opts);
      } catch (err) {
        if (opts.config) throw err;
      }
      const toolsFile = opts.tools ? resolve(opts.tools) : loaded?.config.tools;
      const entitiesFile = opts.entities ? resolve(opts.entities) : loaded?.config.entities;
      const tools = toolsFile
        ? ToolsDocumentSchema.parse(parseJsonStrict(await readFile(toolsFile, 'utf8'))).tools
        : [];
      const entities = entitiesFile
        ? EntitiesDocumentSchema.parse(parseJsonStrict(await readFile(entitiesFile, 'utf8')))
        : { agents: [], users: [], resources: [] };
      const casesPath = opts.cases ? resolve(opts.cases) : join(root, 'tests');
      const files = (await stat(casesPath)).isDirectory()
        ? (await readdir(casesPath))
            .filter((f) => /\.ya?ml$/.test(f))
            .sort()
            .map((f) => join(casesPath, f))
        : [casesPath];
      const cases: unknown[] = [];
      for (const f of files) {
        const doc = parseYaml(await readFile(f, 'utf8')) as { cases?: unknown[] } | unknown[];
        const list = Array.isArray(doc) ? doc : doc?.cases;
        if (!Array.isArray(list))
          throw new MandateError('bad_request', `${f}: expected a list of cases or { cases: [...] }`);
        cases.push(...list);
      }
      if (cases.length === 0) throw new MandateError('bad_request', `no cases found in ${casesPath}`);
      const report = await runPolicyCases({
        engine: createCedarEngine(),
        source,
        cases,
        seed: { tools, entities, grants: loaded?.config.grants ?? [] },
        timeZone: loaded?.config.policies.timeZone ?? 'UTC',
      });
      if (opts.json) printJson(report);
      else {
        for (const r of report.results) {
          out(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}`);
          for (const p of r.problems) out(`        ${p}`);
        }
        out(`${report.passed} passed, ${report.failed} failed`);
      }
      process.exitCode = report.failed === 0 ? EXIT.ok : EXIT.failed;
    });
  policy
    .command('diff <from> <to>')
    .description('compare two policy directories: policies added, removed and changed, and the versions')
    .option('--json', 'print JSON')
    .action(async (from: string, to: string, opts: { json?: boolean }) => {
      const engine = createCedarEngine();
      const [a, b] = [
        engine.compile(await loadPolicyDir(resolve(from))),
        engine.compile(await loadPolicyDir(resolve(to))),
      ];
      const ma = new Map(a.policies.map((p) => [p.id, p.text]));
      const mb = new Map(b.policies.map((p) => [p.id, p.text]));
      const diff = {
        from: a.version,
        to: b.version,
        added: [...mb.keys()].filter((k) => !ma.has(k)),
        removed: [...ma.keys()].filter((k) => !mb.has(k)),
        changed: [...mb.keys()].filter((k) => ma.has(k) && ma.get(k) !== mb.get(k)),
      };
      if (opts.json) printJson(diff);
      else {
        out(`${diff.from} -> ${diff.to}`);
        for (const k of diff.added) out(`+ ${k}`);
        for (const k of diff.removed) out(`- ${k}`);
        for (const k of diff.changed) out(`~ ${k}`);
      }
      process.exitCode =
        diff.added.length + diff.removed.length + diff.changed.length === 0 ? EXIT.ok : EXIT.failed;
    });

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

  const approvals = program
    .command('approvals')
    .description('list and resolve approvals (talks to a running server)');
  remote(approvals.command('list').description('approvals routed to you'))
    .option('--status <status>', 'pending | approved | denied | expired | consumed', 'pending')
    .action(async (opts) => {
      const r = (await api(opts, 'GET', `/v1/approvals?status=${encodeURIComponent(opts.status)}`)) as {
        items: Record<string, unknown>[];
      };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out(`no ${opts.status} approvals`);
      else
        for (const a of r.items)
          out(
            `${a.id}  ${a.status}  ${a.action}  agent=${a.agent}${a.user ? ` user=${a.user}` : ''}  role=${a.role}  "${a.summary}"  expires ${a.expiresAt}`,
          );
    });
  for (const verdict of ['approve', 'deny'] as const) {
    remote(approvals.command(`${verdict} <id>`).description(`${verdict} an approval`))
      .option('--comment <text>', 'why')
      .option('--sign <keyfile>', 'sign the approval hash with your Ed25519 private key (PEM)')
      .action(async (id: string, opts) => {
        const body: Record<string, unknown> = {};
        if (opts.comment) body.comment = opts.comment;
        if (opts.sign) {
          const { createPrivateKey, sign } = await import('node:crypto');
          const a = (await api(opts, 'GET', `/v1/approvals/${encodeURIComponent(id)}`)) as {
            callHash: string;
          };
          body.signature = sign(
            null,
            Buffer.from(a.callHash, 'utf8'),
            createPrivateKey(await readFile(resolve(opts.sign), 'utf8')),
          ).toString('base64');
        }
        const r = (await api(
          opts,
          'POST',
          `/v1/approvals/${encodeURIComponent(id)}/${verdict}`,
          body,
        )) as Record<string, unknown>;
        if (opts.json) printJson(r);
        else out(`${r.id}: ${r.status} (${(r.votes as unknown[]).length} vote(s), quorum ${r.quorum})`);
      });
  }

  const grants = program
    .command('grants')
    .description('list, create and revoke delegation grants (talks to a running server)');
  remote(grants.command('list'))
    .option('--user <id>')
    .option('--agent <id>')
    .option('--all', 'include revoked grants')
    .action(async (opts) => {
      const q = new URLSearchParams();
      if (opts.user) q.set('user', opts.user);
      if (opts.agent) q.set('agent', opts.agent);
      if (opts.all) q.set('includeRevoked', 'true');
      const r = (await api(opts, 'GET', `/v1/grants?${q}`)) as { items: Record<string, unknown>[] };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out('no grants');
      else
        for (const g of r.items)
          out(
            `${g.id}  ${g.user} -> ${g.agent}  ${(g.actions as string[]).join(',')}  expires ${g.expiresAt}${g.revokedAt ? `  REVOKED ${g.revokedAt}` : ''}`,
          );
    });
  remote(grants.command('create'))
    .requiredOption('--agent <id>', 'the agent receiving the grant')
    .option('--user <id>', 'the user granting (admins only; a user key grants for itself)')
    .requiredOption('--actions <list>', 'comma-separated actions or namespace.*')
    .option('--resources <list>', 'comma-separated Type::id resources')
    .option('--limit <expr...>', 'arg limits like "amount<=200"')
    .option('--expires-in <duration>', 'e.g. 1h, 30d', '24h')
    .option('--parent <grantId>', 'attenuate this grant (sub-agent delegation)')
    .action(async (opts) => {
      const limits = ((opts.limit as string[] | undefined) ?? []).map((l) => {
        const m = /^([\w.]+)\s*(<=|>=|==|!=|<|>)\s*(.+)$/.exec(l);
        if (!m) throw new MandateError('bad_request', `invalid --limit ${l}: use e.g. amount<=200`);
        const raw = m[3]!.trim();
        const value = /^-?\d+(\.\d+)?$/.test(raw)
          ? Number(raw)
          : raw === 'true'
            ? true
            : raw === 'false'
              ? false
              : raw;
        return { arg: m[1], op: m[2], value };
      });
      const body: Record<string, unknown> = {
        agent: opts.agent,
        actions: (opts.actions as string).split(',').map((s) => s.trim()),
        limits,
        expiresIn: opts.expiresIn,
      };
      if (opts.user) body.user = opts.user;
      if (opts.resources) body.resources = (opts.resources as string).split(',').map((s) => s.trim());
      if (opts.parent) body.parentId = opts.parent;
      const r = (await api(opts, 'POST', '/v1/grants', body)) as Record<string, unknown>;
      if (opts.json) printJson(r);
      else out(`created ${r.id}: ${r.user} -> ${r.agent} until ${r.expiresAt}`);
    });
  remote(grants.command('revoke <id>')).action(async (id: string, opts) => {
    const r = (await api(opts, 'DELETE', `/v1/grants/${encodeURIComponent(id)}`)) as { revoked: string[] };
    if (opts.json) printJson(r);
    else out(`revoked ${r.revoked.join(', ')}`);
  });

  const keys = program.command('keys').description('API keys');
  common(
    keys
      .command('create')
      .description('create an API key; the secret is printed once and stored only hashed'),
  )
    .addOption(
      new Option('--role <role>', 'agent | user | approver | admin')
        .choices(['agent', 'user', 'approver', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--subject <id>', 'the agent id (role agent) or user id (roles user, approver)')
    .option('--name <name>', 'a label')
    .action(async (opts) => {
      if (opts.role !== 'admin' && !opts.subject)
        throw new MandateError('bad_request', `--subject is required for role ${opts.role}`);
      const secret = `mdt_${randomBytes(24).toString('base64url')}`;
      const r = await withMandate(opts, async (m) => {
        const id = newId('key', m.clock.now());
        await m.store.putApiKey({
          id,
          hash: apiKeyHash(secret),
          role: opts.role,
          subject: opts.subject ?? null,
          name: opts.name ?? id,
          createdAt: new Date(m.clock.now()).toISOString(),
          revokedAt: null,
        });
        await m.record({
          type: 'key.created',
          data: { keyId: id, role: opts.role, subject: opts.subject ?? null, source: 'cli' },
        });
        return { id, role: opts.role, subject: opts.subject ?? null, secret };
      });
      if (opts.json) printJson(r);
      else
        out(
          `created ${r.id} (role ${r.role}${r.subject ? `, subject ${r.subject}` : ''})\nsecret: ${r.secret}\nStore it now: it is shown only once.`,
        );
    });

  common(program.command('migrate').description('apply pending database migrations')).action(async (opts) => {
    const loaded = load(opts);
    const store = openStore(loaded.config.store, createJsonLogger('warn'));
    try {
      const applied = await store.migrate();
      if (opts.json) printJson({ applied });
      else out(applied.length ? `applied ${applied.join(', ')}` : 'up to date');
    } finally {
      await store.close();
    }
  });

  return program;
}
