import { afterEach, describe, expect, it } from 'vitest';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  examplePolicySource,
  type StoreKind,
} from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, ok200, reasonIds, refund } from '../fixtures/http.js';

afterEach(disposeAll);

const AGENT = { role: 'agent', subject: 'support-bot', keyId: 'key_demo-support-bot' } as const;

/**
 * The example's policies with refunds over 500 asking two finance managers, plus `refund-ack`: a
 * refund that carries an intent (which the agent writes) asks `ackRole` — the probe's set, where
 * the lowest policy id ("refund-ack") took the route and alice's own click ran a refund two finance
 * managers had to approve.
 */
function withAck(ackRole: string) {
  const src = examplePolicySource();
  src.policies['agents.cedar'] = src.policies['agents.cedar']!.replace(
    '@approval("finance-manager")\n',
    '@approval("finance-manager")\n@quorum("2")\n',
  );
  src.policies['ack.cedar'] = `
@id("refund-ack")
@reason("a refund with a stated intent is confirmed")
@approval("${ackRole}")
permit (principal is Agent, action == Action::"payments.refund", resource is Customer)
when { context has onBehalfOf && context has intent };
`;
  return src;
}

describe.each(durableStoreKinds())('approval routes of one principal on %s', (kind: StoreKind) => {
  async function setup() {
    const t = await createTestMandate({ store: kind });
    return { t, api: client(t.url) };
  }

  it('an intent the agent adds cannot move a refund from two finance managers to the user: approval_conflict', async () => {
    const { t, api } = await setup();
    ok200(await api.put('/v1/policies', KEYS.admin, withAck('self')));
    const asked = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(asked.effect).toBe('approval_required');
    expect(asked.approval).toMatchObject({ role: 'finance-manager', quorum: 2 });

    const steered = ok200(await api.decide(KEYS.supportBot, refund(900, { intent: 'customer asked' })));
    expect(steered.effect).toBe('deny');
    expect(codes(steered)).toEqual(['approval_conflict', 'approval_conflict']);
    expect(steered.errors.map((e) => e.message)).toEqual([
      `agent policy refund-ack: @approval("self") conflicts with refund-large-needs-finance @approval("finance-manager"), which also applies to this call: one call is approved by one role, so it is denied — make the permits' conditions exclusive, or have them ask the same role`,
      `agent policy refund-large-needs-finance: @approval("finance-manager") conflicts with refund-ack @approval("self"), which also applies to this call: one call is approved by one role, so it is denied — make the permits' conditions exclusive, or have them ask the same role`,
    ]);
    expect(steered.approval ?? null).toBeNull();
    // Nothing was put in alice's inbox: only the first call's approval waits.
    const pending = await t.m.store.listApprovals({ status: 'pending' });
    expect(pending.map((a) => a.role)).toEqual(['finance-manager']);
    expect(ok200(await api.get('/v1/approvals?status=pending', KEYS.alice)).items).toEqual([]);
    // A dry run says the same.
    const dry = await t.m.decisions.decide(refund(900, { intent: 'customer asked' }) as never, AGENT, {
      dryRun: true,
    });
    expect(dry.decision.effect).toBe('deny');
    expect(dry.decision.errors.map((e) => e.code)).toEqual(['approval_conflict', 'approval_conflict']);
    // The plain permit for small refunds still allows, intent or not: nothing is asked.
    expect(ok200(await api.decide(KEYS.supportBot, refund(400, { intent: 'customer asked' }))).effect).toBe(
      'allow',
    );
  });

  it('two permits asking one role: the higher quorum holds whatever the ids, and both are the reasons', async () => {
    const { api } = await setup();
    ok200(await api.put('/v1/policies', KEYS.admin, withAck('finance-manager')));
    const asked = ok200(await api.decide(KEYS.supportBot, refund(900, { intent: 'customer asked' })));
    expect(asked.effect).toBe('approval_required');
    // "refund-ack" (quorum 1) sorts first; it took the route and one finance manager sufficed.
    expect(asked.approval).toMatchObject({ role: 'finance-manager', quorum: 2 });
    const approvalId = asked.approval!.id;
    expect(ok200(await api.approve(approvalId, KEYS.frank)).status).toBe('pending');
    const early = ok200(
      await api.decide(KEYS.supportBot, refund(900, { intent: 'customer asked', approvalId })),
    );
    expect(early.effect).toBe('deny');
    expect(codes(early)).toEqual(['approval_pending']);
    expect(ok200(await api.approve(approvalId, KEYS.fiona)).status).toBe('approved');
    const allowed = ok200(
      await api.decide(KEYS.supportBot, refund(900, { intent: 'customer asked', approvalId })),
    );
    expect(allowed.effect).toBe('allow');
    expect(reasonIds(allowed)).toEqual(expect.arrayContaining(['refund-ack', 'refund-large-needs-finance']));
  });

  it('a misspelt @approval is refused by PUT /v1/policies and by validate, not activated as a plain permit', async () => {
    const { api } = await setup();
    const typo = withAck('finance-manager');
    typo.policies['ack.cedar'] = typo.policies['ack.cedar']!.replace('@approval(', '@Approval(');
    const put = await api.put('/v1/policies', KEYS.admin, typo);
    expectError(put, 422, 'policy_invalid');
    expect(put.body.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: 'ack.cedar',
          policyId: 'refund-ack',
          message: expect.stringMatching(/^@Approval is not a Mandate annotation but looks like @approval/),
        }),
      ]),
    );
    const validated = ok200(await api.post('/v1/policies/validate', KEYS.admin, typo));
    expect(validated).toMatchObject({ ok: false, problems: [{ policyId: 'refund-ack' }] });
    // The example set is still the active one: a refund with an intent still asks a finance manager.
    const still = ok200(await api.decide(KEYS.supportBot, refund(900, { intent: 'customer asked' })));
    expect(still.effect).toBe('approval_required');
  });
});
