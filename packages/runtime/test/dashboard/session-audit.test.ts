// A probe: refused sign-ins were on the record, successful ones and sign-outs were not — no
// evidence of who held a dashboard session when. A sign-in records `session.started`, a sign-out
// `session.ended`, both naming the key, the role and a short session reference, never the secret.
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, type Json } from '../fixtures/http.js';
import { browserRequest, signIn } from './helpers.js';

afterAll(disposeAll);

async function sessionEvents(t: TestMandate): Promise<Json[]> {
  await t.m.audit.flush();
  const api = client(t.url);
  const out: Json[] = [];
  for (const type of ['session.started', 'session.ended']) {
    const page = await api.get(`/v1/audit?type=${type}&limit=100`, KEYS.admin);
    expect(page.status, page.text).toBe(200);
    out.push(...(page.body.items as Json[]).map((r) => r.event));
  }
  return out.sort((a, b) =>
    a.time < b.time ? -1 : a.time > b.time ? 1 : a.type === 'session.started' ? -1 : 1,
  );
}

describe('dashboard sessions on the audit trail', () => {
  it('a sign-in records session.started and a sign-out session.ended, for the same session, with no secret', async () => {
    const t = await createTestMandate();
    const s = await signIn(t.url, KEYS.frank);
    const out = await browserRequest(t.url, s, 'DELETE', '/v1/sessions/current');
    expect(out.status, out.text).toBe(204);

    const events = await sessionEvents(t);
    expect(events.map((e) => e.type)).toEqual(['session.started', 'session.ended']);
    const [started, ended] = events;
    const caller = { role: 'approver', subject: 'frank', keyId: expect.any(String) };
    expect(started.data).toEqual({
      session: expect.stringMatching(/^ses_[0-9a-f]{16}$/),
      via: 'dashboard',
      caller,
      method: 'api_key',
    });
    expect(ended.data).toEqual({
      session: started.data.session,
      via: 'dashboard',
      caller,
      reason: 'signed_out',
    });
    // The key named is frank's: the same id his refusals and decisions are recorded under.
    const keys = (await client(t.url).get('/v1/keys', KEYS.admin)).body.items as Json[];
    expect(keys.find((k) => k.id === started.data.caller.keyId)).toMatchObject({ subject: 'frank' });

    // Neither the cookie's id, its store hash, nor the CSRF token is on the record.
    const id = s.cookie.split('=')[1]!;
    const text = JSON.stringify(events);
    for (const secret of [id, sha256Hex('mandate.session.v1\0' + id), s.csrfToken])
      expect(text).not.toContain(secret);

    // A second sign-in is another session.
    await signIn(t.url, KEYS.frank);
    const again = (await sessionEvents(t)).filter((e) => e.type === 'session.started');
    expect(again).toHaveLength(2);
    expect(again[1].data.session).not.toBe(started.data.session);
  });

  it('a refused sign-in records no session', async () => {
    const t = await createTestMandate();
    const res = await browserRequest(t.url, null, 'POST', '/v1/sessions', {
      json: { apiKey: KEYS.supportBot },
    });
    expect(res.status).toBe(403);
    expect(await sessionEvents(t)).toEqual([]);
  });
});
