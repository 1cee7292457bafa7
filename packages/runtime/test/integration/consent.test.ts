import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  exampleEntities,
  examplePolicySource,
  REFUND_HELPER_KEY,
  WITH_REFUND_HELPER,
  type StoreKind,
  type TestMandateOptions,
} from '../fixtures/mandate.js';
import {
  KEYS,
  client,
  type Json,
  codes,
  expectError,
  ok200,
  reasonIds,
  refund,
  type Client,
} from '../fixtures/http.js';

// Each test starts its own Mandate: closed after it, so a PostgreSQL run holds one pool at a time.
afterEach(disposeAll);

const DAY = 86_400_000;

/**
 * Issue #3 "Done when", through the real composition and HTTP, on every durable store: each way
 * around consent is denied with its stable code, next to the path that is allowed.
 */
describe.each(durableStoreKinds())('consent on %s', (kind: StoreKind) => {
  async function setup(opts: Omit<TestMandateOptions, 'store'> = {}) {
    const t = await createTestMandate({ ...opts, store: kind });
    return { t, api: client(t.url) };
  }

  /** Asks for a refund that needs approval and returns the pending approval id. */
  async function ask(api: Client, amount = 900): Promise<{ decision: Decision; approvalId: string }> {
    const decision = ok200(await api.decide(KEYS.supportBot, refund(amount)));
    expect(decision.effect).toBe('approval_required');
    return { decision, approvalId: decision.approval!.id };
  }
  async function approveAs(api: Client, id: string, key: string) {
    const res = await api.approve(id, key, { comment: 'customer verified' });
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  describe('the happy path', () => {
    it('agent asks, a finance manager approves, the agent retries with the approvalId and is allowed — once', async () => {
      const { api } = await setup();
      const { decision, approvalId } = await ask(api);
      expect(decision.approval).toMatchObject({ status: 'pending', role: 'finance-manager', quorum: 1 });

      // Without the approval the same call is still only approval_required: the same pending approval.
      const again = ok200(await api.decide(KEYS.supportBot, refund(900)));
      expect(again.effect).toBe('approval_required');
      expect(again.approval!.id).toBe(approvalId);
      // Identical calls at once wait for one approval, not one each (a human asked once).
      const burst = await Promise.all(
        Array.from({ length: 4 }, () => api.decide(KEYS.supportBot, refund(901))),
      );
      const opened = new Set(burst.map((r) => ok200(r).approval?.id));
      expect(opened.size, JSON.stringify([...opened])).toBe(1);
      expect(opened.has(approvalId)).toBe(false);
      const requested = ok200(await api.get('/v1/audit?type=approval.requested', KEYS.admin)).items;
      expect(requested).toHaveLength(2);
      // Using it before it is approved is denied.
      const early = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(early.effect).toBe('deny');
      expect(codes(early)).toEqual(['approval_pending']);

      // frank sees it, rendered from the real args; hana (hr-manager) does not.
      const frankList = ok200(await api.get('/v1/approvals?status=pending', KEYS.frank)).items as Json[];
      const mine = frankList.find((a) => a.id === approvalId);
      expect(mine).toMatchObject({
        status: 'pending',
        role: 'finance-manager',
        agent: 'support-bot',
        user: 'alice',
        action: 'payments.refund',
        resource: 'Customer::c-42',
        summary: 'Refund 900 to customer c-42',
        args: { customerId: 'c-42', amount: 900 },
        decisionId: decision.decisionId,
      });
      const hanaList = ok200(await api.get('/v1/approvals?status=pending', KEYS.hana)).items as {
        id: string;
      }[];
      expect(hanaList.map((a) => a.id)).not.toContain(approvalId);
      expectError(await api.get(`/v1/approvals/${approvalId}`, KEYS.hana), 404, 'not_found');
      // The requesting agent sees its own approval; another agent does not.
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.supportBot)).id).toBe(approvalId);
      expectError(await api.get(`/v1/approvals/${approvalId}`, KEYS.tradeBot), 404, 'not_found');

      const approved = await approveAs(api, approvalId, KEYS.frank);
      expect(approved).toMatchObject({ id: approvalId, status: 'approved' });
      expect(approved.votes).toEqual([
        expect.objectContaining({ approver: 'frank', verdict: 'approve', comment: 'customer verified' }),
      ]);
      expect(
        ok200(await api.get('/v1/approvals?status=pending', KEYS.frank)).items.map(
          (a: { id: string }) => a.id,
        ),
      ).not.toContain(approvalId);

      const allowed = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(allowed.effect).toBe('allow');
      expect(allowed.errors).toEqual([]);
      expect(reasonIds(allowed)).toContain('refund-large-needs-finance');
      expect(allowed.approval).toMatchObject({ id: approvalId, status: 'consumed' });
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin))).toMatchObject({
        status: 'consumed',
        consumedBy: allowed.decisionId,
      });

      // Replay: the approval is single use.
      const replay = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(replay.effect).toBe('deny');
      expect(codes(replay)).toEqual(['approval_consumed']);
      // A vote on a used approval is a conflict, not a second approval.
      expectError(await api.approve(approvalId, KEYS.fiona), 409, 'conflict');
    });

    it('long-polls GET /v1/approvals/:id?wait=5s until the approval is resolved', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api);
      const waiting = api.get(`/v1/approvals/${approvalId}?wait=5s`, KEYS.supportBot);
      // While nobody has voted, the long poll is still open.
      const early = await Promise.race([
        waiting.then(() => 'answered'),
        new Promise((r) => setTimeout(() => r('still waiting'), 300)),
      ]);
      expect(early).toBe('still waiting');
      await approveAs(api, approvalId, KEYS.frank);
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: approvalId, status: 'approved' });
      // On a resolved approval, wait answers at once with its state.
      expect(ok200(await api.get(`/v1/approvals/${approvalId}?wait=5s`, KEYS.supportBot)).status).toBe(
        'approved',
      );
      // A wait that runs out returns the approval still pending.
      const { approvalId: other } = await ask(api, 901);
      expect(ok200(await api.get(`/v1/approvals/${other}?wait=1s`, KEYS.supportBot)).status).toBe('pending');
      expectError(await api.get(`/v1/approvals/${other}?wait=soon`, KEYS.supportBot), 400, 'bad_request');
    });

    it('denies the retry after an approver denied (approval_denied)', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api);
      const denied = await api.deny(approvalId, KEYS.frank, { comment: 'not verified' });
      expect(denied.status).toBe(200);
      expect(denied.body.status).toBe('denied');
      const d = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(d.effect).toBe('deny');
      expect(codes(d)).toEqual(['approval_denied']);
    });
  });

  describe('an approval is bound to the exact call', () => {
    it('denies an approval given for 900 when the call asks 9000 (approval_mismatch); the approved call still runs', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api, 900);
      await approveAs(api, approvalId, KEYS.frank);
      const tampered = ok200(await api.decide(KEYS.supportBot, refund(9000, { approvalId })));
      expect(tampered.effect).toBe('deny');
      expect(codes(tampered)).toEqual(['approval_mismatch']);
      // For another user's call it is not found, as an unknown id is: an
      // approval of someone else's call is not theirs to learn of (a re-probe).
      const viaAdmin = ok200(
        await api.decide(KEYS.admin, { ...refund(900, { approvalId }), onBehalfOf: null }),
      );
      expect(viaAdmin.effect).toBe('deny');
      expect(codes(viaAdmin)).toEqual(['approval_not_found']);
      // The mismatch did not use it up.
      const ok = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(ok.effect).toBe('allow');
    });

    it('binds canonical args: the same call with keys in another order uses the approval', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api, 900);
      await approveAs(api, approvalId, KEYS.frank);
      const raw = `{"approvalId":"${approvalId}","args":{"amount":900,"customerId":"c-42"},"action":"payments.refund","onBehalfOf":"alice","agent":"support-bot"}`;
      const d = ok200(await api.request<Decision>('POST', '/v1/decisions', { key: KEYS.supportBot, raw }));
      expect(d.effect).toBe('allow');
    });

    it('lets exactly one of two concurrent uses of one approval through', async () => {
      const { api } = await setup();
      for (let round = 0; round < 3; round++) {
        const { approvalId } = await ask(api, 900 + round);
        await approveAs(api, approvalId, KEYS.frank);
        const both = await Promise.all([
          api.decide(KEYS.supportBot, refund(900 + round, { approvalId })),
          api.decide(KEYS.supportBot, refund(900 + round, { approvalId })),
        ]);
        const ds = both.map((r) => ok200(r));
        expect(ds.map((x) => x.effect).sort()).toEqual(['allow', 'deny']);
        expect(codes(ds.find((x) => x.effect === 'deny')!)).toEqual(['approval_consumed']);
        const consumed = ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin));
        expect(consumed.consumedBy).toBe(ds.find((x) => x.effect === 'allow')!.decisionId);
      }
    });

    it('denies an expired approval (approval_expired), with a manual clock; one used in time is allowed', async () => {
      const clock = createManualClock(Date.parse('2026-01-05T10:00:00Z'));
      const { api } = await setup({ clock });
      const a = await ask(api, 900);
      await approveAs(api, a.approvalId, KEYS.frank);
      clock.advance(DAY - 1000);
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: a.approvalId }))).effect).toBe(
        'allow',
      );

      const b = await ask(api, 901);
      await approveAs(api, b.approvalId, KEYS.frank);
      clock.advance(DAY + 1000);
      const late = ok200(await api.decide(KEYS.supportBot, refund(901, { approvalId: b.approvalId })));
      expect(late.effect).toBe('deny');
      expect(codes(late)).toEqual(['approval_expired']);
      expect(ok200(await api.get(`/v1/approvals/${b.approvalId}`, KEYS.admin)).status).toBe('expired');

      // A pending approval past its expiry cannot be approved any more.
      const c = await ask(api, 902);
      clock.advance(DAY + 1000);
      expectError(await api.approve(c.approvalId, KEYS.frank), 409, 'approval_expired');
      const events = ok200(await api.get('/v1/audit?type=approval.expired', KEYS.admin)).items as {
        event: { data: { approvalId: string } };
      }[];
      expect(events.map((e) => e.event.data.approvalId)).toEqual(
        expect.arrayContaining([b.approvalId, c.approvalId]),
      );
    });

    it('voids an approval when the policy set changes between approval and use (approval_mismatch)', async () => {
      const { api } = await setup();
      const { decision, approvalId } = await ask(api, 900);
      await approveAs(api, approvalId, KEYS.frank);
      const changed = examplePolicySource();
      changed.policies['agents.cedar'] += '\n// reviewed by the security team\n';
      const put = ok200(await api.put('/v1/policies', KEYS.admin, changed));
      expect(put.changed).toBe(true);
      expect(put.version).not.toBe(decision.policyVersion);
      const d = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(d.effect).toBe('deny');
      expect(codes(d)).toEqual(['approval_mismatch']);
      expect(d.policyVersion).toBe(put.version);
      // Under the new version the call asks again, and a fresh approval works.
      const fresh = await ask(api, 900);
      expect(fresh.approvalId).not.toBe(approvalId);
      await approveAs(api, fresh.approvalId, KEYS.frank);
      expect(
        ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: fresh.approvalId }))).effect,
      ).toBe('allow');
    });

    it('an approval stays void when the set it was asked under comes back (A, then B, then A again)', async () => {
      // A probe: the approval, refused under B, was consumed and the call ran once A was active again.
      const { api } = await setup();
      const { decision, approvalId } = await ask(api, 900);
      await approveAs(api, approvalId, KEYS.frank);
      const original = examplePolicySource();
      const changed = examplePolicySource();
      changed.policies['agents.cedar'] += '\n// reviewed by the security team\n';
      expect(ok200(await api.put('/v1/policies', KEYS.admin, changed)).changed).toBe(true);
      const back = ok200(await api.put('/v1/policies', KEYS.admin, original));
      expect(back.version).toBe(decision.policyVersion);
      const d = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(d.effect).toBe('deny');
      expect(codes(d)).toEqual(['approval_voided']);
      expect(d.errors[0]!.message).toMatch(/another policy set was activated/);
      // Not consumed: the approval stays approved on record, and never runs a call again.
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin)).status).toBe('approved');
      expect(codes(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId }))))).toEqual([
        'approval_voided',
      ]);
      // The call asks again under A, and a fresh approval works.
      const fresh = await ask(api, 900);
      expect(fresh.approvalId).not.toBe(approvalId);
      await approveAs(api, fresh.approvalId, KEYS.frank);
      expect(
        ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: fresh.approvalId }))).effect,
      ).toBe('allow');
    });

    it('still denies with an approval when a forbid now matches (legal hold set after approval)', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api, 900);
      await approveAs(api, approvalId, KEYS.frank);
      ok200(
        await api.put('/v1/entities', KEYS.admin, {
          resources: [{ type: 'Customer', id: 'c-42', attributes: { tenant: 'acme' }, tags: ['legal_hold'] }],
        }),
      );
      const d = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(d.effect).toBe('deny');
      expect(reasonIds(d)).toContain('legal-hold');
    });
  });

  describe('who may approve', () => {
    it('refuses self-approval: alice (the user the agent acts for) cannot approve, even holding the role', async () => {
      const { t, api } = await setup({
        entities: (doc) => {
          doc.users.find((u) => u.id === 'alice')!.roles.push('finance-manager');
        },
        config: (c) => {
          c.apiKeys.push({
            name: 'alice-approver',
            secret: 'alice-approver-key',
            role: 'approver',
            subject: 'alice',
          });
        },
      });
      const { approvalId } = await ask(api);
      // alice holds the role, so the approval is in her inbox — but she cannot resolve it.
      expect(
        ok200(await api.get('/v1/approvals?status=pending', 'alice-approver-key')).items.map(
          (a: { id: string }) => a.id,
        ),
      ).toContain(approvalId);
      expectError(await api.approve(approvalId, 'alice-approver-key'), 403, 'self_approval');
      expectError(await api.deny(approvalId, 'alice-approver-key'), 403, 'self_approval');
      // Neither can the agent, through the service (no HTTP route lets an agent vote at all).
      await expect(
        t.m.approvals.vote(
          approvalId,
          { id: 'support-bot', roles: ['finance-manager'] },
          'approve',
          null,
          null,
        ),
      ).rejects.toMatchObject({ code: 'self_approval' });
      expectError(await api.approve(approvalId, KEYS.supportBot), 403, 'forbidden');
      // alice's own user key reaches the vote (users confirm `@approval("self")` calls) and is refused there.
      expectError(await api.approve(approvalId, KEYS.alice), 403, 'self_approval');
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin))).toMatchObject({
        status: 'pending',
        votes: [],
      });
      // Someone else with the role can.
      expect((await approveAs(api, approvalId, KEYS.frank)).status).toBe('approved');
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId }))).effect).toBe('allow');
    });

    it('@approval("self") on a call made for no user is denied at once (nobody could confirm it)', async () => {
      const { api } = await setup();
      const self = examplePolicySource();
      self.policies['agents.cedar'] = self.policies['agents.cedar']!.replace(
        '@approval("finance-manager")',
        '@approval("self")',
      );
      ok200(await api.put('/v1/policies', KEYS.admin, self));
      const { onBehalfOf: _none, ...forNobody } = refund(900);
      const d = ok200(await api.decide(KEYS.supportBot, forNobody));
      expect(d.effect).toBe('deny');
      expect(codes(d)).toEqual(['unknown_user']);
      expect(ok200(await api.get('/v1/approvals?status=pending', KEYS.admin)).items).toHaveLength(0);
      // The confirmation next to it: made for alice, it waits for alice.
      const forAlice = ok200(await api.decide(KEYS.supportBot, refund(900)));
      expect(forAlice.effect).toBe('approval_required');
      expect(forAlice.approval).toMatchObject({ role: 'self' });
    });

    it('a suspended approver reads nothing routed to them and approves nothing (403 user_suspended); restored, both again', async () => {
      // Found in review: the inbox of a suspended finance manager went on listing every pending
      // refund, args and all (their votes already stopped counting).
      const { api } = await setup();
      const { approvalId } = await ask(api, 900);
      const listed = (key: string) => api.get('/v1/approvals?status=pending', key);
      expect(ok200(await listed(KEYS.frank)).items.map((a: Json) => a.id)).toEqual([approvalId]);
      const frank = exampleEntities().users.find((u) => u.id === 'frank')!;
      ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank, status: 'suspended' }] }));
      expectError(await listed(KEYS.frank), 403, 'user_suspended');
      expectError(await api.get(`/v1/approvals/${approvalId}`, KEYS.frank), 403, 'user_suspended');
      expectError(await api.approve(approvalId, KEYS.frank), 403, 'user_suspended');
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin)).status).toBe('pending');
      ok200(await api.put('/v1/entities', KEYS.admin, { users: [frank] }));
      expect(ok200(await listed(KEYS.frank)).items.map((a: Json) => a.id)).toEqual([approvalId]);
      await approveAs(api, approvalId, KEYS.frank);
    });

    it('refuses an approver without the routed role, as GET refuses them (404 not_found)', async () => {
      const { api } = await setup();
      const { approvalId } = await ask(api);
      const wrong = await api.approve(approvalId, KEYS.hana);
      expectError(wrong, 404, 'not_found');
      // The role it is routed to is not told to an approver who may not see the approval.
      expect(wrong.text).not.toMatch(/finance-manager/);
      expect(ok200(await api.get(`/v1/approvals/${approvalId}`, KEYS.admin))).toMatchObject({
        status: 'pending',
        votes: [],
      });
      const d = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(codes(d)).toEqual(['approval_pending']);
      // hana does approve what is routed to her role.
      const hr = ok200(
        await api.decide(KEYS.hrBot, {
          agent: 'hr-bot',
          onBehalfOf: 'carol',
          action: 'hr.create_account',
          args: { employeeId: 'e-1001' },
        }),
      );
      expect(hr.approval!.role).toBe('hr-manager');
      expectError(await api.approve(hr.approval!.id, KEYS.frank), 404, 'not_found');
      expect((await approveAs(api, hr.approval!.id, KEYS.hana)).status).toBe('approved');
    });

    it('counts one person once toward a quorum of two (duplicate_approver)', async () => {
      const { api } = await setup();
      const four = examplePolicySource();
      four.policies['agents.cedar'] = four.policies['agents.cedar']!.replace(
        '@approval("finance-manager")',
        '@approval("finance-manager")\n@quorum("2")',
      );
      expect(ok200(await api.put('/v1/policies', KEYS.admin, four)).changed).toBe(true);
      const { decision, approvalId } = await ask(api);
      expect(decision.approval).toMatchObject({ role: 'finance-manager', quorum: 2 });

      const first = await approveAs(api, approvalId, KEYS.frank);
      expect(first).toMatchObject({ status: 'pending' });
      expect(first.votes).toHaveLength(1);
      expectError(await api.approve(approvalId, KEYS.frank), 409, 'duplicate_approver');
      const half = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(half.effect).toBe('deny');
      expect(codes(half)).toEqual(['approval_pending']);

      const second = await approveAs(api, approvalId, KEYS.fiona);
      expect(second.status).toBe('approved');
      expect(second.votes.map((v: { approver: string }) => v.approver)).toEqual(['frank', 'fiona']);
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId }))).effect).toBe('allow');
    });

    /** The example's policies, with refunds over 500 asking `annotations` of the user's evaluation too. */
    function userAsksToo(annotations: string) {
      const src = examplePolicySource();
      src.policies['users.cedar'] = src.policies['users.cedar']!.replace(
        'action in [Action::"crm.read_customer", Action::"payments.refund"]',
        'action == Action::"crm.read_customer"',
      );
      src.policies['refund-users.cedar'] = `
@id("user-refund-small")
permit (principal is User, action == Action::"payments.refund", resource is Customer)
when { principal.roles.contains("support") && context.args.amount <= 500 };

@id("user-refund-large")
${annotations}
permit (principal is User, action == Action::"payments.refund", resource is Customer)
when { principal.roles.contains("support") && context.args.amount > 500 };
`;
      return src;
    }

    it("the user's policy asking a quorum of two is met, not dropped for the agent's quorum of one", async () => {
      // A probe: only the agent's requirement was requested and checked; frank alone approved a
      // refund the user's own policy sent to two finance managers, and it ran.
      const { api } = await setup();
      ok200(
        await api.put('/v1/policies', KEYS.admin, userAsksToo('@approval("finance-manager")\n@quorum("2")')),
      );
      expect(ok200(await api.decide(KEYS.supportBot, refund(400))).effect).toBe('allow');
      const { decision, approvalId } = await ask(api);
      expect(decision.approval).toMatchObject({ role: 'finance-manager', quorum: 2 });
      expect((await approveAs(api, approvalId, KEYS.frank)).status).toBe('pending');
      expect(codes(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId }))))).toEqual([
        'approval_pending',
      ]);
      expect((await approveAs(api, approvalId, KEYS.fiona)).status).toBe('approved');
      const allowed = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(allowed.effect).toBe('allow');
      expect(reasonIds(allowed)).toEqual(
        expect.arrayContaining(['refund-large-needs-finance', 'user-refund-large']),
      );
    });

    it("the agent's and the user's policies asking different roles: denied, approval_conflict — never one of them", async () => {
      // A probe: @approval("self") on the user's side was dropped for the agent's finance manager
      // (and the other way round, alice's own click ran a refund two managers had to approve).
      const { t, api } = await setup();
      ok200(await api.put('/v1/policies', KEYS.admin, userAsksToo('@approval("self")')));
      expect(ok200(await api.decide(KEYS.supportBot, refund(400))).effect).toBe('allow');
      const denied = ok200(await api.decide(KEYS.supportBot, refund(900)));
      expect(denied.effect).toBe('deny');
      expect(codes(denied)).toEqual(['approval_conflict']);
      expect(denied.approval ?? null).toBeNull();
      expect(await t.m.store.listApprovals({ status: 'pending' })).toEqual([]);
      // A dry run says the same; it would request nothing.
      const dry = await t.m.decisions.decide(
        refund(900) as never,
        { role: 'agent', subject: 'support-bot', keyId: 'key_demo-support-bot' },
        { dryRun: true },
      );
      expect(dry.decision.effect).toBe('deny');
      expect(dry.decision.errors.map((e) => e.code)).toEqual(['approval_conflict']);
    });

    it('counts one person once through the service too (duplicate_approver)', async () => {
      const { t, api } = await setup();
      const four = examplePolicySource();
      four.policies['agents.cedar'] = four.policies['agents.cedar']!.replace(
        '@approval("finance-manager")',
        '@approval("finance-manager")\n@quorum("2")',
      );
      ok200(await api.put('/v1/policies', KEYS.admin, four));
      const { approvalId } = await ask(api);
      const frank = { id: 'frank', roles: ['finance-manager'] };
      expect((await t.m.approvals.vote(approvalId, frank, 'approve', null, null)).status).toBe('pending');
      await expect(t.m.approvals.vote(approvalId, frank, 'approve', null, null)).rejects.toMatchObject({
        code: 'duplicate_approver',
      });
      expect((await t.m.approvals.get(approvalId))!.votes).toHaveLength(1);
    });
  });

  describe('approval flooding', () => {
    it('past approvals.maxPendingPerAgent the agent gets approval_backlog instead of another request', async () => {
      const { api } = await setup({ config: (c) => (c.approvals.maxPendingPerAgent = 3) });
      const ids = [];
      for (const amount of [501, 502, 503]) ids.push((await ask(api, amount)).approvalId);
      // The same call again is the same approval, not a new one.
      expect((await ask(api, 501)).approvalId).toBe(ids[0]);
      const flooded = ok200(await api.decide(KEYS.supportBot, refund(504)));
      expect(flooded.effect).toBe('deny');
      expect(codes(flooded)).toEqual(['approval_backlog']);
      expect(flooded.approval).toBeUndefined();
      expect(
        (ok200(await api.get('/v1/approvals?status=pending', KEYS.frank)).items as unknown[]).length,
      ).toBe(3);
      // Another agent is not blocked by support-bot's backlog.
      const hr = ok200(
        await api.decide(KEYS.hrBot, {
          agent: 'hr-bot',
          onBehalfOf: 'carol',
          action: 'hr.create_account',
          args: { employeeId: 'e-1001' },
        }),
      );
      expect(hr.effect).toBe('approval_required');
      // Once one is resolved there is room again.
      expect((await api.deny(ids[1]!, KEYS.frank)).status).toBe(200);
      expect(ok200(await api.decide(KEYS.supportBot, refund(504))).effect).toBe('approval_required');
    });

    it("one user's backlog (approvals.maxPendingPerAgentUser) does not refuse the agent's calls for another user", async () => {
      const { api } = await setup({
        config: (c) => {
          c.approvals.maxPendingPerAgentUser = 2;
          c.approvals.maxPendingPerAgent = 3;
        },
      });
      expect(
        (
          await api.post('/v1/grants', KEYS.admin, {
            user: 'dave',
            agent: 'support-bot',
            actions: ['payments.refund'],
          })
        ).status,
      ).toBe(201);
      const forDave = (amount: number) => ({ ...refund(amount), onBehalfOf: 'dave' });
      for (const amount of [501, 502]) await ask(api, amount);
      const alice = ok200(await api.decide(KEYS.supportBot, refund(503)));
      expect(codes(alice)).toEqual(['approval_backlog']);
      // dave's call still reaches an approver …
      expect(ok200(await api.decide(KEYS.supportBot, forDave(501))).effect).toBe('approval_required');
      // … until support-bot's cap in all.
      const full = ok200(await api.decide(KEYS.supportBot, forDave(502)));
      expect(full.effect).toBe('deny');
      expect(codes(full)).toEqual(['approval_backlog']);
    });
  });

  describe('grants', () => {
    it('denies the next decision after alice revokes her grant (grant_revoked); others cannot revoke it', async () => {
      const { api } = await setup();
      const allowed = ok200(await api.decide(KEYS.supportBot, refund(120)));
      expect(allowed.effect).toBe('allow');
      const grantId = allowed.grantId!;

      expectError(await api.del(`/v1/grants/${grantId}`, KEYS.supportBot), 403, 'forbidden');
      expectError(await api.del(`/v1/grants/${grantId}`, KEYS.frank), 403, 'forbidden');
      const bobs = ok200(await api.get('/v1/grants?user=bob', KEYS.admin)).items[0].id as string;
      expectError(await api.del(`/v1/grants/${bobs}`, KEYS.alice), 404, 'not_found');
      expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

      expect(ok200(await api.del(`/v1/grants/${grantId}`, KEYS.alice))).toEqual({ revoked: [grantId] });
      const denied = ok200(await api.decide(KEYS.supportBot, refund(120)));
      expect(denied.effect).toBe('deny');
      expect(codes(denied)).toEqual(['grant_revoked']);
      // alice sees it revoked; it is gone from the live list.
      expect(
        ok200(await api.get('/v1/grants', KEYS.alice)).items.map((g: { id: string }) => g.id),
      ).not.toContain(grantId);
      const all = ok200(await api.get('/v1/grants?includeRevoked=true', KEYS.alice)).items as {
        id: string;
        revokedAt: string | null;
      }[];
      expect(all.find((g) => g.id === grantId)!.revokedAt).not.toBeNull();
    });

    it('a user or agent asking for someone else’s grants is refused, not answered with its own', async () => {
      const { api } = await setup();
      expectError(await api.get('/v1/grants?user=bob', KEYS.alice), 403, 'forbidden');
      expectError(await api.get('/v1/grants?agent=trade-bot', KEYS.supportBot), 403, 'forbidden');
      // Their own, named or not, as before.
      const own = ok200(await api.get('/v1/grants?user=alice', KEYS.alice)).items as { user: string }[];
      expect(own.length).toBeGreaterThan(0);
      expect(new Set(own.map((g) => g.user))).toEqual(new Set(['alice']));
      expect(ok200(await api.get('/v1/grants', KEYS.alice)).items).toEqual(own);
      expect(
        ok200(await api.get('/v1/grants?agent=support-bot', KEYS.supportBot)).items.length,
      ).toBeGreaterThan(0);
    });

    it('an expiresAt that is not a time, or more than 100 years away (as expiresIn), is refused', async () => {
      const { api } = await setup();
      const grant = (expiresAt: string) =>
        api.post('/v1/grants', KEYS.alice, {
          agent: 'support-bot',
          actions: ['crm.read_customer'],
          expiresAt,
        });
      const bad = await grant('2026-13-45T00:00:00Z');
      expectError(bad, 400, 'bad_request');
      expect(bad.text).toMatch(/is not a time/);
      // An expanded year (+275760-…) is not taken at all now: a time in 2200 is past the bound.
      const far = await grant('2200-01-01T00:00:00Z');
      expectError(far, 400, 'bad_request');
      expect(far.text).toMatch(/more than 100 years away/);
      expect((await grant(new Date(Date.now() + 365 * 86_400_000).toISOString())).status).toBe(201);
    });

    it('lets an admin revoke a grant too', async () => {
      const { api } = await setup();
      const grantId = ok200(await api.decide(KEYS.supportBot, refund(120))).grantId!;
      expect(ok200(await api.del(`/v1/grants/${grantId}`, KEYS.admin)).revoked).toEqual([grantId]);
      expect(codes(ok200(await api.decide(KEYS.supportBot, refund(120))))).toEqual(['grant_revoked']);
    });

    it('denies once a grant expires (grant_expired), with a manual clock', async () => {
      const clock = createManualClock(Date.parse('2026-01-05T10:00:00Z'));
      const { api } = await setup({ clock });
      const read = {
        agent: 'support-bot',
        onBehalfOf: 'dave',
        action: 'crm.read_customer',
        args: { customerId: 'c-42' },
      };
      expect(codes(ok200(await api.decide(KEYS.supportBot, read)))).toEqual(['no_grant']);
      const res = await api.post('/v1/grants', KEYS.admin, {
        user: 'dave',
        agent: 'support-bot',
        actions: ['crm.read_customer'],
        expiresIn: '1h',
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        user: 'dave',
        agent: 'support-bot',
        createdBy: 'admin:key_demo-admin',
        expiresAt: '2026-01-05T11:00:00.000Z',
      });
      clock.advance(3_600_000 - 1000);
      const inTime = ok200(await api.decide(KEYS.supportBot, read));
      expect(inTime.effect).toBe('allow');
      expect(inTime.grantId).toBe(res.body.id);
      clock.advance(2000);
      const late = ok200(await api.decide(KEYS.supportBot, read));
      expect(late.effect).toBe('deny');
      expect(codes(late)).toEqual(['grant_expired']);
    });

    it('attenuates sub-agent grants: wider is grant_exceeded, narrower works, revoking the parent revokes the child', async () => {
      const { api } = await setup(WITH_REFUND_HELPER);
      const parent = ok200(await api.get('/v1/grants?user=alice&agent=support-bot', KEYS.admin)).items[0] as {
        id: string;
        expiresAt: string;
      };
      const limit = (value: number) => [{ action: 'payments.refund', arg: 'amount', op: '<=', value }];
      const sub = (over: Record<string, unknown>) => ({
        agent: 'refund-helper',
        parentId: parent.id,
        actions: ['payments.refund'],
        limits: limit(200),
        expiresIn: '1h',
        ...over,
      });

      for (const wider of [
        sub({ actions: ['payments.*'] }),
        sub({ actions: ['payments.refund', 'trade.place_order'] }),
        sub({ limits: limit(20_000) }),
        sub({ expiresIn: '2y' }),
      ]) {
        const res = await api.post('/v1/grants', KEYS.supportBot, wider);
        expectError(res, 403, 'grant_exceeded');
        expect(res.body.error.details.length).toBeGreaterThan(0);
      }
      // Only the agent holding the grant may pass it on (to another agent it is a grant it cannot
      // see: 404, as the other grant routes answer), and an agent passes on only what it holds.
      expectError(await api.post('/v1/grants', KEYS.tradeBot, sub({})), 404, 'not_found');
      expectError(
        await api.post('/v1/grants', KEYS.supportBot, { ...sub({}), parentId: undefined }),
        403,
        'forbidden',
      );
      // A body naming another user than the parent's is refused (it was silently replaced by alice).
      const bob = await api.post('/v1/grants', KEYS.supportBot, sub({ user: 'bob' }));
      expectError(bob, 403, 'forbidden');
      expect(bob.body.error.message).toMatch(/its parent's user/);
      expect(ok200(await api.get('/v1/grants?agent=refund-helper', KEYS.admin)).items).toEqual([]);
      // A sub-grant that names no limit inherits the parent's limit on its action (issue 9 §4).
      const inheriting = await api.post('/v1/grants', KEYS.supportBot, sub({ limits: [] }));
      expect(inheriting.status, inheriting.text).toBe(201);
      expect(inheriting.body.limits).toEqual(limit(10_000));
      ok200(await api.del(`/v1/grants/${inheriting.body.id}`, KEYS.admin));

      const created = await api.post('/v1/grants', KEYS.supportBot, sub({}));
      expect(created.status, created.text).toBe(201);
      const child = created.body as { id: string; user: string; parentId: string; createdBy: string };
      expect(child).toMatchObject({ user: 'alice', parentId: parent.id, createdBy: 'agent:support-bot' });

      const helperRefund = (amount: number) => ({ ...refund(amount), agent: 'refund-helper' });
      const ok = ok200(await api.decide(REFUND_HELPER_KEY, helperRefund(120)));
      expect(ok.effect).toBe('allow');
      expect(ok.grantId).toBe(child.id);
      const over = ok200(await api.decide(REFUND_HELPER_KEY, helperRefund(300)));
      expect(over.effect).toBe('deny');
      expect(codes(over)).toEqual(['grant_exceeded']);
      const read = ok200(
        await api.decide(REFUND_HELPER_KEY, {
          agent: 'refund-helper',
          onBehalfOf: 'alice',
          action: 'crm.read_customer',
          args: { customerId: 'c-42' },
        }),
      );
      expect(codes(read)).toEqual(['no_grant']);
      const decided = ok200(await api.get(`/v1/decisions/${ok.decisionId}`, KEYS.admin));
      expect(decided.grantId).toBe(child.id);

      const revoked = ok200(await api.del(`/v1/grants/${parent.id}`, KEYS.alice)).revoked as string[];
      expect(revoked.sort()).toEqual([parent.id, child.id].sort());
      const after = ok200(await api.decide(REFUND_HELPER_KEY, helperRefund(120)));
      expect(after.effect).toBe('deny');
      expect(codes(after)).toEqual(['grant_revoked']);
      expect(codes(ok200(await api.decide(KEYS.supportBot, refund(120))))).toEqual(['grant_revoked']);
      // A revoked parent cannot be passed on any more.
      expectError(await api.post('/v1/grants', KEYS.supportBot, sub({})), 403, 'grant_revoked');
    });
  });

  describe('durability and the audit story', () => {
    it('keeps approvals across a restart: ask, restart, approve, consume', async () => {
      const first = await setup();
      const { approvalId } = await ask(first.api);
      await first.t.close();

      const t2 = await createTestMandate({ reuse: first.t });
      const api2 = client(t2.url);
      const pending = ok200(await api2.get('/v1/approvals?status=pending', KEYS.frank)).items.map(
        (a: { id: string }) => a.id,
      );
      expect(pending).toContain(approvalId);
      await approveAs(api2, approvalId, KEYS.frank);
      await t2.close();

      const t3 = await createTestMandate({ reuse: first.t });
      const api3 = client(t3.url);
      const d = ok200(await api3.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(d.effect).toBe('allow');
      const replay = ok200(await api3.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(codes(replay)).toEqual(['approval_consumed']);
      // Restarts did not pile up seeded grants, and the one chain still verifies.
      expect(ok200(await api3.get('/v1/grants?user=alice&agent=support-bot', KEYS.admin)).items).toHaveLength(
        1,
      );
      expect(ok200(await api3.get('/v1/audit/verify', KEYS.admin)).ok).toBe(true);
    });

    it('links grant and approval events to their decisions in one verifying chain', async () => {
      const { api } = await setup();
      const grant = await api.post('/v1/grants', KEYS.admin, {
        user: 'dave',
        agent: 'support-bot',
        actions: ['crm.*'],
        expiresIn: '1d',
      });
      expect(grant.status).toBe(201);
      const { decision, approvalId } = await ask(api);
      await approveAs(api, approvalId, KEYS.frank);
      const used = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId })));
      expect(used.effect).toBe('allow');
      ok200(await api.del(`/v1/grants/${grant.body.id}`, KEYS.admin));

      const items = ok200(await api.get('/v1/audit?limit=1000', KEYS.admin)).items as {
        seq: number;
        event: Record<string, Json>;
      }[];
      const of = (type: string) => items.filter((i) => i.event.type === type);
      const byApproval = (type: string) => of(type).filter((i) => i.event.data.approvalId === approvalId);

      expect(of('grant.created').find((i) => i.event.data.grantId === grant.body.id)?.event).toMatchObject({
        user: 'dave',
        agent: 'support-bot',
      });
      expect(
        of('grant.revoked').find((i) => i.event.data.grantId === grant.body.id)?.event.data.revoked,
      ).toEqual([grant.body.id]);

      const [asked] = of('decision').filter((i) => i.event.decisionId === decision.decisionId);
      const [requested] = byApproval('approval.requested');
      const [approved] = byApproval('approval.approved');
      const [consumed] = byApproval('approval.consumed');
      const [allowed] = of('decision').filter((i) => i.event.decisionId === used.decisionId);
      expect(asked!.event).toMatchObject({ effect: 'approval_required', data: { approvalId } });
      expect(requested!.event).toMatchObject({
        decisionId: decision.decisionId,
        data: { role: 'finance-manager' },
      });
      expect(approved!.event).toMatchObject({
        decisionId: decision.decisionId,
        data: { approver: 'frank', status: 'approved' },
      });
      expect(consumed!.event).toMatchObject({
        decisionId: used.decisionId,
        data: { requestedBy: decision.decisionId },
      });
      expect(allowed!.event).toMatchObject({ effect: 'allow', data: { approvalId } });
      // The call hash is the same at every step of the story.
      const hashes = new Set([requested, approved, consumed].map((i) => i!.event.data.callHash));
      expect(hashes.size).toBe(1);
      // In the order they happened.
      const order = [requested!.seq, approved!.seq, consumed!.seq, allowed!.seq];
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(asked!.seq).toBeGreaterThan(requested!.seq);

      const verify = ok200(await api.get('/v1/audit/verify', KEYS.admin));
      // One more than the query returned: the query itself is on the trail (audit.read).
      expect(verify).toMatchObject({ ok: true, records: items.length + 1 });
    });
  });
});
