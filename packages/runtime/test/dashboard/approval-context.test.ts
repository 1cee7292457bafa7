// Issue 11 §1: an approver's inbox item shows the policy and `@reason` that asked for approval and
// the recent history of that agent for that user — to whoever may see the approval, and no one else.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { browserRequest, signIn } from './helpers.js';

afterAll(disposeAll);

describe.each(durableStoreKinds())('approval policy and history (%s)', (store) => {
  it('shows frank the asking policy, its reason and alice’s agent’s history; hides both from others', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    const small = await api.decide(KEYS.supportBot, refund(120));
    expect(small.body.effect, small.text).toBe('allow');
    // The same agent for another user: not part of alice's history.
    const forBob = await api.decide(KEYS.supportBot, refund(130, { onBehalfOf: 'bob' }));
    const big = await api.decide(KEYS.supportBot, refund(900));
    expect(big.body.effect, big.text).toBe('approval_required');
    const id = big.body.approval!.id;

    const frank = await signIn(t.url, KEYS.frank);
    const one = await browserRequest(t.url, frank, 'GET', `/v1/approvals/${id}`);
    expect(one.status, one.text).toBe(200);
    expect(one.body.policy).toEqual({
      id: 'refund-large-needs-finance',
      reason: "refunds over 500 need a finance manager's approval",
    });
    const list = await browserRequest(t.url, frank, 'GET', '/v1/approvals?status=pending');
    expect(list.body.items.find((a: { id: string }) => a.id === id).policy.id).toBe(
      'refund-large-needs-finance',
    );

    const history = await browserRequest(t.url, frank, 'GET', `/v1/approvals/${id}/history`);
    expect(history.status, history.text).toBe(200);
    const ids = history.body.items.map((h: { decisionId: string }) => h.decisionId);
    // Newest first: the call waiting for approval, then the small refund; never bob's.
    expect(ids).toEqual([big.body.decisionId, small.body.decisionId]);
    expect(ids).not.toContain(forBob.body.decisionId);
    expect(history.body.items[0]).toMatchObject({
      action: 'payments.refund',
      effect: 'approval_required',
      policies: expect.arrayContaining(['refund-large-needs-finance']),
    });
    expect(typeof history.body.items[0].time).toBe('string');
    // Amount-free: a summary, not the args.
    expect(history.text).not.toMatch(/\b900\b/);
    expect(history.text).not.toContain('"args"');
    const limited = await browserRequest(t.url, frank, 'GET', `/v1/approvals/${id}/history?limit=1`);
    expect(limited.body.items.map((h: { decisionId: string }) => h.decisionId)).toEqual([
      big.body.decisionId,
    ]);

    // The audit itself stays closed to an approver.
    expectError(await browserRequest(t.url, frank, 'GET', '/v1/audit'), 403, 'forbidden');

    // An approver of another role sees neither the approval nor its history.
    const hana = await signIn(t.url, KEYS.hana);
    expectError(await browserRequest(t.url, hana, 'GET', `/v1/approvals/${id}`), 404, 'not_found');
    expectError(await browserRequest(t.url, hana, 'GET', `/v1/approvals/${id}/history`), 404, 'not_found');

    // An agent key: its own approval's history, not another agent's.
    const own = await api.get(`/v1/approvals/${id}/history`, KEYS.supportBot);
    expect(own.status, own.text).toBe(200);
    expect(own.body.items.length).toBe(2);
    expectError(await api.get(`/v1/approvals/${id}/history`, KEYS.hrBot), 404, 'not_found');
    expectError(await api.get(`/v1/approvals/${id}`, KEYS.hrBot), 404, 'not_found');
  });
});
