// Issue 9 §1: refused attempts leave a trace in the audit trail, and a flood of bad tokens grows it
// by one event per window, not one per request.
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createTestMandate, disposeAll, examplePolicySource, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund, type Json } from '../fixtures/http.js';

afterAll(disposeAll);

async function events(t: TestMandate, type: string): Promise<AuditEvent[]> {
  const recs = await t.m.store.queryAudit({ type, limit: 1000 });
  return recs.map((r) => JSON.parse(r.eventText) as AuditEvent);
}

const refusedWith = async (t: TestMandate, code: string) =>
  (await events(t, 'request.refused')).filter((e) => e.data.code === code);

describe('refused attempts are recorded', () => {
  it('an agent key asking as another agent: 403 and a request.refused event under the decision id it answers', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const r = await api.decide(KEYS.tradeBot, refund(10));
    expectError(r, 403, 'agent_mismatch');
    const [ev] = await refusedWith(t, 'agent_mismatch');
    // Filed under the agent that asked (a probe found it under the one it impersonated, so a SIEM
    // filtering on trade-bot never saw the attempt); the agent it named is beside it.
    expect(ev).toMatchObject({
      agent: 'trade-bot',
      action: 'payments.refund',
      decisionId: (r.body as Json).error.decisionId,
      data: {
        claimedAgent: 'support-bot',
        route: 'decision',
        caller: { role: 'agent', subject: 'trade-bot', keyId: 'key_demo-trade-bot' },
      },
    });
    expect((r.body as Json).error.decisionId).toMatch(/^dec_/);
  });

  it('a refused number is recorded without its value: it may be a secret under any key', async () => {
    const t = await createTestMandate();
    const res = await fetch(`${t.url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.supportBot}`, 'content-type': 'application/json' },
      body: `{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":10,"password":123456789012345678901234567890}}`,
    });
    expect(res.status).toBe(400);
    // The caller is told which number, so it can fix it; the hashed record is not.
    expect(await res.text()).toContain('123456789012345678901234567890');
    const [ev] = await refusedWith(t, 'invalid_number');
    expect(ev!.data.reason).toBe('args.password: a number that is an integer beyond ±(2^53−1)');
    const stored = await t.m.store.queryAudit({ type: 'request.refused', limit: 10 });
    expect(stored.some((r) => r.eventText.includes('1234567890123'))).toBe(false);
  });

  it('a key the caller sent is not recorded: a duplicated one, one undeclared inside a declared record', async () => {
    const t = await createTestMandate();
    const secretKey = 'sk_live_LEAKDUP16abcdefgh';
    const res = await fetch(`${t.url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.supportBot}`, 'content-type': 'application/json' },
      body: `{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":10,"${secretKey}":1,"${secretKey}":2}}`,
    });
    expect(res.status).toBe(400);
    // The caller is told which key; the hashed record is not.
    expect(await res.text()).toContain(secretKey);
    const [ev] = await refusedWith(t, 'duplicate_key');
    expect(ev!.data.reason).toBe('a key named twice in one JSON object');
    const stored = await t.m.store.queryAudit({ type: 'request.refused', limit: 10 });
    expect(stored.some((r) => r.eventText.includes('LEAKDUP16'))).toBe(false);
  });

  it('args refused as invalid: 400 invalid_args recorded with a decision id', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const r = await api.decide(KEYS.supportBot, {
      ...refund(10),
      args: { customerId: 'c-42', amount: 'ten' },
    });
    expectError(r, 400, 'invalid_args');
    const [ev] = await refusedWith(t, 'invalid_args');
    expect(ev?.decisionId).toBe((r.body as Json).error.decisionId);
    expect(ev?.data.caller).toMatchObject({ subject: 'support-bot' });
    // A valid call is a decision, not a refusal.
    expect((await api.decide(KEYS.supportBot, refund(10))).status).toBe(200);
    expect(await events(t, 'request.refused')).toHaveLength(1);
  });

  it('a self-approval and an approval by the wrong role are recorded with the route and the caller', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const d = (await api.decide(KEYS.supportBot, refund(900))).body;
    expect(d.effect).toBe('approval_required');
    expectError(await api.approve(d.approval!.id, KEYS.alice), 403, 'self_approval');
    // hana may not see it (not her role): answered as GET answers her, recorded with the reason.
    expectError(await api.approve(d.approval!.id, KEYS.hana), 404, 'not_found');
    const [self] = await refusedWith(t, 'self_approval');
    expect(self?.data).toMatchObject({
      route: 'POST /v1/approvals/:id/approve',
      caller: { role: 'user', subject: 'alice' },
      requestId: expect.stringMatching(/^req_/),
    });
    const [wrong] = await refusedWith(t, 'not_found');
    expect(wrong?.data).toMatchObject({
      route: 'POST /v1/approvals/:id/approve',
      caller: { role: 'approver', subject: 'hana' },
      reason: `a vote on approval ${d.approval!.id}, which the voter may not see: it is not routed to a role they hold`,
    });
    // The rightful approver is not refused.
    expect((await api.approve(d.approval!.id, KEYS.frank)).status).toBe(200);
    expect(await events(t, 'request.refused')).toHaveLength(2);
  });

  it('a route forbidden to the role is recorded', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    expectError(await api.put('/v1/policies', KEYS.supportBot, examplePolicySource()), 403, 'forbidden');
    const [ev] = await refusedWith(t, 'forbidden');
    expect(ev?.data).toMatchObject({ route: 'PUT /v1/policies', caller: { role: 'agent' } });
    expect((await api.put('/v1/policies', KEYS.admin, examplePolicySource())).status).toBe(200);
    expect(await refusedWith(t, 'forbidden')).toHaveLength(1);
  });

  it('an agent key signing in to the dashboard is recorded under that key; a person signing in is not refused', async () => {
    // Found by a black-box probe: the key comes in the body, so the HTTP layer knew no caller to record.
    const t = await createTestMandate();
    const api = client(t.url);
    expectError(await api.post('/v1/sessions', null, { apiKey: KEYS.supportBot }), 403, 'forbidden');
    const [ev] = await refusedWith(t, 'forbidden');
    expect(ev?.data).toMatchObject({
      route: 'POST /v1/sessions',
      caller: { role: 'agent', subject: 'support-bot', keyId: 'key_demo-support-bot' },
    });
    expect((await api.post('/v1/sessions', null, { apiKey: KEYS.frank })).status).toBe(201);
    expect(await refusedWith(t, 'forbidden')).toHaveLength(1);
  });

  it('1,000 bad-token requests leave one aggregated event with the right count', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    await t.m.refusals.flush();
    const before = (await t.m.store.auditHead()).seq;
    for (let batch = 0; batch < 50; batch++) {
      const rs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 ? api.decide(`bad-${batch}-${i}`, refund(10)) : api.get('/v1/approvals', null),
        ),
      );
      for (const r of rs) expect(r.status).toBe(401);
    }
    // Nothing is appended per request …
    expect((await t.m.store.auditHead()).seq).toBe(before);
    await t.m.refusals.flush();
    // … and the window's counts are one event.
    expect((await t.m.store.auditHead()).seq).toBe(before + 1);
    const [ev] = await events(t, 'request.unauthenticated');
    expect(ev?.data.count).toBe(1000);
    const sources = ev?.data.sources as { source: string; count: number; routes: string[] }[];
    expect(sources).toHaveLength(1);
    expect(sources[0]!.count).toBe(1000);
    expect(sources[0]!.routes.sort()).toEqual(['GET /v1/approvals', 'POST /v1/decisions']);
    // An empty window writes nothing.
    await t.m.refusals.flush();
    expect((await t.m.store.auditHead()).seq).toBe(before + 1);
  });

  it("at the MCP gateway, a key of another role and another key's session id are refused on the record", async () => {
    const t = await createTestMandate();
    const mcp = (key: string, body: unknown, session?: string) =>
      fetch(new URL('/mcp', t.url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(session ? { 'mcp-session-id': session } : {}),
        },
        body: JSON.stringify(body),
      });
    const init = {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'refusals', version: '1' },
      },
    };
    // An admin key is not an agent's: 403, on the record with its caller.
    expect((await mcp(KEYS.admin, init)).status).toBe(403);
    const [role] = await refusedWith(t, 'forbidden');
    expect(role?.data).toMatchObject({
      route: 'MCP /mcp',
      reason: 'the MCP gateway needs an agent credential (an API key or JWT of role agent)',
      caller: { role: 'admin' },
    });
    // The agent's own session works for it; another agent's key presenting its id gets 404, recorded.
    const opened = await mcp(KEYS.supportBot, init);
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    await opened.text();
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const own = await mcp(KEYS.supportBot, ping, session);
    expect(own.status).toBe(200);
    await own.text();
    expect((await mcp(KEYS.tradeBot, ping, session)).status).toBe(404);
    // An unknown session id is ordinary (expired, restarted node): 404, not a refusal.
    expect((await mcp(KEYS.tradeBot, ping, 'no-such-session')).status).toBe(404);
    const refused = await refusedWith(t, 'forbidden');
    expect(refused).toHaveLength(2);
    expect(refused[1]?.data).toMatchObject({
      route: 'MCP /mcp',
      reason: 'an MCP session of another caller',
      caller: { role: 'agent', subject: 'trade-bot' },
    });
  });

  it('bad tokens at the MCP gateway are counted too', async () => {
    const t = await createTestMandate();
    await t.m.refusals.flush();
    for (let i = 0; i < 5; i++) {
      const r = await fetch(new URL('/mcp', t.url), {
        method: 'POST',
        headers: { authorization: `Bearer nope-${i}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(r.status).toBe(401);
    }
    await t.m.refusals.flush();
    const [ev] = await events(t, 'request.unauthenticated');
    expect(ev?.data).toMatchObject({
      count: 5,
      sources: [{ source: 'mcp', count: 5, routes: ['MCP /mcp'] }],
    });
  });
});
