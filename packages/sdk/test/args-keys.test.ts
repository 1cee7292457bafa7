// A guarded tool runs the args the server decided on (client/request.ts), and those are in the
// order the call hash and any approval use, at every depth — not the order the model wrote
// (runtime decisions/args-keys.ts; a black-box probe ran `drop` under an approval for `count`).
// Keys that differ only in case are refused before the body runs, in both modes.
//
// The runtime is loaded from its source here (not its built `dist`, which `@mandate/runtime`
// resolves to): the behaviour under test is the runtime's, and the tests run from source.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient, guardTool, type MandateClient } from '../src/index.js';
import { createEmbeddedClient, type EmbeddedRuntimeModule } from '../src/client/embedded.js';
import { spy } from './fixtures.js';

/** The runtime's source entry; a specifier in a variable, so the SDK's typecheck stays its own. */
const RUNTIME_SOURCE = new URL('../../runtime/src/index.ts', import.meta.url).href;
type RuntimeSource = EmbeddedRuntimeModule & {
  createMandate(loaded: unknown): Promise<{ listen(): Promise<{ url: string }>; close(): Promise<void> }>;
  loadConfig(overrides: { configFile: string }, env: Record<string, string>): unknown;
};
const runtimeFromSource = () => import(/* @vite-ignore */ RUNTIME_SOURCE) as Promise<RuntimeSource>;

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
action "pay.transfer" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { amount: Long, payee?: String }, time: Time, intent?: String }
};
action "db.command" appliesTo { principal: [Agent, User], resource: Tool, context: { time: Time, intent?: String } };
`;
const POLICIES = `
@id("bot") permit (principal is Agent, action in [Action::"pay.transfer", Action::"db.command"], resource);
@id("no-mule") forbid (principal, action == Action::"pay.transfer", resource)
when { context.args has payee && context.args.payee == "mule-666" };
`;
const BOT_KEY = 'sdk-args-keys-bot';

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-sdk-keys-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'schema.cedarschema'), SCHEMA);
  writeFileSync(join(dir, 'policies', 'p.cedar'), POLICIES);
  const tools = [
    {
      action: 'pay.transfer',
      inputSchema: {
        type: 'object',
        properties: { amount: { type: 'integer' }, payee: { type: 'string' } },
        required: ['amount'],
      },
    },
    { action: 'db.command', inputSchema: { type: 'object' } },
  ];
  writeFileSync(join(dir, 'tools.json'), JSON.stringify({ tools }));
  writeFileSync(
    join(dir, 'entities.json'),
    JSON.stringify({
      agents: [{ id: 'bot', roles: [], owner: 'ops', status: 'active' }],
      users: [],
      resources: [],
    }),
  );
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    store: `sqlite:${join(dir, 'mandate.db')}`,
    policies: { dir: join(dir, 'policies') },
    tools: join(dir, 'tools.json'),
    entities: join(dir, 'entities.json'),
    keys: { dir: join(dir, 'keys') },
    log: { level: 'silent' },
    apiKeys: [{ name: 'bot', secret: BOT_KEY, role: 'agent', subject: 'bot' }],
  };
  const file = join(dir, 'mandate.config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

async function clientOf(mode: 'embedded' | 'remote'): Promise<MandateClient> {
  let client: MandateClient;
  if (mode === 'embedded') {
    client = createEmbeddedClient(
      { configFile: configFile(), logLevel: 'silent' },
      BOT_KEY,
      runtimeFromSource,
    );
  } else {
    const rt = await runtimeFromSource();
    const m = await rt.createMandate(rt.loadConfig({ configFile: configFile() }, {}));
    closers.push(() => m.close());
    client = createClient({ url: (await m.listen()).url, apiKey: BOT_KEY });
  }
  closers.push(() => client.close());
  return client;
}

describe.each(['embedded', 'remote'] as const)('a guarded tool (%s)', (mode) => {
  it("runs the args in the call hash's key order at every depth, whatever order the model wrote", async () => {
    const client = await clientOf(mode);
    const s = spy();
    const run = guardTool(s.body, { agent: 'bot', client, action: 'db.command', outcome: 'off' });
    const r = await run({}, { argsJson: '{"db":"crm","command":{"drop":"customers","count":"customers"}}' });
    expect(r.status).toBe('ok');
    expect(s.calls).toHaveLength(1);
    expect(JSON.stringify(s.calls[0])).toBe(
      '{"command":{"count":"customers","drop":"customers"},"db":"crm"}',
    );
  });

  it('the allow and the deny of one payee, and keys differing only in case refused: the body never runs', async () => {
    const client = await clientOf(mode);
    const s = spy();
    const pay = guardTool(s.body, { agent: 'bot', client, action: 'pay.transfer', outcome: 'off' });
    expect((await pay({ amount: 90, payee: 'acme-supplies' })).status).toBe('ok');
    expect((await pay({ amount: 90, payee: 'mule-666' })).status).toBe('denied');
    await expect(pay({ amount: 90, payee: 'acme-supplies', PAYEE: 'mule-666' })).rejects.toMatchObject({
      code: 'invalid_args',
    });
    expect(s.calls).toHaveLength(1);
  });
});
