// A retry (same Idempotency-Key) of an allowed call that filled a budget or a rate gets its recorded
// allow back: the replay check counts the call's own charge once, not twice. A probe found the
// retry denied `refund-daily-budget` (value 2000 already holding the call's 100, plus 100 again),
// so the SDK's retry after a lost answer never ran a tool the store had charged.
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { disposeAll, durableStoreKinds, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, ok200, refund, type Client } from '../fixtures/http.js';
import { BUDGET_POLICIES, budgetServer, read } from './helpers.js';

afterEach(disposeAll);

describe.each(durableStoreKinds())('a retry of an allow that filled a counter (%s)', (store) => {
  const setup = () => budgetServer(store);
  const withKey = (api: Client, key: string, body: Record<string, unknown>) =>
    api.request<Decision>('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      json: body,
      headers: { 'idempotency-key': key },
    });
  const refundTotal = async (api: Client) =>
    (await api.get('/v1/usage?name=refundTotalToday&user=alice', KEYS.admin)).body.items[0].value as number;
  const expectBudgetDeny = (d: Decision) => {
    expect(d.effect).toBe('deny');
    expect(new Set(d.reasons.map((r) => r.policyId))).toEqual(new Set(['refund-daily-budget']));
  };
  async function spend(api: Client, amounts: number[]) {
    for (const a of amounts) expect(ok200(await api.decide(KEYS.supportBot, refund(a))).effect).toBe('allow');
  }

  it('the call that fills the budget is replayed as allowed; a new call past it is denied', async () => {
    const { api } = await setup();
    await spend(api, [500, 500, 500, 400]);
    const first = ok200(await withKey(api, 'k-fill', refund(100)));
    expect(first.effect).toBe('allow');
    expect(await refundTotal(api)).toBe(2000);

    const retry = await withKey(api, 'k-fill', refund(100));
    expect(ok200(retry)).toStrictEqual(first);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await refundTotal(api)).toBe(2000);
    // The deny next to it: another refund of the same amount is past the budget.
    const next = ok200(await withKey(api, 'k-next', refund(100)));
    expectBudgetDeny(next);
    expect(await refundTotal(api)).toBe(2000);
  });

  it('decided afresh and denied once a stricter budget is active', async () => {
    const { api } = await setup();
    await spend(api, [500, 500, 500, 400]);
    expect(ok200(await withKey(api, 'k-strict', refund(100))).effect).toBe('allow');
    const strict = examplePolicySource();
    strict.policies['budgets.cedar'] = BUDGET_POLICIES.replace('TodayAfter <= 2000', 'TodayAfter <= 1999');
    ok200(await api.put('/v1/policies', KEYS.admin, strict));
    const retry = await withKey(api, 'k-strict', refund(100));
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expectBudgetDeny(ok200(retry));
  });

  it('in the next window its charge is not there to leave out: a retry into a full new day is denied', async () => {
    const { api, clock } = await setup();
    clock.set(Date.parse('2026-03-02T23:30:00Z'));
    await spend(api, [500, 500, 500, 400]);
    expect(ok200(await withKey(api, 'k-midnight', refund(100))).effect).toBe('allow');
    clock.set(Date.parse('2026-03-03T00:10:00Z'));
    await spend(api, [500, 500, 500, 500]);
    const retry = await withKey(api, 'k-midnight', refund(100));
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expectBudgetDeny(ok200(retry));
  });

  it('the read that reaches the rate is replayed as allowed', async () => {
    const { api } = await setup();
    for (let i = 0; i < 59; i++) expect(ok200(await api.decide(KEYS.supportBot, read)).effect).toBe('allow');
    const first = ok200(await withKey(api, 'k-60th', read));
    expect(first.effect).toBe('allow');
    const retry = await withKey(api, 'k-60th', read);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(ok200(retry)).toStrictEqual(first);
    expect(ok200(await api.decide(KEYS.supportBot, read)).effect).toBe('deny');
  });

  it('an approved call that fills the budget, re-submitted with its approval, is replayed as allowed', async () => {
    const { api } = await setup();
    await spend(api, [500, 500, 300]);
    const ask = ok200(await api.decide(KEYS.supportBot, refund(700)));
    expect(ask.effect).toBe('approval_required');
    expect((await api.approve(ask.approval!.id, KEYS.frank)).status).toBe(200);
    const body = refund(700, { approvalId: ask.approval!.id });
    const first = ok200(await withKey(api, 'k-approved', body));
    expect(first.effect).toBe('allow');
    expect(await refundTotal(api)).toBe(2000);
    const retry = await withKey(api, 'k-approved', body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(ok200(retry)).toStrictEqual(first);
  });
});
