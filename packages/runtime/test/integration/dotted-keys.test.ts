// Keys holding "." on the HTTP door (a black-box probe, 2026-12-02): a grant limit or a policy reads
// a nested arg by its path (`o.n`), while an upstream that reads keys as dotted paths (MongoDB's
// `$set`, lodash's `set`, Elasticsearch) takes `{"o.n": 100}` to that arg. (1) `{"o": {"n": 1},
// "o.n": 100}` was allowed under the limit `o.n <= 5` and forwarded; (2) `{"o.n": 100}` alone left
// an unscoped limit unapplied on a tool that does not declare `o`, and passed a forbid on a
// declared `opts.n`. Now: (1) and a dotted key inside a declared arg are refused 400 invalid_args
// (decisions/args-keys.ts); (2) a limit never holds for a dotted key reaching its arg (grants/
// limits-dotted-keys.ts). Keys holding "." where nothing reads them stay data.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, type Client, type Json } from '../fixtures/http.js';

afterAll(disposeAll);

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String, owner?: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
type Grant = { id: String, ageSeconds: Long, expiresInSeconds: Long };
action "raw.exec" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { cmd: String }, time: Time, intent?: String, onBehalfOf?: User, agent?: Agent, grant?: Grant }
};
action "job.run" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { cmd: String, opts?: { n?: Long } }, time: Time, intent?: String, onBehalfOf?: User, agent?: Agent, grant?: Grant }
};
action "files.write" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { time: Time, intent?: String, onBehalfOf?: User, agent?: Agent, grant?: Grant }
};
`;
const POLICIES = `
@id("run") permit (principal, action in [Action::"raw.exec", Action::"job.run", Action::"files.write"], resource);
@id("few") forbid (principal, action == Action::"job.run", resource)
when { context.args has opts && context.args.opts has n && context.args.opts.n > 5 };
`;
const BOT_KEY = 'dotted-keys-bot-secret';
const ALICE_KEY = 'dotted-keys-alice-secret';

async function mandate(): Promise<TestMandate> {
  const dir = tempDir('mandate-dotted-keys-');
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  writeFileSync(join(policies, 'schema.cedarschema'), SCHEMA);
  writeFileSync(join(policies, 'p.cedar'), POLICIES);
  const tools = [
    // As the probe's upstream declares it: `cmd` only, anything else allowed.
    {
      action: 'raw.exec',
      inputSchema: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'] },
    },
    {
      action: 'job.run',
      inputSchema: {
        type: 'object',
        properties: {
          cmd: { type: 'string' },
          opts: { type: 'object', properties: { n: { type: 'integer' } } },
        },
        required: ['cmd'],
      },
    },
    // A free-form map: its keys are file names, nothing reads a path under it.
    {
      action: 'files.write',
      inputSchema: {
        type: 'object',
        properties: { files: { type: 'object', additionalProperties: { type: 'string' } } },
      },
    },
  ];
  writeFileSync(join(dir, 'tools.json'), JSON.stringify({ tools }));
  writeFileSync(
    join(dir, 'entities.json'),
    JSON.stringify({
      agents: [{ id: 'bot', roles: [], owner: 'ops', status: 'active' }],
      users: [{ id: 'alice', roles: [], attributes: {} }],
      resources: [],
    }),
  );
  return createTestMandate({
    config: (c) => {
      c.policies = { ...c.policies, dir: policies };
      c.tools = join(dir, 'tools.json');
      c.entities = join(dir, 'entities.json');
      c.grants = [];
      c.apiKeys = [
        { name: 'admin', secret: KEYS.admin, role: 'admin', subject: null },
        { name: 'bot', secret: BOT_KEY, role: 'agent', subject: 'bot' },
        { name: 'alice', secret: ALICE_KEY, role: 'user', subject: 'alice' },
      ];
    },
  });
}

describe('keys holding "." on POST /v1/decisions', () => {
  let t: TestMandate;
  let api: Client;
  beforeAll(async () => {
    t = await mandate();
    api = client(t.url);
  });

  const refused = async (): Promise<AuditEvent[]> =>
    (await t.m.store.queryAudit({ type: 'request.refused', limit: 1000 })).map(
      (r) => JSON.parse(r.eventText) as AuditEvent,
    );
  /** Alice's only grant to bot: her earlier ones revoked. */
  const grant = async (limit: Record<string, unknown>) => {
    const listed = await api.get('/v1/grants?user=alice&agent=bot', ALICE_KEY);
    for (const g of (listed.body as Json).items as { id: string }[])
      await api.request('DELETE', `/v1/grants/${g.id}`, { key: ALICE_KEY });
    const g = await api.post('/v1/grants', ALICE_KEY, {
      agent: 'bot',
      actions: ['raw.exec'],
      limits: [limit],
    });
    expect(g.status, g.text).toBe(201);
  };
  const exec = (args: Record<string, unknown>) =>
    api.decide(BOT_KEY, { agent: 'bot', onBehalfOf: 'alice', action: 'raw.exec', args });

  it('a dotted key beside the nested arg a grant limit reads is refused (400 invalid_args), recorded without the key', async () => {
    await grant({ action: 'raw.exec', arg: 'o.n', op: '<=', value: 5 });
    const within = await exec({ cmd: 'ls', o: { n: 1 } });
    expect(within.status, within.text).toBe(200);
    expect(within.body.effect).toBe('allow');
    const over = await exec({ cmd: 'ls', o: { n: 100 } });
    expect(over.body.effect).toBe('deny');
    expect(codes(over.body)).toContain('grant_exceeded');
    // The probe: allowed (the limit read 1) and forwarded with "o.n": 100.
    const both = await exec({ cmd: 'ls', o: { n: 1 }, 'o.n': 100 });
    expectError(both, 400, 'invalid_args');
    const { error } = both.body as Json;
    expect(error.message).toContain('args.o.n: two args of the call are at this path');
    const ev = (await refused()).find((e) => e.decisionId === error.decisionId);
    expect(ev?.data).toMatchObject({ code: 'invalid_args', route: 'decision' });
    expect(ev?.data.reason).toBe(
      'args[*]: two args at one path when keys holding "." are read as dotted paths',
    );
    // Deeper, and two dotted keys landing on one arg.
    expectError(await exec({ cmd: 'ls', o: { 'n.m': 1 }, 'o.n': { m: 100 } }), 400, 'invalid_args');
    expectError(await exec({ cmd: 'ls', a: { 'o.n': 1 }, 'a.o.n': 100 }), 400, 'invalid_args');
    // Brackets are path separators too (lodash's set, qs, Express; a re-probe passed the limit with
    // "o[n]" once "." was refused), and a bracketed top-level key overrides its plain twin.
    for (const args of [
      { cmd: 'ls', o: { n: 1 }, 'o[n]': 100 },
      { cmd: 'ls', o: { n: 1 }, 'o[n][x]': 100, 'o.n.x': 2 },
      { cmd: 'ls', '[cmd]': 'rm -rf /' },
      { cmd: 'ls', "['cmd']": 'rm -rf /' },
      { cmd: 'ls', o: { n: 1 }, '["o"]["n"]': 100 },
      { cmd: 'ls', items: [{ n: 1 }], 'items[0].n': 100 },
    ])
      expectError(await exec(args), 400, 'invalid_args');
  });

  it('a dotted key alone never satisfies a limit on its arg where no schema declares it', async () => {
    // Unscoped: it applies where the tool declares `o.n` (raw.exec does not) or the call sends it.
    await grant({ arg: 'o.n', op: '<=', value: 5 });
    expect((await exec({ cmd: 'ls' })).body.effect).toBe('allow');
    expect((await exec({ cmd: 'ls', o: { n: 1 } })).body.effect).toBe('allow');
    expect(codes((await exec({ cmd: 'ls', o: { n: 100 } })).body)).toContain('grant_exceeded');
    // The probe: the limit was left out, and a dotted-path upstream acted on o.n = 100.
    for (const args of [
      { cmd: 'ls', 'o.n': 100 },
      { cmd: 'ls', 'o.n': 1 },
      { cmd: 'ls', o: { 'n.x': 1 } },
      { cmd: 'ls', 'o.n.x': 1 },
      { cmd: 'ls', 'o[n]': 100 },
      { cmd: 'ls', o: { '[n]': 100 } },
    ]) {
      const r = await exec(args);
      expect(r.status, r.text).toBe(200);
      expect(r.body.effect, JSON.stringify(args)).toBe('deny');
      expect(codes(r.body)).toContain('grant_exceeded');
    }
    // A dotted key elsewhere is data.
    expect((await exec({ cmd: 'ls', 'example.com': 1, o: { 'm.x': 1 } })).body.effect).toBe('allow');
  });

  it('a dotted key inside a declared arg is refused (400 invalid_args), sent beside it or not', async () => {
    const run = (args: Record<string, unknown>) =>
      api.decide(BOT_KEY, { agent: 'bot', action: 'job.run', args });
    expect((await run({ cmd: 'ls', opts: { n: 1 } })).body.effect).toBe('allow');
    expect((await run({ cmd: 'ls', opts: { n: 100 } })).body.effect).toBe('deny');
    // The probe: the forbid on opts.n saw no opts.
    const alone = await run({ cmd: 'ls', 'opts.n': 100 });
    expectError(alone, 400, 'invalid_args');
    const { error } = alone.body as Json;
    expect(error.message).toContain('"opts.n"');
    const ev = (await refused()).find((e) => e.decisionId === error.decisionId);
    expect(ev?.data.reason).toBe(
      'args: a key holding "." whose dotted reading is inside the declared "opts"',
    );
    expectError(await run({ cmd: 'ls', opts: {}, 'opts.x': 1 }), 400, 'invalid_args');
    expectError(await run({ cmd: 'ls', 'OPTS.n': 100 }), 400, 'invalid_args');
    expectError(await run({ cmd: 'ls', 'opts[n]': 100 }), 400, 'invalid_args');
    expectError(await run({ cmd: 'ls', '[opts]': { n: 100 } }), 400, 'invalid_args');
    // Undeclared at the top level, and nothing else there: data.
    expect((await run({ cmd: 'ls', 'build.id': 'b-1' })).body.effect).toBe('allow');
  });

  it('file and host names as keys of a free-form map are allowed, and answered as sent', async () => {
    const files = { 'config.yaml': 'a: 1', 'example.com': 'host', config: 'x', '.env': 'k' };
    const r = await api.decide(BOT_KEY, { agent: 'bot', action: 'files.write', args: { files } });
    expect(r.status, r.text).toBe(200);
    expect(r.body.effect).toBe('allow');
    expect(r.body.args).toEqual({ files });
  });

  it('AuthZEN: the same args refused the same way', async () => {
    const ask = (args: Record<string, unknown>) =>
      api.post('/access/v1/evaluation', BOT_KEY, {
        subject: { type: 'agent', id: 'bot' },
        action: { name: 'job.run' },
        resource: { type: 'Tool', id: 'job.run' },
        context: { args },
      });
    expect((await ask({ cmd: 'ls', opts: { n: 1 } })).body.decision).toBe(true);
    expectError(await ask({ cmd: 'ls', opts: { n: 1 }, 'opts.n': 100 }), 400, 'invalid_args');
  });
});
