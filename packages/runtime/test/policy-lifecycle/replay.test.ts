// Issue 14 §1: replay of the recorded decisions against a candidate set.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import { decideInputs, readRecordedInputs } from '../../src/decisions/policy-inputs.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  examplePolicySource,
  type StoreKind,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { dropRefundApproval, eventsOfType, forbidRefunds, writePolicyDir } from './helpers.js';

afterAll(disposeAll);
beforeAll(() => ensureBuilt());

const FROM = '2026-01-05T00:00:00.000Z';
const TO = '2026-01-07T00:00:00.000Z';

/** A mixed history: allow, deny (forbid, default, tenant), approval_required, an approved call, a grant limit, market hours. */
async function mixedHistory(kind: StoreKind): Promise<{ t: TestMandate; ids: Record<string, string> }> {
  // 15:00Z is 10:00 in New York (the example's policy time zone): the market is open.
  const clock = createManualClock(Date.parse('2026-01-05T15:00:00Z'));
  const t = await createTestMandate({
    store: kind,
    clock,
    config: (raw) => {
      raw.gateway = { ...(raw.gateway as object), upstreams: [] };
    },
  });
  const api = client(t.url);
  const ids: Record<string, string> = {};
  const decide = async (name: string, key: string, req: Record<string, unknown>, effect: string) => {
    const d = ok200(await api.decide(key, req));
    expect(d.effect, name).toBe(effect);
    ids[name] = d.decisionId;
    clock.advance(60_000);
    return d;
  };
  await decide('refund50', KEYS.supportBot, refund(50), 'allow');
  await decide('refund300', KEYS.supportBot, refund(300), 'allow');
  const big = await decide('refund600', KEYS.supportBot, refund(600), 'approval_required');
  ok200(await api.approve(big.approval!.id, KEYS.frank));
  await decide('refund600approved', KEYS.supportBot, refund(600, { approvalId: big.approval!.id }), 'allow');
  // Over the grant's limit (10000): refused before any policy.
  await decide('refundOverGrant', KEYS.supportBot, refund(20000), 'deny');
  // Legal hold: a forbid.
  await decide('refundHold', KEYS.supportBot, refund(50, {}, 'c-13'), 'deny');
  const read = (customerId: string) => ({
    agent: 'support-bot',
    onBehalfOf: 'alice',
    action: 'crm.read_customer',
    args: { customerId },
  });
  await decide('readOwn', KEYS.supportBot, read('c-42'), 'allow');
  await decide('readOther', KEYS.supportBot, read('c-77'), 'deny');
  const order = {
    agent: 'trade-bot',
    onBehalfOf: 'bob',
    action: 'trade.place_order',
    args: { symbol: 'ACME', qty: 5, side: 'buy' },
  };
  await decide('tradeOpen', KEYS.tradeBot, order, 'allow');
  const hire = {
    agent: 'hr-bot',
    onBehalfOf: 'carol',
    action: 'hr.create_account',
    args: { employeeId: 'e-1001' },
  };
  await decide('hire', KEYS.hrBot, hire, 'approval_required');
  // A secret in the intent is redacted on the record: that decision cannot be replayed faithfully.
  await decide(
    'refundSecretIntent',
    KEYS.supportBot,
    refund(60, { intent: 'use key sk-abcdefghijklmnopqrstuvwx' }),
    'allow',
  );
  // 01:00Z next day is 20:00 in New York: the market is closed.
  clock.set(Date.parse('2026-01-06T01:00:00Z'));
  await decide('tradeClosed', KEYS.tradeBot, order, 'deny');
  return { t, ids };
}

describe.each(durableStoreKinds())('policy replay (%s)', (kind) => {
  let t: TestMandate;
  let ids: Record<string, string>;
  beforeAll(async () => {
    ({ t, ids } = await mixedHistory(kind));
  }, 60_000);

  it('the recorded inputs reproduce every recorded decision against the active set (zero flips)', async () => {
    const api = client(t.url);
    const r = ok200(
      await api.post('/v1/policies/replay', KEYS.admin, {
        policies: examplePolicySource(),
        from: FROM,
        to: TO,
      }),
    );
    expect(r).toMatchObject({
      decisions: 12,
      replayed: 10,
      unchanged: 10,
      beforePolicies: 1,
      unreplayable: {
        count: 1,
        byReason: { redacted: 1, not_recorded: 0 },
        examples: [ids.refundSecretIntent!],
      },
      changes: {},
      groups: [],
      failed: false,
      truncated: false,
    });

    // Independently of the recorded outcome: each decision's recorded inputs, decided again, give
    // the effect the decision answered (the approved call was approval_required at the policy level).
    const active = t.m.policies.active()!;
    const events = await eventsOfType(t.m.store, 'decision');
    const byId = new Map(events.map((e) => [e.decisionId, e] as [string, AuditEvent]));
    for (const [name, id] of Object.entries(ids)) {
      const ev = byId.get(id)!;
      const inputs = readRecordedInputs(ev.data.policyInputs);
      if (name === 'refundOverGrant') {
        expect(ev.data.policyInputs).toBeNull();
        continue;
      }
      expect(inputs, name).not.toBeNull();
      const again = decideInputs(active, ev.action!, inputs!);
      expect(again.effect, name).toBe(name === 'refund600approved' ? 'approval_required' : ev.effect);
    }
    // The grant as it was is in the recorded context; the args are as typed for the engine.
    const rec = readRecordedInputs(byId.get(ids.refund300!)!.data.policyInputs)!;
    expect(rec.context).toMatchObject({
      args: { customerId: 'c-42', amount: 300 },
      grant: { id: expect.any(String) },
    });
    expect(rec.entities.map((e) => `${e.uid.type}::${e.uid.id}`)).toEqual([
      'Agent::support-bot',
      'User::alice',
      'Customer::c-42',
    ]);
    expect(rec.entities[1]!.attrs).toMatchObject({ tenant: 'acme', roles: ['support'] });
    // Personal data no policy reads stays off the chain: the customer's name is not recorded.
    expect(rec.entities[2]!.attrs).toEqual({ tenant: 'acme', tags: [] });
    expect(rec.omitted).toEqual(['department', 'name', 'owner', 'status']);
    expect(JSON.stringify(events)).not.toContain('Ada Example');
    expect(readRecordedInputs(byId.get(ids.refundSecretIntent!)!.data.policyInputs)!.redacted).toEqual([
      'context.intent',
    ]);
    expect(JSON.stringify(byId.get(ids.refundSecretIntent!))).not.toContain('sk-abcdefghijklmnopqrstuvwx');
  });

  it('a candidate that forbids refunds flips exactly the refund allows; --fail-on picks the direction', async () => {
    const api = client(t.url);
    const body = { policies: forbidRefunds(), from: FROM, to: TO };
    const r = ok200(await api.post('/v1/policies/replay', KEYS.admin, { ...body, failOn: 'allow-to-deny' }));
    expect(r.changes).toEqual({ 'allow->deny': 2, 'approval_required->deny': 2 });
    const allowToDeny = r.groups.filter(
      (g: { from: string; to: string }) => g.from === 'allow' && g.to === 'deny',
    );
    expect(allowToDeny).toEqual([
      {
        action: 'payments.refund',
        from: 'allow',
        to: 'deny',
        fromPolicies: ['refund-small', 'user-support-customers'],
        toPolicies: ['no-refunds'],
        count: 2,
        examples: [ids.refund50!, ids.refund300!],
      },
    ]);
    expect(r.failed).toBe(true);
    const loosen = ok200(
      await api.post('/v1/policies/replay', KEYS.admin, { ...body, failOn: 'deny-to-allow' }),
    );
    expect(loosen.failed).toBe(false);

    // A candidate reading an attribute the record left off cannot be replayed on those decisions.
    const byName = examplePolicySource();
    byName.policies['names.cedar'] =
      '@id("no-names")\nforbid (principal, action, resource is Customer) when { resource has name && resource.name == "Ada Example" };\n';
    const named = ok200(
      await api.post('/v1/policies/replay', KEYS.admin, { policies: byName, from: FROM, to: TO }),
    );
    expect(named.unreplayable.byReason.attributes_not_recorded).toBeGreaterThan(0);
    expect(named.changes).toEqual({});

    // Admin only; a bad window or set is refused.
    expectError(await api.post('/v1/policies/replay', KEYS.alice, body), 403, 'forbidden');
    expectError(
      await api.post('/v1/policies/replay', KEYS.admin, { ...body, from: 'soon' }),
      400,
      'bad_request',
    );
    expectError(
      await api.post('/v1/policies/replay', KEYS.admin, { ...body, failOn: 'sideways' }),
      400,
      'bad_request',
    );
    expectError(
      await api.post('/v1/policies/replay', KEYS.admin, {
        ...body,
        policies: { policies: { 'x.cedar': 'permit (' }, schema: 's' },
      }),
      422,
      'policy_invalid',
    );
  });

  it('a candidate without the large refunds’ approval fails --fail-on looser, which deny-to-allow misses', async () => {
    // A probe: the approval removed (approval_required -> allow) passed both directional gates.
    const api = client(t.url);
    const body = { policies: dropRefundApproval(), from: FROM, to: TO };
    const looser = ok200(await api.post('/v1/policies/replay', KEYS.admin, { ...body, failOn: 'looser' }));
    expect(looser.changes).toEqual({ 'approval_required->allow': 2 });
    expect(looser.failed).toBe(true);
    for (const failOn of ['deny-to-allow', 'allow-to-deny'])
      expect(
        ok200(await api.post('/v1/policies/replay', KEYS.admin, { ...body, failOn })).failed,
        failOn,
      ).toBe(false);
    // Stricter is not looser.
    const stricter = { policies: forbidRefunds(), from: FROM, to: TO, failOn: 'looser' };
    expect(ok200(await api.post('/v1/policies/replay', KEYS.admin, stricter)).failed).toBe(false);
  });

  it.runIf(kind === 'sqlite')(
    'mandate policy replay exits 1 on a forbidden flip and 0 otherwise',
    async () => {
      const cand = writePolicyDir(forbidRefunds());
      const args = ['policy', 'replay', cand, '--config', t.configFile, '--from', FROM, '--to', TO];
      const strict = await runCli([...args, '--fail-on', 'allow-to-deny'], { timeoutMs: 120_000 });
      expect(strict.code, strict.stderr).toBe(1);
      expect(strict.stdout).toContain('allow -> deny: 2');
      expect(strict.stdout).toContain(
        `payments.refund: allow -> deny x2 (refund-small,user-support-customers -> no-refunds) e.g. ${ids.refund50!}, ${ids.refund300!}`,
      );
      expect(strict.stdout).toContain('unreplayable 1');
      const loose = await runCli([...args, '--fail-on', 'deny-to-allow', '--json'], { timeoutMs: 120_000 });
      expect(loose.code, loose.stderr).toBe(0);
      expect(JSON.parse(loose.stdout)).toMatchObject({
        failed: false,
        failOn: 'deny-to-allow',
        replayed: 10,
      });
      const same = await runCli([
        'policy',
        'replay',
        join(t.dir, '..', 'nope'),
        '--config',
        t.configFile,
        '--from',
        FROM,
      ]);
      expect(same.code).not.toBe(0);
      const bad = await runCli([...args, '--fail-on', 'sideways']);
      expect(bad.code).not.toBe(0);
      expect(bad.code).not.toBe(1);
    },
    240_000,
  );
});
