import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMandate, loadConfig, type Mandate } from '@mandate/runtime';
import { createClient, type MandateClient } from '../src/index.js';

/** The repository root (this file is packages/sdk/test/fixtures.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLE_DIR = join(REPO_ROOT, 'examples', 'fintech-support');

/** The example's demo keys (their secret is their name). */
export const KEYS = {
  admin: 'demo-admin',
  supportBot: 'demo-support-bot',
  tradeBot: 'demo-trade-bot',
  alice: 'demo-alice',
  frank: 'demo-finance-manager',
} as const;

const dirs: string[] = [];
const open: (() => Promise<void>)[] = [];

/**
 * A config file for the fintech example in a temp dir: its policies, tools, entities, keys and
 * grants, a fresh SQLite store (or `store`), no MCP upstreams, silent logs.
 */
export function exampleConfigFile(opts: { store?: string; timeZone?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-sdk-'));
  dirs.push(dir);
  const raw = JSON.parse(readFileSync(join(REPO_ROOT, 'mandate.config.json'), 'utf8')) as Record<
    string,
    unknown
  > & {
    policies: Record<string, unknown>;
  };
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.store = opts.store ?? `sqlite:${join(dir, 'mandate.db')}`;
  raw.keys = { dir: join(dir, 'keys') };
  raw.log = { level: 'silent' };
  raw.audit = { checkpointEvery: 100, checkpointIntervalMs: 3_600_000, redact: [] };
  raw.policies = {
    ...raw.policies,
    dir: join(EXAMPLE_DIR, 'policies'),
    ...(opts.timeZone ? { timeZone: opts.timeZone } : {}),
  };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  delete raw.gateway;
  const file = join(dir, 'mandate.config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return file;
}

export interface RunningMandate {
  url: string;
  m: Mandate;
  configFile: string;
}

/** A real Mandate server on 127.0.0.1:0, built through the runtime's public entry. */
export async function startMandate(
  opts: { store?: string; timeZone?: string } = {},
): Promise<RunningMandate> {
  const configFile = exampleConfigFile(opts);
  const m = await createMandate(loadConfig({ configFile }, {}));
  const { url } = await m.listen();
  open.push(() => m.close());
  return { url, m, configFile };
}

export type Mode = 'remote' | 'embedded';

/**
 * A client of each mode against the example: remote talks to a server started here, embedded runs
 * its own in-process Mandate on a fresh store. Both are closed by {@link disposeAll}.
 */
export async function exampleClient(mode: Mode, apiKey: string = KEYS.supportBot): Promise<MandateClient> {
  const client =
    mode === 'remote'
      ? createClient({ url: (await startMandate()).url, apiKey })
      : createClient({ apiKey, embedded: { configFile: exampleConfigFile(), logLevel: 'silent' } });
  open.push(() => client.close());
  return client;
}

export async function disposeAll(): Promise<void> {
  for (const close of open.splice(0).reverse()) await close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A tool body that records every call it gets: the proof that a body did or did not run. */
export function spy<R = string>(result: (args: Record<string, unknown>) => R = () => 'done' as R) {
  const calls: Record<string, unknown>[] = [];
  const body = (args: Record<string, unknown>) => {
    calls.push(args);
    return result(args);
  };
  return { calls, body };
}
