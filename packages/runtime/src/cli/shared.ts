import { Command, CommanderError } from 'commander';
import { MandateError, escapeForTerminal, isMandateError, silentLogger } from '../kernel/index.js';
import { loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/index.js';
import { createMandate, type Mandate } from '../app/index.js';
import { parseUpstreamFlag } from '../gateway/index.js';
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
      // An error message can quote input (an arg name, a value): nothing in it may drive the terminal.
      message: escapeForTerminal(`${err.code}: ${err.message}`),
    };
  }
  return { code: EXIT.internal, message: (err as Error)?.stack ?? String(err) };
}

/**
 * Prints one line (or block). SECURITY: everything the CLI prints can hold agent-shaped text (ids,
 * args, summaries, audit records), so control, bidi and invisible characters are written as
 * `\uXXXX` escapes (@mandate/protocol/display) — a JSON text stays the same JSON value, newlines and tabs
 * stay layout. Where a person must judge a value (approvals) it is also flagged.
 */
export const out = (s: string) => {
  const safe = escapeForTerminal(s);
  process.stdout.write(safe.endsWith('\n') ? safe : safe + '\n');
};
export const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

/**
 * SECURITY: where a command reports a record found through an edited query column (left out of
 * what it read): it says so on stderr and the command fails — what matched by its columns alone is
 * not evidence.
 */
export const leftOut =
  (what: string) =>
  (f: { message: string }): void => {
    process.stderr.write(
      `${f.message}: records whose query columns disagree with their hashed events were left out of ${what} (run mandate audit verify)\n`,
    );
    process.exitCode = EXIT.failed;
  };

export interface CommonOpts {
  config?: string;
  store?: string;
  json?: boolean;
}

export function load(opts: CommonOpts & { port?: string; host?: string; logLevel?: string }): LoadedConfig {
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

/**
 * Adds `--upstream` flags to the config's gateway upstreams; `--trust-on-first-use`,
 * `--expose-bare-names` and `--action-prefix` apply to each of them.
 */
export function withUpstreams(
  loaded: LoadedConfig,
  opts: { upstream?: string[]; trustOnFirstUse?: boolean; exposeBareNames?: boolean; actionPrefix?: string },
): LoadedConfig {
  if (opts.actionPrefix !== undefined && !/^([a-z][a-z0-9_-]{0,62}\.)?$/.test(opts.actionPrefix))
    throw new MandateError(
      'bad_request',
      `--action-prefix ${opts.actionPrefix}: use a lower-case namespace and a dot (crm.), or "" for names that are already actions`,
    );
  for (const flag of opts.upstream ?? []) {
    const u = parseUpstreamFlag(flag, opts.trustOnFirstUse === true);
    loaded.config.gateway.upstreams.push({
      args: [],
      ...u,
      trustOnFirstUse: u.trustOnFirstUse ?? false,
      exposeBareNames: opts.exposeBareNames === true,
      ...(opts.actionPrefix !== undefined ? { actionPrefix: opts.actionPrefix } : {}),
    });
  }
  return loaded;
}

export async function withMandate<T>(
  opts: CommonOpts,
  fn: (m: Mandate) => Promise<T>,
  quiet = true,
): Promise<T> {
  const loaded = load(opts);
  const m = await createMandate(loaded, quiet ? { logger: silentLogger } : {});
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

export const common = (cmd: Command, json = true) => {
  cmd.option(
    '-c, --config <file>',
    'config file (env MANDATE_CONFIG; default ./mandate.config.json when present)',
  );
  cmd.option('--store <url>', 'memory | sqlite:<path> | postgres://… (env MANDATE_STORE)');
  if (json) cmd.option('--json', 'print JSON');
  return cmd;
};

/** HTTP client for the commands that act as a person (approvers, users) against a running server. */
export async function api(
  opts: { url?: string; key?: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const base = opts.url ?? process.env.MANDATE_URL ?? 'http://127.0.0.1:8787';
  const key = opts.key ?? process.env.MANDATE_KEY;
  if (!key) throw new MandateError('unauthenticated', 'give an API key with --key or MANDATE_KEY');
  let url: URL;
  try {
    url = new URL(path, base);
  } catch {
    throw new MandateError('bad_request', `--url ${base} is not a URL (e.g. http://127.0.0.1:8787)`);
  }
  let res: Response;
  try {
    res = await fetch(url, {
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
  let data: unknown = null;
  try {
    data = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    // Not a Mandate server (a proxy's error page, another service on that port).
    throw new MandateError(
      'bad_request',
      `${base} answered HTTP ${res.status} with something that is not JSON: is --url a Mandate server?`,
    );
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } })?.error;
    const code = (e?.code ?? 'internal') as ConstructorParameters<typeof MandateError>[0];
    throw new MandateError(code, e?.message ?? `HTTP ${res.status}`);
  }
  return data;
}

export const remote = (cmd: Command) =>
  cmd
    .option('--url <url>', 'Mandate server URL (env MANDATE_URL)', undefined)
    .option('--key <key>', 'API key (env MANDATE_KEY)')
    .option('--json', 'print JSON');
