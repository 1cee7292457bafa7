import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { callerIdentity } from '../../src/decisions/index.js';
import { IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS } from '../../src/decisions/idempotency.js';
import { canonicalize, createManualClock, sha256Hex } from '../../src/kernel/index.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  exampleEntities,
  examplePolicySource,
  type StoreKind,
} from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund, type Client, type Json } from '../fixtures/http.js';

// Each test starts its own Mandate: closed after it, so a PostgreSQL run holds one pool at a time.
afterEach(disposeAll);

/**
 * Issue #10 (ADR 0019): `Idempotency-Key` on `POST /v1/decisions` makes a retried decision safe —
 * it is recorded once — and `POST /v1/decisions/:id/outcome` records what ran, once.
 */
describe.each(durableStoreKinds())('idempotent decisions and outcomes on %s', (kind: StoreKind) => {
  async function setup() {
    const t = await createTestMandate({ store: kind });
    return { t, api: client(t.url) };
  }
  const decideWithKey = (
    api: Client,
    key: string,
    body: Record<string, unknown>,
    secret: string = KEYS.supportBot,
  ) =>
    api.request<Decision>('POST', '/v1/decisions', {
      key: secret,
      json: body,
      headers: { 'idempotency-key': key },
    });
  /** Audit records of one type (and decision id), read as the admin. */
  async function audit(api: Client, query: string): Promise<Json[]> {
    const res = await api.get(`/v1/audit?limit=1000&${query}`, KEYS.admin);
    expect(res.status, res.text).toBe(200);
    return res.body.items;
  }

  it('the answer carries the args that were decided on', async () => {
    const { api } = await setup();
    const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(d.effect).toBe('allow');
    expect(d.args).toStrictEqual({ customerId: 'c-42', amount: 120 });
    const denied = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
    expect(denied.effect).toBe('deny');
    expect(denied.args).toStrictEqual({ customerId: 'c-77', amount: 120 });
  });

  it('a retry with the same key gets the same answer and is recorded once; without a key it is decided again', async () => {
    const { api } = await setup();
    const first = await decideWithKey(api, 'k-allow-1', refund(120));
    const d1 = ok200(first);
    expect(d1.effect).toBe('allow');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await decideWithKey(api, 'k-allow-1', refund(120));
    expect(ok200(second)).toStrictEqual(d1);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await audit(api, `type=decision&decisionId=${d1.decisionId}`)).toHaveLength(1);
    expect(await audit(api, 'type=decision&action=payments.refund')).toHaveLength(1);
    // The deny next to it: without a key the same call is a new decision, recorded again.
    ok200(await api.decide(KEYS.supportBot, refund(120)));
    ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(await audit(api, 'type=decision&action=payments.refund')).toHaveLength(3);
  });

  it('a recorded allow is not replayed once the agent is suspended or the grant revoked: decided again, denied', async () => {
    // Revocation is immediate (DESIGN.md): a retry with the key gave the recorded allow for an hour.
    const { api } = await setup();
    const d1 = ok200(await decideWithKey(api, 'k-revoke-1', refund(120)));
    expect(d1.effect).toBe('allow');
    ok200(await api.post('/v1/agents/support-bot/suspend', KEYS.admin));
    const suspended = await decideWithKey(api, 'k-revoke-1', refund(120));
    expect(suspended.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(suspended)).toMatchObject({ effect: 'deny', errors: [{ code: 'agent_suspended' }] });
    // The allow next to it: resumed, the retry gets the recorded answer again.
    ok200(await api.post('/v1/agents/support-bot/resume', KEYS.admin));
    const resumed = await decideWithKey(api, 'k-revoke-1', refund(120));
    expect(resumed.headers.get('idempotent-replayed')).toBe('true');
    expect(ok200(resumed)).toStrictEqual(d1);
    // The grant the allow rested on, revoked.
    ok200(await api.request('DELETE', `/v1/grants/${d1.grantId}`, { key: KEYS.admin }));
    const revoked = await decideWithKey(api, 'k-revoke-1', refund(120));
    expect(revoked.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(revoked).effect).toBe('deny');
    // Each fresh decision is on the record (the checks a replay makes are not decisions).
    expect((await audit(api, 'type=decision&action=payments.refund')).map((r) => r.event.effect)).toEqual([
      'allow',
      'deny',
      'deny',
    ]);
  });

  it('a recorded allow is not replayed once an entity it rested on changed: a customer put on legal hold', async () => {
    // A probe tagged the customer legal_hold and activated a forbid: the retry still got the allow.
    const { api } = await setup();
    const d1 = ok200(await decideWithKey(api, 'k-hold', refund(120)));
    expect(d1.effect).toBe('allow');
    // Nothing changed: the retry is the recorded answer.
    expect((await decideWithKey(api, 'k-hold', refund(120))).headers.get('idempotent-replayed')).toBe('true');
    ok200(
      await api.put('/v1/entities', KEYS.admin, {
        resources: [{ type: 'Customer', id: 'c-42', attributes: { tenant: 'acme' }, tags: ['legal_hold'] }],
      }),
    );
    const held = await decideWithKey(api, 'k-hold', refund(120));
    expect(held.headers.get('idempotent-replayed')).toBeNull();
    const heldDecision = ok200(held);
    expect(heldDecision.effect).toBe('deny');
    expect(heldDecision.reasons.map((r) => r.policyId)).toContain('legal-hold');
  });

  it('a recorded allow is not replayed once another policy set is active: an emergency forbid holds', async () => {
    const { api } = await setup();
    const d2 = ok200(await decideWithKey(api, 'k-freeze', refund(120)));
    expect(d2.effect).toBe('allow');
    const frozen = examplePolicySource();
    frozen.policies['freeze.cedar'] =
      '@id("refund-freeze")\nforbid (principal, action == Action::"payments.refund", resource);\n';
    ok200(await api.put('/v1/policies', KEYS.admin, frozen));
    const retried = await decideWithKey(api, 'k-freeze', refund(120));
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const retriedDecision = ok200(retried);
    expect(retriedDecision.effect).toBe('deny');
    expect(retriedDecision.reasons.map((r) => r.policyId)).toContain('refund-freeze');
  });

  it('a recorded allow is not replayed past the hour a policy allows it in: decided again at the time of the retry', async () => {
    // A second-round probe: a trade decided at 16:59 (exchange time) replayed its allow at 17:30.
    const clock = createManualClock(Date.parse('2026-01-05T21:59:00Z')); // 16:59 in New York
    const t = await createTestMandate({ store: kind, clock });
    const api = client(t.url);
    const order = {
      agent: 'trade-bot',
      onBehalfOf: 'bob',
      action: 'trade.place_order',
      args: { symbol: 'ACME', qty: 5, side: 'buy' },
    };
    const first = ok200(await decideWithKey(api, 'k-hours', order, KEYS.tradeBot));
    expect(first.effect).toBe('allow');
    // Still in the hour: the recorded answer.
    expect(
      (await decideWithKey(api, 'k-hours', order, KEYS.tradeBot)).headers.get('idempotent-replayed'),
    ).toBe('true');
    clock.advance(31 * 60_000);
    const late = await decideWithKey(api, 'k-hours', order, KEYS.tradeBot);
    expect(late.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(late).effect).toBe('deny');
  });

  it('an approvalId a plain permit never read does not keep an allow replayable once the call needs approval', async () => {
    // A third-round probe: the replay check let 'approval_required' through for any call that
    // carried an approvalId — a made-up one included — although no human ever approved it.
    const { api } = await setup();
    const first = ok200(
      await decideWithKey(api, 'k-bogus', refund(400, { approvalId: 'apr_nonexistent_123' })),
    );
    expect(first.effect).toBe('allow');
    const stricter = examplePolicySource();
    stricter.policies['agents.cedar'] = stricter.policies['agents.cedar']!.replace(
      'context.args.amount <= 500',
      'context.args.amount <= 100',
    ).replace('context.args.amount > 500', 'context.args.amount > 100');
    ok200(await api.put('/v1/policies', KEYS.admin, stricter));
    const retried = await decideWithKey(api, 'k-bogus', refund(400, { approvalId: 'apr_nonexistent_123' }));
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(retried).effect).toBe('deny');
  });

  it('a call that consumed an approval replays only while the policy asks for that same approval', async () => {
    // A third-round probe: after the policy asked a cfo, quorum 2, the replay of a call a finance
    // manager had approved under the old set was still allowed.
    const { api } = await setup();
    const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect((await api.approve(ask.approval!.id, KEYS.frank)).status).toBe(200);
    const body = refund(900, { approvalId: ask.approval!.id });
    expect(ok200(await decideWithKey(api, 'k-approved', body)).effect).toBe('allow');
    // The same set: the retry is the recorded allow (the approval it consumed is what it asks).
    expect((await decideWithKey(api, 'k-approved', body)).headers.get('idempotent-replayed')).toBe('true');
    const cfo = examplePolicySource();
    cfo.policies['agents.cedar'] = cfo.policies['agents.cedar']!.replace(
      '@approval("finance-manager")',
      '@approval("cfo") @quorum("2")',
    );
    ok200(await api.put('/v1/policies', KEYS.admin, cfo));
    const retried = await decideWithKey(api, 'k-approved', body);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(retried).effect).toBe('deny');
  });

  it('a call that consumed an approval replays only while that approval would still be taken', async () => {
    // A probe: the retry gave the recorded allow again after its approver was suspended, and after
    // another policy set and then the first again were activated; a fresh use of the approval was
    // refused (approval_voided) in both cases.
    const { api } = await setup();
    const approvedCall = async (key: string) => {
      const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
      expect((await api.approve(ask.approval!.id, KEYS.frank)).status).toBe(200);
      const body = refund(900, { approvalId: ask.approval!.id });
      expect(ok200(await decideWithKey(api, key, body)).effect).toBe('allow');
      const again = await decideWithKey(api, key, body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(ok200(again).effect).toBe('allow');
      return body;
    };
    // The approver suspended: the retry is decided afresh and denied; restored, it replays again.
    const first = await approvedCall('k-lapsed');
    const frank = exampleEntities().users.find((u) => u.id === 'frank')!;
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank, status: 'suspended' }] }));
    const lapsed = await decideWithKey(api, 'k-lapsed', first);
    expect(lapsed.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(lapsed).effect).toBe('deny');
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [frank] }));
    // A set B, then the first set A again: the approval was asked for before A's last activation.
    const second = await approvedCall('k-churn');
    const a = examplePolicySource();
    const b = examplePolicySource();
    b.policies['agents.cedar'] = b.policies['agents.cedar']! + '\n// another set\n';
    ok200(await api.put('/v1/policies', KEYS.admin, b));
    ok200(await api.put('/v1/policies', KEYS.admin, a));
    const churned = await decideWithKey(api, 'k-churn', second);
    expect(churned.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(churned).effect).toBe('deny');
  });

  it('the same key with a different request is refused, and decides nothing', async () => {
    const { api } = await setup();
    ok200(await decideWithKey(api, 'k-reuse', refund(120)));
    expectError(await decideWithKey(api, 'k-reuse', refund(130)), 422, 'idempotency_key_reused');
    expectError(
      await decideWithKey(api, 'k-reuse', refund(120, { intent: 'another reason' })),
      422,
      'idempotency_key_reused',
    );
    expect(await audit(api, 'type=decision')).toHaveLength(1);
  });

  it('keys are scoped per caller key: another credential with the same key is its own request', async () => {
    const { api } = await setup();
    const mine = ok200(await decideWithKey(api, 'k-shared', refund(120)));
    const admins = ok200(await decideWithKey(api, 'k-shared', refund(130), KEYS.admin));
    expect(admins.decisionId).not.toBe(mine.decisionId);
    expect(admins.args).toStrictEqual({ customerId: 'c-42', amount: 130 });
  });

  it('an approval_required answer replayed by its key opens no second approval and no second record', async () => {
    const { api } = await setup();
    const d = ok200(await decideWithKey(api, 'k-ask', refund(900)));
    expect(d.effect).toBe('approval_required');
    const again = ok200(await decideWithKey(api, 'k-ask', refund(900)));
    expect(again).toStrictEqual(d);
    expect(await audit(api, 'type=approval.requested')).toHaveLength(1);
    expect(await audit(api, 'type=decision')).toHaveLength(1);
  });

  it('a consumed approval is not re-consumed through a replay of a different request under the same key', async () => {
    const { api } = await setup();
    const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
    const approvalId = ask.approval!.id;
    expect((await api.approve(approvalId, KEYS.frank)).status).toBe(200);
    const use = ok200(await decideWithKey(api, 'k-use', refund(900, { approvalId })));
    expect(use.effect).toBe('allow');
    // Call B under call A's key: refused, not A's allow.
    expectError(
      await decideWithKey(api, 'k-use', refund(950, { approvalId })),
      422,
      'idempotency_key_reused',
    );
    // Call B under a new key: decided, and denied (the approval is bound to A and already used).
    const other = ok200(await decideWithKey(api, 'k-other', refund(950, { approvalId })));
    expect(other.effect).toBe('deny');
    // A's own retry gets A's recorded allow, and the approval was consumed exactly once.
    expect(ok200(await decideWithKey(api, 'k-use', refund(900, { approvalId })))).toStrictEqual(use);
    expect(await audit(api, 'type=approval.consumed')).toHaveLength(1);
    const afterUse = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
    expect(afterUse.effect).toBe('deny');
    expect(afterUse.errors.map((e) => e.code)).toContain('approval_consumed');
  });

  it('racing requests with one key: one decision is recorded; the others get it or are told to retry', async () => {
    const { api } = await setup();
    const all = await Promise.all(Array.from({ length: 6 }, () => decideWithKey(api, 'k-race', refund(120))));
    const ok = all.filter((r) => r.status === 200);
    for (const r of all) if (r.status !== 200) expectError(r, 409, 'idempotency_in_progress');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((r) => r.body.decisionId)).size).toBe(1);
    expect(await audit(api, 'type=decision')).toHaveLength(1);
  });

  it('a request that failed before anything was recorded releases its key', async () => {
    const { api } = await setup();
    // The tool's schema refuses a string amount: 400, nothing recorded.
    expectError(await decideWithKey(api, 'k-fail', refund('x' as unknown as number)), 400, 'invalid_args');
    const d = ok200(await decideWithKey(api, 'k-fail', refund(120)));
    expect(d.effect).toBe('allow');
  });

  it('a key whose first request never finished (its node stopped) is taken over after the lease', async () => {
    // Found in review: a node killed mid-decision left its claim in progress, and every retry with
    // the key was told idempotency_in_progress for the key's whole hour.
    const clock = createManualClock(Date.parse('2026-03-02T10:00:00Z'));
    const t = await createTestMandate({ store: kind, clock });
    const api = client(t.url);
    // The claim the stopped node left: this caller, this key, this very request, no answer.
    const caller = { role: 'agent' as const, subject: 'support-bot', keyId: 'key_demo-support-bot' };
    const at = clock.now();
    await t.m.store.claimIdempotencyKey(
      {
        scope: `decision:${callerIdentity(caller)}`,
        key: 'k-stopped',
        fingerprint: sha256Hex(canonicalize(refund(120))),
        response: null,
        createdAt: new Date(at).toISOString(),
        expiresAt: new Date(at + IDEMPOTENCY_TTL_MS).toISOString(),
      },
      new Date(at).toISOString(),
      new Date(at - IDEMPOTENCY_LEASE_MS).toISOString(),
    );
    clock.advance(IDEMPOTENCY_LEASE_MS - 1000);
    expectError(await decideWithKey(api, 'k-stopped', refund(120)), 409, 'idempotency_in_progress');
    expect(await audit(api, 'type=decision')).toHaveLength(0);
    clock.advance(2000);
    const taken = await decideWithKey(api, 'k-stopped', refund(120));
    expect(taken.headers.get('idempotent-replayed')).toBeNull();
    expect(ok200(taken).effect).toBe('allow');
    // Its answer is the key's now: the next retry is a replay, recorded once.
    const again = await decideWithKey(api, 'k-stopped', refund(120));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(ok200(again).decisionId).toBe(ok200(taken).decisionId);
    expect(await audit(api, 'type=decision')).toHaveLength(1);
  });

  it('a malformed key is refused', async () => {
    const { api } = await setup();
    expectError(await decideWithKey(api, 'has space', refund(120)), 400, 'bad_request');
    expectError(await decideWithKey(api, 'x'.repeat(256), refund(120)), 400, 'bad_request');
    expect(await audit(api, 'type=decision')).toHaveLength(0);
  });

  describe('outcomes', () => {
    const report = (api: Client, id: string, key: string, body: unknown) =>
      api.post(`/v1/decisions/${encodeURIComponent(id)}/outcome`, key, body);

    it('the agent reports what ran once; the audit trail shows it next to the decision', async () => {
      const { api } = await setup();
      const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
      const res = await report(api, d.decisionId, KEYS.supportBot, {
        status: 'error',
        durationMs: 12.5,
        errorType: 'TimeoutError',
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toStrictEqual({ decisionId: d.decisionId, status: 'error', durationMs: 12.5 });
      expectError(
        await report(api, d.decisionId, KEYS.supportBot, { status: 'ok', durationMs: 1 }),
        409,
        'conflict',
      );
      const events = await audit(api, `decisionId=${d.decisionId}`);
      expect(events.map((r) => r.event.type)).toEqual(['decision', 'decision.outcome']);
      expect(events[1].event).toMatchObject({
        agent: 'support-bot',
        user: 'alice',
        action: 'payments.refund',
        resource: 'Customer::c-42',
        data: { status: 'error', durationMs: 12.5, errorType: 'TimeoutError' },
      });
    });

    it('nothing ran for a deny, another agent cannot see the decision, only agents report, bodies are checked', async () => {
      const { api } = await setup();
      const denied = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
      expectError(
        await report(api, denied.decisionId, KEYS.supportBot, { status: 'ok', durationMs: 1 }),
        409,
        'conflict',
      );
      const allowed = ok200(await api.decide(KEYS.supportBot, refund(120)));
      expectError(
        await report(api, allowed.decisionId, KEYS.tradeBot, { status: 'ok', durationMs: 1 }),
        404,
        'not_found',
      );
      expectError(
        await report(api, allowed.decisionId, KEYS.admin, { status: 'ok', durationMs: 1 }),
        403,
        'forbidden',
      );
      expectError(
        await report(api, 'dec_nope', KEYS.supportBot, { status: 'ok', durationMs: 1 }),
        404,
        'not_found',
      );
      expectError(
        await report(api, allowed.decisionId, KEYS.supportBot, {
          status: 'ok',
          durationMs: 1,
          errorType: 'free text with spaces',
        }),
        400,
        'bad_request',
      );
      expectError(
        await report(api, allowed.decisionId, KEYS.supportBot, { status: 'done', durationMs: 1 }),
        400,
        'bad_request',
      );
      expect(await audit(api, 'type=decision.outcome')).toHaveLength(0);
      // The allow next to those denials: the right agent, a valid body.
      expect(
        (await report(api, allowed.decisionId, KEYS.supportBot, { status: 'ok', durationMs: 3 })).status,
      ).toBe(201);
      expect(await audit(api, 'type=decision.outcome')).toHaveLength(1);
    });

    it('racing reports of one outcome: one is recorded', async () => {
      const { api } = await setup();
      const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
      const all = await Promise.all(
        Array.from({ length: 5 }, () =>
          report(api, d.decisionId, KEYS.supportBot, { status: 'ok', durationMs: 1 }),
        ),
      );
      expect(all.filter((r) => r.status === 201)).toHaveLength(1);
      expect(await audit(api, 'type=decision.outcome')).toHaveLength(1);
    });
  });
});
