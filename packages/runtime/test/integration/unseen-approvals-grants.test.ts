// Found by a black-box probe (2026-12-01): two routes told a caller about an approval or a grant
// that every other route answers 404 for. A vote (`POST /v1/approvals/:id/approve|deny`) on an
// approval the voter may not see answered with its state ("already approved", "expired at …"), who
// it waited for ("is for alice to confirm") and whether the voter was its user (self_approval); a
// sub-grant (`POST /v1/grants`) under another user's grant listed that grant's constraints, limits,
// expiry or revocation in its `grant_exceeded` problems. Both now answer as GET answers (404
// not_found), and the refused attempt stays on the record with its reason.
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import {
  createTestMandate,
  disposeAll,
  examplePolicySource,
  WITH_REFUND_HELPER,
  type TestMandate,
} from '../fixtures/mandate.js';
import {
  KEYS,
  client,
  expectError,
  ok200,
  refund,
  type Client,
  type HttpResult,
  type Json,
} from '../fixtures/http.js';

afterEach(disposeAll);

const DAVE = 'dave-user-key';

async function setup(clock = createManualClock(Date.parse('2026-01-05T10:00:00Z'))) {
  const t = await createTestMandate({
    clock,
    entities: WITH_REFUND_HELPER.entities!,
    config: (c) => {
      WITH_REFUND_HELPER.config!(c);
      c.apiKeys.push({ name: 'dave-user', secret: DAVE, role: 'user', subject: 'dave' });
    },
  });
  return { t, api: client(t.url), clock };
}

async function refused(t: TestMandate, route: string): Promise<AuditEvent[]> {
  const recs = await t.m.store.queryAudit({ type: 'request.refused', limit: 1000 });
  return recs.map((r) => JSON.parse(r.eventText) as AuditEvent).filter((e) => e.data.route === route);
}

/** What a caller is told: the status and the error, without the request id. */
const told = (r: HttpResult) => ({
  status: r.status,
  code: (r.body as Json)?.error?.code,
  message: (r.body as Json)?.error?.message,
});

describe('a vote on an approval the voter may not see', () => {
  it('is answered exactly as GET answers it, whatever its state; those who may see it are told', async () => {
    const { t, api, clock } = await setup();
    const ask = async (amount: number) => {
      const d = ok200(await api.decide(KEYS.supportBot, refund(amount)));
      expect(d.effect).toBe('approval_required');
      return d.approval!.id as string;
    };
    const pending = await ask(601);
    const approved = await ask(602);
    ok200(await api.approve(approved, KEYS.frank));
    const denied = await ask(603);
    ok200(await api.deny(denied, KEYS.frank));
    const consumed = await ask(604);
    ok200(await api.approve(consumed, KEYS.frank));
    expect(ok200(await api.decide(KEYS.supportBot, refund(604, { approvalId: consumed }))).effect).toBe(
      'allow',
    );
    // A confirmation alice alone may give (@approval("self")).
    const src = examplePolicySource();
    src.policies['agents.cedar'] = src.policies['agents.cedar']!.replace(
      '@approval("finance-manager")',
      '@approval("self")',
    );
    ok200(await api.put('/v1/policies', KEYS.admin, src));
    const self = await ask(605);

    // hana: an approver without the role; dave: another user's own key.
    const check = async (ids: string[]) => {
      for (const id of ids)
        for (const key of [KEYS.hana, DAVE]) {
          const seen = told(await api.get(`/v1/approvals/${id}`, key));
          expect(seen).toEqual({ status: 404, code: 'not_found', message: `no approval ${id}` });
          for (const vote of [api.approve, api.deny]) {
            const r = await vote(id, key);
            expect(told(r), `${key} on ${id}`).toEqual(seen);
            expect(r.text).not.toMatch(/alice|expired|already|confirm/);
          }
        }
    };
    await check([pending, approved, denied, consumed, self]);
    const nothing = 'apr_00000000000000000000000000';
    expect(told(await api.approve(nothing, KEYS.hana))).toEqual({
      status: 404,
      code: 'not_found',
      message: `no approval ${nothing}`,
    });
    // The twins, to those who may see them: frank is told the state; alice, the user acted for,
    // is told she cannot approve a call made for her (self_approval) and confirms her own.
    expectError(await api.approve(approved, KEYS.frank), 409, 'conflict');
    expectError(await api.approve(pending, KEYS.alice), 403, 'self_approval');
    expect(ok200(await api.approve(self, KEYS.alice)).status).toBe('approved');

    clock.advance(86_400_000 + 1000);
    await check([pending]);
    expectError(await api.approve(pending, KEYS.frank), 409, 'approval_expired');

    // On the record, with the reason the answer leaves out.
    const votes = await refused(t, 'POST /v1/approvals/:id/deny');
    expect(votes.filter((e) => e.data.code === 'not_found').length).toBeGreaterThanOrEqual(12);
    expect(
      votes.find(
        (e) =>
          (e.data.caller as { subject: string }).subject === 'dave' && String(e.data.reason).includes(self),
      ),
    ).toMatchObject({
      data: {
        code: 'not_found',
        reason: `a vote on approval ${self}, which the voter may not see: it is not for a call made on their behalf`,
      },
    });
    expect(
      votes.find(
        (e) =>
          (e.data.caller as { subject: string }).subject === 'hana' && String(e.data.reason).includes(self),
      ),
    ).toMatchObject({
      data: {
        reason: `a vote on approval ${self}, which the voter may not see: it waits for the user's own confirmation, not an approver's`,
      },
    });
  });
});

describe('a sub-grant under a grant that is not the caller’s', () => {
  async function aliceGrant(api: Client): Promise<Json> {
    const [g] = ok200(await api.get('/v1/grants?user=alice&agent=support-bot', KEYS.admin)).items as Json[];
    expect(g.limits.length).toBeGreaterThan(0);
    return g;
  }
  const wider = (parentId: string) => ({
    agent: 'refund-helper',
    actions: ['payments.refund', 'trade.place_order'],
    limits: [{ arg: 'amount', op: '<=', value: 999_999 }],
    resources: ['Customer::c-77'],
    expiresIn: '3650d',
    parentId,
  });

  it('is answered 404 not_found, as for a grant that does not exist, live or revoked; its own are compared', async () => {
    const { t, api } = await setup();
    const parent = await aliceGrant(api);
    const nothing = 'grt_00000000000000000000000000';
    const none = told(await api.post('/v1/grants', DAVE, wider(nothing)));
    expect(none).toEqual({ status: 404, code: 'not_found', message: `no grant ${nothing}` });
    const answer = async (key: string) => {
      const r = await api.post('/v1/grants', key, wider(parent.id));
      expect(r.text).not.toMatch(/limit|resource|expires|revoked|parent|alice/);
      return told(r);
    };
    const hidden = { status: 404, code: 'not_found', message: `no grant ${parent.id}` };
    // dave's own user key; trade-bot, which does not hold it.
    expect(await answer(DAVE)).toEqual(hidden);
    expect(await answer(KEYS.tradeBot)).toEqual(hidden);
    expectError(await api.del(`/v1/grants/${parent.id}`, DAVE), 404, 'not_found');

    // The twins: alice's own key and the agent holding it are told how it is exceeded, and pass on
    // a narrower one.
    const own = await api.post('/v1/grants', KEYS.alice, wider(parent.id));
    expectError(own, 403, 'grant_exceeded');
    expect(own.text).toMatch(/amount<=999999 is wider than the parent's/);
    expectError(await api.post('/v1/grants', KEYS.supportBot, wider(parent.id)), 403, 'grant_exceeded');
    const narrow = {
      agent: 'refund-helper',
      actions: ['crm.read_customer'],
      expiresIn: '1h',
      parentId: parent.id,
    };
    expect((await api.post('/v1/grants', KEYS.supportBot, narrow)).status).toBe(201);
    expect((await api.post('/v1/grants', KEYS.alice, narrow)).status).toBe(201);

    // Revoked: its state is not told either.
    ok200(await api.del(`/v1/grants/${parent.id}`, KEYS.alice));
    expect(await answer(DAVE)).toEqual(hidden);
    expectError(await api.post('/v1/grants', KEYS.alice, narrow), 403, 'grant_revoked');

    const records = (await refused(t, 'POST /v1/grants')).filter((e) => e.data.code === 'not_found');
    expect(records.map((e) => [(e.data.caller as { subject: string }).subject, e.data.reason])).toEqual([
      ['dave', `no grant ${nothing}`],
      ['dave', `parent grant ${parent.id} is another user's`],
      [
        'trade-bot',
        `parent grant ${parent.id} is not this credential's to pass on (another agent's, or for another user than the one it acts for)`,
      ],
      ['dave', `parent grant ${parent.id} is another user's`],
    ]);
  });
});
