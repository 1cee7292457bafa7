// Issue 11: a cookie alone never changes state. Cookie-authenticated non-GET requests need the
// session's CSRF token and must not come from another site or origin; bearer requests are unchanged.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { browserRequest, signIn } from './helpers.js';

afterAll(disposeAll);

/** A pending approval of a 900 refund by support-bot for alice (needs a finance manager). */
async function pendingRefund(url: string): Promise<string> {
  const d = await client(url).decide(KEYS.supportBot, refund(900));
  expect(d.body.effect, d.text).toBe('approval_required');
  return d.body.approval!.id;
}

describe('CSRF on cookie-authenticated requests', () => {
  it('refuses a cookie POST without the token, with a wrong token, cross-site or from a foreign origin; allows it same-origin with the token', async () => {
    const t = await createTestMandate();
    const s = await signIn(t.url, KEYS.frank);
    const id = await pendingRefund(t.url);
    const approve = `/v1/approvals/${id}/approve`;
    const json = { comment: 'ok' };

    expectError(await browserRequest(t.url, s, 'POST', approve, { json, csrf: false }), 403, 'csrf');
    expectError(await browserRequest(t.url, s, 'POST', approve, { json, csrf: 'x'.repeat(43) }), 403, 'csrf');
    expectError(
      await browserRequest(t.url, s, 'POST', approve, { json, headers: { 'sec-fetch-site': 'cross-site' } }),
      403,
      'csrf',
    );
    expectError(
      await browserRequest(t.url, s, 'POST', approve, { json, headers: { 'sec-fetch-site': 'same-site' } }),
      403,
      'csrf',
    );
    expectError(
      await browserRequest(t.url, s, 'POST', approve, { json, headers: { origin: 'https://evil.example' } }),
      403,
      'csrf',
    );
    expectError(
      await browserRequest(t.url, s, 'POST', approve, { json, headers: { origin: 'null' } }),
      403,
      'csrf',
    );
    // None of the refused ones voted; each is on the record as a refusal under frank's key.
    expect((await client(t.url).get(`/v1/approvals/${id}`, KEYS.admin)).body.votes).toEqual([]);
    await t.m.refusals.flush();
    const refused = (await t.m.store.queryAudit({ type: 'request.refused', limit: 100 })).map(
      (r) => JSON.parse(r.eventText).data,
    );
    expect(refused.filter((d) => d.code === 'csrf')).toHaveLength(6);
    expect(new Set(refused.filter((d) => d.code === 'csrf').map((d) => d.caller.subject))).toEqual(
      new Set(['frank']),
    );

    const ok = await browserRequest(t.url, s, 'POST', approve, {
      json,
      headers: { origin: t.url, 'sec-fetch-site': 'same-origin' },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('approved');
    expect(ok.body.votes.map((v: { approver: string }) => v.approver)).toEqual(['frank']);
  });

  it('the same request with a bearer key is unchanged: no token, and Fetch Metadata and Origin are not consulted', async () => {
    const t = await createTestMandate();
    const id = await pendingRefund(t.url);
    const res = await client(t.url).request('POST', `/v1/approvals/${id}/approve`, {
      key: KEYS.frank,
      json: {},
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(res.status, res.text).toBe(200);
  });

  it('GETs need no token; a cross-site sign-in is refused', async () => {
    const t = await createTestMandate();
    const s = await signIn(t.url, KEYS.frank);
    expect(
      (
        await browserRequest(t.url, s, 'GET', '/v1/approvals', {
          headers: { 'sec-fetch-site': 'same-origin' },
        })
      ).status,
    ).toBe(200);
    const cross = await browserRequest(t.url, null, 'POST', '/v1/sessions', {
      json: { apiKey: KEYS.frank },
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expectError(cross, 403, 'csrf');
    expect(cross.headers.getSetCookie()).toEqual([]);
    // A form post cannot sign in either: the body must be JSON.
    const form = await fetch(new URL('/v1/sessions', t.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `apiKey=${KEYS.frank}`,
    });
    expect(form.status).toBe(415);
  });

  it('no answer ever carries CORS headers, also to a preflight', async () => {
    const t = await createTestMandate();
    const s = await signIn(t.url, KEYS.admin);
    const answers = [
      await browserRequest(t.url, s, 'GET', '/v1/sessions/current', {
        headers: { origin: 'https://evil.example' },
      }),
      await browserRequest(t.url, null, 'OPTIONS', '/v1/approvals', {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      }),
      await browserRequest(t.url, null, 'GET', '/ui/', { headers: { origin: 'https://evil.example' } }),
      await browserRequest(t.url, null, 'POST', '/v1/sessions', {
        json: { apiKey: KEYS.admin },
        headers: { origin: 'https://evil.example' },
      }),
    ];
    for (const a of answers)
      for (const h of a.headers.keys()) expect(h.startsWith('access-control-')).toBe(false);
  });
});

describe('approving through a session', () => {
  it('with a quorum of two, one person voting twice is refused; a second approver completes it', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const source = examplePolicySource();
    source.policies['agents.cedar'] = source.policies['agents.cedar']!.replace(
      '@approval("finance-manager")',
      '@approval("finance-manager")\n@quorum("2")',
    );
    expect((await api.put('/v1/policies', KEYS.admin, source)).status).toBe(200);
    const id = await pendingRefund(t.url);
    const frank = await signIn(t.url, KEYS.frank);
    const first = await browserRequest(t.url, frank, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expect(first.status, first.text).toBe(200);
    expect(first.body.status).toBe('pending');
    const twice = await browserRequest(t.url, frank, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expectError(twice, 409, 'duplicate_approver');
    const fiona = await signIn(t.url, KEYS.fiona);
    const second = await browserRequest(t.url, fiona, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expect(second.status, second.text).toBe(200);
    expect(second.body.status).toBe('approved');
    expect(second.body.votes.map((v: { approver: string }) => v.approver)).toEqual(['frank', 'fiona']);
  });

  it('the finance manager approves; the user the agent acts for cannot; a second vote is refused', async () => {
    const t = await createTestMandate();
    const id = await pendingRefund(t.url);
    const alice = await signIn(t.url, KEYS.alice);
    const aliceVote = await browserRequest(t.url, alice, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expect(aliceVote.status).toBe(403);
    expect(aliceVote.body.error.code).toBe('self_approval');

    const frank = await signIn(t.url, KEYS.frank);
    const ok = await browserRequest(t.url, frank, 'POST', `/v1/approvals/${id}/approve`, {
      json: { comment: 'fine' },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('approved');

    const again = await browserRequest(t.url, frank, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const fiona = await signIn(t.url, KEYS.fiona);
    const second = await browserRequest(t.url, fiona, 'POST', `/v1/approvals/${id}/approve`, { json: {} });
    expect(second.body.error.code).toBe('conflict');

    // The agent's retry is allowed once with the approval, its replay denied.
    const api = client(t.url);
    const retry = await api.decide(KEYS.supportBot, refund(900, { approvalId: id }));
    expect(retry.body.effect, retry.text).toBe('allow');
    const replay = await api.decide(KEYS.supportBot, refund(900, { approvalId: id }));
    expect(replay.body.effect).toBe('deny');
  });
});
