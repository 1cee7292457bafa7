// The HTTP doors of decisions/args-keys.ts (a black-box probe, 2026-12-01): the v1 answer's `args`
// — what the SDK runs — are in the order the call hash and the approval use, not the agent's; and
// keys that differ only in case are refused on v1 and AuthZEN alike, recorded without the keys.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, type Client, type Json } from '../fixtures/http.js';

afterAll(disposeAll);

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
@id("pay") permit (principal is Agent, action in [Action::"pay.transfer", Action::"db.command"], resource);
@id("no-mule") forbid (principal, action == Action::"pay.transfer", resource)
when { context.args has payee && context.args.payee == "mule-666" };
`;
const BOT_KEY = 'args-keys-bot-secret';

async function mandate(): Promise<TestMandate> {
  const dir = tempDir('mandate-args-keys-');
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  writeFileSync(join(policies, 'schema.cedarschema'), SCHEMA);
  writeFileSync(join(policies, 'p.cedar'), POLICIES);
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
  return createTestMandate({
    config: (c) => {
      c.policies = { ...c.policies, dir: policies };
      c.tools = join(dir, 'tools.json');
      c.entities = join(dir, 'entities.json');
      c.grants = [];
      c.apiKeys = [
        { name: 'admin', secret: KEYS.admin, role: 'admin', subject: null },
        { name: 'bot', secret: BOT_KEY, role: 'agent', subject: 'bot' },
      ];
    },
  });
}

describe('args keys on the HTTP doors', () => {
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

  it("the v1 answer's args (what the SDK runs) are in the call hash's key order at every depth", async () => {
    const r = await api.request('POST', '/v1/decisions', {
      key: BOT_KEY,
      raw: '{"agent":"bot","action":"db.command","args":{"db":"crm","command":{"drop":"customers","count":"customers"}}}',
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.effect).toBe('allow');
    expect(r.text).toContain('"args":{"command":{"count":"customers","drop":"customers"},"db":"crm"}');
  });

  it('v1: the allow, the deny, and a key differing only in case refused (400 invalid_args, recorded without the key)', async () => {
    const decide = (args: Record<string, unknown>) =>
      api.decide(BOT_KEY, { agent: 'bot', action: 'pay.transfer', args });
    expect((await decide({ amount: 90, payee: 'acme-supplies' })).body.effect).toBe('allow');
    expect((await decide({ amount: 90, payee: 'mule-666' })).body.effect).toBe('deny');
    const r = await decide({ amount: 90, payee: 'acme-supplies', PAYEE: 'mule-666' });
    expectError(r, 400, 'invalid_args');
    const { error } = r.body as Json;
    expect(error.message).toContain('"PAYEE"');
    const id = error.decisionId;
    expect(id).toMatch(/^dec_/);
    const ev = (await refused()).find((e) => e.decisionId === id);
    expect(ev?.data).toMatchObject({ code: 'invalid_args', route: 'decision' });
    expect(ev?.data.reason).toBe('args: two keys of one object that differ only in case or Unicode form');
    // An undeclared key folding to a declared one, the declared one absent.
    expectError(await decide({ amount: 90, Payee: 'mule-666' }), 400, 'invalid_args');
  });

  it('AuthZEN: the same args refused the same way, on the record under the decision id it answers', async () => {
    const ask = (args: Record<string, unknown>) =>
      api.post('/access/v1/evaluation', BOT_KEY, {
        subject: { type: 'agent', id: 'bot' },
        action: { name: 'pay.transfer' },
        resource: { type: 'Tool', id: 'pay.transfer' },
        context: { args },
      });
    const ok = await ask({ amount: 90, payee: 'acme-supplies' });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.decision).toBe(true);
    expect((await ask({ amount: 90, payee: 'mule-666' })).body.decision).toBe(false);
    const secret = 'sk_live_AZFOLD31abcdef';
    const r = await ask({ amount: 90, payee: 'acme-supplies', [secret]: 1, [secret.toLowerCase()]: 2 });
    expectError(r, 400, 'invalid_args');
    const ev = (await refused()).find((e) => e.decisionId === (r.body as Json).error.decisionId);
    expect(ev?.data).toMatchObject({ code: 'invalid_args' });
    expect(JSON.stringify(await refused())).not.toContain('AZFOLD31');
  });
});
