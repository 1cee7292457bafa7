import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ConfigSchema, loadConfig, type ConfigInput, type LoadedConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { silentLogger } from '../../src/kernel/index.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export interface GatewayFixture {
  policies: string;
  schema: string;
  entities: unknown;
  gateway: ConfigInput['gateway'];
  tools?: unknown[];
  apiKeys?: ConfigInput['apiKeys'];
  grants?: ConfigInput['grants'];
  /** Server settings besides the loopback host and free port (e.g. `maxInFlight`). */
  server?: Omit<NonNullable<ConfigInput['server']>, 'host' | 'port'>;
  /** OpenTelemetry settings (off by default). */
  telemetry?: ConfigInput['telemetry'];
}

/** Writes the fixture's policies, schema, entities and tools to a temp dir; returns the config that reads them. */
export function fixtureConfig(opts: GatewayFixture, store = 'memory'): { config: ConfigInput; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-gw-'));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'p.cedar'), opts.policies);
  writeFileSync(join(dir, 'policies', 'schema.cedarschema'), opts.schema);
  writeFileSync(join(dir, 'entities.json'), JSON.stringify(opts.entities));
  writeFileSync(join(dir, 'tools.json'), JSON.stringify({ tools: opts.tools ?? [] }));
  const config = {
    store,
    server: { ...opts.server, host: '127.0.0.1', port: 0 },
    policies: { dir: join(dir, 'policies') },
    tools: join(dir, 'tools.json'),
    entities: join(dir, 'entities.json'),
    apiKeys: opts.apiKeys ?? [
      { name: 'bot', secret: 'secret-bot-key', role: 'agent', subject: 'bot' },
      { name: 'admin', secret: 'secret-admin-key', role: 'admin', subject: null },
      { name: 'fm', secret: 'secret-approver-key', role: 'approver', subject: 'frank' },
    ],
    grants: opts.grants ?? [],
    gateway: opts.gateway,
    ...(opts.telemetry ? { telemetry: opts.telemetry } : {}),
    log: { level: 'silent' },
  } satisfies ConfigInput;
  return { config, dir };
}

/** A Mandate node (memory store) with the given policies and gateway section, listening on a random port. */
export async function startMandate(opts: GatewayFixture): Promise<{ m: Mandate; url: string; dir: string }> {
  const { config, dir } = fixtureConfig(opts);
  const m = await createMandate(
    { config: ConfigSchema.parse(config), file: null, baseDir: dir, nodeId: 'test' },
    { logger: silentLogger },
  );
  const { url } = await m.listen();
  // The start-up listing runs in the background: a test that rewrites a definition must not race it
  // (a listing of the old definition absorbed after the rewrite quarantines that one again).
  await m.gateway?.discover();
  return { m, url, dir };
}

/**
 * The repository's example (mandate.config.json: the fintech policies, keys and its own MCP server
 * behind the gateway) on the memory store, keys in a fresh temp dir, listening on a random port, as
 * `npm start` runs it. `tweak` changes the loaded config first.
 */
export async function startExample(
  tweak: (config: LoadedConfig['config']) => void = () => undefined,
): Promise<{ m: Mandate; url: string }> {
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const loaded = loadConfig(
    { configFile: join(root, 'mandate.config.json'), store: 'memory', port: 0, logLevel: 'silent' },
    {},
    root,
  );
  loaded.config.keys.dir = mkdtempSync(join(tmpdir(), 'mandate-example-'));
  tweak(loaded.config);
  const m = await createMandate(loaded, { logger: silentLogger });
  return { m, url: (await m.listen()).url };
}

/** An MCP client connected to the gateway's /mcp with a bearer key. */
export async function mcpClient(
  url: string,
  key: string,
  capabilities: Record<string, unknown> = {},
): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' }, { capabilities });
  await client.connect(
    new StreamableHTTPClientTransport(new URL('/mcp', url), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

export function readLog(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export const BOT_ENTITIES = {
  agents: [{ id: 'bot', roles: ['support'], status: 'active', attributes: {} }],
  users: [
    { id: 'alice', roles: ['support'], attributes: {} },
    { id: 'frank', roles: ['finance-manager'], attributes: {} },
  ],
  resources: [],
};

/** Alice's grant to the bot for every `tools.*` action, for a day (a gateway acting for alice needs it). */
export const ALICE_GRANTS_BOT = {
  user: 'alice',
  agent: 'bot',
  actions: ['tools.*'],
  resources: [],
  resourceAttributes: {},
  limits: [],
  expiresIn: '1d',
};

/** The pids a tool-server fixture wrote to its PID_LOG that are still running. */
export function livePids(pidLog: string): number[] {
  if (!existsSync(pidLog)) return [];
  return readFileSync(pidLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * Waits until the start-up listing's upstream process (the first a tool-server fixture wrote to its
 * PID_LOG) has come and gone, so that processes counted after it are sessions' own.
 */
export async function startupListingDone(pidLog: string): Promise<void> {
  await eventually(
    () => (existsSync(pidLog) ? readFileSync(pidLog, 'utf8').trim().split('\n').length : 0),
    (n) => n > 0,
  );
  await eventually(
    () => livePids(pidLog).length,
    (n) => n === 0,
  );
}

/** Polls `check` until it holds or `ms` pass; returns its last answer (no timing is asserted). */
export async function eventually<T>(
  check: () => T | Promise<T>,
  ok: (v: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const until = Date.now() + ms;
  let v = await check();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    v = await check();
  }
  return v;
}

/** The fixture tool server as a stdio upstream named `name`, trusted on first use. */
export function toolServerUpstream(name: string, env: Record<string, string>) {
  return {
    name,
    command: process.execPath,
    args: [join(FIXTURES, 'tool-server.mjs')],
    env,
    trustOnFirstUse: true,
  };
}

/** A schema and policy with one upstream tool, `tools.echo`, that every agent may call. */
export const ECHO_SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool };
`;
export const ECHO_POLICIES = `@id("echo") permit (principal is Agent, action == Action::"tools.echo", resource);`;
