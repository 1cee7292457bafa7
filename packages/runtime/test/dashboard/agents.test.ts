// Issue 11: suspend and resume an agent from the dashboard — one route per verb, the same store
// call and audit record as PUT /v1/entities; the next decision follows at once.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, refund } from '../fixtures/http.js';
import { browserRequest, signIn } from './helpers.js';

afterAll(disposeAll);

describe('POST /v1/agents/:id/suspend and /resume', () => {
  it('an admin suspends an agent (its next decision is denied) and resumes it; recorded as entities.updated', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const admin = await signIn(t.url, KEYS.admin);
    const attrs = (await t.m.store.getAgent('support-bot'))!.attributes;

    const s = await browserRequest(t.url, admin, 'POST', '/v1/agents/support-bot/suspend');
    expect(s.status, s.text).toBe(200);
    expect(s.body).toMatchObject({ id: 'support-bot', status: 'suspended' });
    const denied = await api.decide(KEYS.supportBot, refund(10));
    expect(denied.body.effect).toBe('deny');
    expect(codes(denied.body)).toContain('agent_suspended');
    // Nothing else about the agent changed.
    expect((await t.m.store.getAgent('support-bot'))!.attributes).toEqual(attrs);
    const events = await t.m.store.queryAudit({ type: 'entities.updated', limit: 100 });
    const last = JSON.parse(events.at(-1)!.eventText);
    expect(last.data.agents).toEqual([{ id: 'support-bot', status: 'suspended' }]);
    expect(typeof last.data.by).toBe('string');

    const r = await browserRequest(t.url, admin, 'POST', '/v1/agents/support-bot/resume');
    expect(r.body).toMatchObject({ id: 'support-bot', status: 'active' });
    expect((await api.decide(KEYS.supportBot, refund(10))).body.effect).toBe('allow');
  });

  it('refuses an approver, a user, a request without the CSRF token, and an unknown agent', async () => {
    const t = await createTestMandate();
    const frank = await signIn(t.url, KEYS.frank);
    expectError(
      await browserRequest(t.url, frank, 'POST', '/v1/agents/support-bot/suspend'),
      403,
      'forbidden',
    );
    expectError(await client(t.url).post('/v1/agents/support-bot/suspend', KEYS.alice), 403, 'forbidden');
    const admin = await signIn(t.url, KEYS.admin);
    expectError(
      await browserRequest(t.url, admin, 'POST', '/v1/agents/support-bot/suspend', { csrf: false }),
      403,
      'csrf',
    );
    expectError(
      await browserRequest(t.url, admin, 'POST', '/v1/agents/nobody/suspend'),
      404,
      'unknown_agent',
    );
    expect((await t.m.store.getAgent('support-bot'))!.status).toBe('active');
  });
});
