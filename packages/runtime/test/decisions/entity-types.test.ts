// An entity attribute of another type than the policy schema declares denies the decision
// (`invalid_entity`), as Cedar's own entity validation would refuse the data. It was handed to the
// engine as stored: Cedar compares values of different types as unequal without an error, so a
// forbid `principal.tenant == "evil"` did not fire for a stored `["evil"]`, in either engine
// (found by a black-box differential probe, 2026-12-01).
import { afterAll, describe, expect, it } from 'vitest';
import type { Agent } from '@mandate/protocol';
import { createTestMandate, disposeAll, exampleEntities } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';
import { decisionHarness } from './harness.js';

afterAll(disposeAll);

const SCHEMA = `
entity User = { roles: Set<String>, status: String };
entity Agent = {
  roles: Set<String>, status: String, tenant: String, level?: Long,
  profile?: { dept: String }, manager?: User, home?: ipaddr
};
entity Tool;
action "doc.read" appliesTo { principal: [Agent, User], resource: Tool, context: {} };
`;

const POLICIES = {
  'doc.cedar': `
@id("read") permit (principal is Agent, action == Action::"doc.read", resource);
@id("no-evil") forbid (principal is Agent, action, resource) when { principal.tenant == "evil" };
@id("no-nine") forbid (principal is Agent, action, resource) when { principal has level && principal.level == 9 };
@id("no-sales") forbid (principal is Agent, action, resource) when { principal has profile && principal.profile.dept == "sales" };
@id("no-mallory") forbid (principal is Agent, action, resource) when { principal has manager && principal.manager == User::"mallory" };
@id("no-home") forbid (principal is Agent, action, resource) when { principal has home && principal.home.isLoopback() };
`,
};
const TOOLS = [{ action: 'doc.read', inputSchema: { type: 'object' } }];

async function decideAs(attributes: Record<string, unknown>) {
  const h = await decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS });
  const bot: Agent = { id: 'files-bot', roles: ['files'], status: 'active', attributes };
  await h.store.putEntities({ agents: [bot], users: [], resources: [] });
  return (await h.decide('doc.read', {})).decision;
}

describe('entity attributes are checked against the policy schema', () => {
  it('well-typed: allowed, and each forbid fires on the value it names', async () => {
    expect((await decideAs({ tenant: 'acme' })).effect).toBe('allow');
    const full = {
      tenant: 'acme',
      level: 3,
      profile: { dept: 'support' },
      manager: { __entity: { type: 'User', id: 'frank' } },
      home: { __extn: { fn: 'ip', arg: '10.0.0.1' } },
    };
    expect((await decideAs(full)).effect).toBe('allow');
    for (const [k, v, id] of [
      ['tenant', 'evil', 'no-evil'],
      ['level', 9, 'no-nine'],
      ['profile', { dept: 'sales' }, 'no-sales'],
      ['manager', { __entity: { type: 'User', id: 'mallory' } }, 'no-mallory'],
      ['home', { __extn: { fn: 'ip', arg: '127.0.0.1' } }, 'no-home'],
    ] as const) {
      const d = await decideAs({ ...full, [k]: v });
      expect(d.effect, k).toBe('deny');
      expect(
        d.reasons.map((r) => r.policyId),
        k,
      ).toEqual([id]);
    }
  });

  it('mistyped: denied invalid_entity naming the attribute, where the forbid would not have fired', async () => {
    for (const [attrs, named] of [
      [{ tenant: ['evil'] }, /attribute tenant: the policy schema declares String; got a set/],
      [{ tenant: 'acme', level: '9' }, /attribute level: .*declares Long; got a string/],
      [{ tenant: 'acme', profile: { dept: ['sales'] } }, /attribute profile\.dept: .*String; got a set/],
      [{ tenant: 'acme', manager: 'mallory' }, /attribute manager: .*an entity of type User; got a string/],
      [
        { tenant: 'acme', manager: { __entity: { type: 'Agent', id: 'mallory' } } },
        /type User; got an entity of type Agent/,
      ],
      [{ tenant: 'acme', home: ['127.0.0.1'] }, /attribute home: .*ipaddr; got a set/],
    ] as const) {
      const d = await decideAs(attrs);
      expect(d.effect, JSON.stringify(attrs)).toBe('deny');
      expect(d.errors, JSON.stringify(attrs)).toEqual([
        { code: 'invalid_entity', message: expect.stringMatching(named) },
      ]);
    }
  });

  it('attributes the schema does not declare, and absent optional ones, are left to the policies', async () => {
    const d0 = await decideAs({ tenant: 'acme', nickname: ['x'] });
    expect(d0.effect, JSON.stringify(d0)).toBe('allow');
    const d1 = await decideAs({ tenant: 'acme', level: undefined });
    expect(d1.effect, JSON.stringify(d1)).toBe('allow');
  });
});

describe('PUT /v1/entities says so at once', () => {
  it('a mistyped attribute is 400 invalid_entity and nothing is stored; well-typed data is stored', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    const c42 = exampleEntities().resources.find((r) => r.id === 'c-42')!;
    const bad = await api.put('/v1/entities', KEYS.admin, {
      resources: [{ ...c42, attributes: { ...c42.attributes, tenant: ['globex'] } }],
    });
    expectError(bad, 400, 'invalid_entity');
    expect(bad.body.error.message).toMatch(
      /Customer::"c-42" attribute tenant: the policy schema declares String/,
    );
    expect((await t.m.store.getResource('Customer', 'c-42'))!.attributes.tenant).toBe('acme');
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

    const good = { ...c42, attributes: { ...c42.attributes, tenant: 'globex' } };
    expect(ok200(await api.put('/v1/entities', KEYS.admin, { resources: [good] }))).toMatchObject({
      resources: 1,
    });
    // Another tenant's customer now: denied by the policies, as the data says.
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('deny');
  });
});
