// Issue 11: dashboard sessions — an API key of role user, approver or admin exchanged for a
// short-lived, rotated HttpOnly cookie kept (as a hash) in the shared store (ADR 0022).
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, client, expectError } from '../fixtures/http.js';
import { browserRequest, sessionCookieOf, signIn } from './helpers.js';

afterAll(disposeAll);

describe.each(durableStoreKinds())('dashboard sessions (%s)', (kind) => {
  it('an approver key signs in: 201, the role, a CSRF token and a locked-down cookie; the store keeps only a hash', async () => {
    const t = await createTestMandate({ store: kind });
    const res = await browserRequest(t.url, null, 'POST', '/v1/sessions', { json: { apiKey: KEYS.frank } });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['csrfToken', 'expiresAt', 'role', 'subject']);
    expect(res.body).toMatchObject({ role: 'approver', subject: 'frank' });
    expect(res.body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(res.body.expiresAt) - Date.now()).toBeGreaterThan(890_000);
    const setCookie = res.headers.getSetCookie();
    expect(setCookie).toHaveLength(1);
    expect(setCookie[0]).toMatch(
      /^mandate_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=900$/,
    );
    // Plain HTTP: no Secure (the browser would drop the cookie); TLS or config adds it.
    expect(setCookie[0]).not.toMatch(/Secure/);
    const cookie = sessionCookieOf(res)!;
    const id = cookie.slice('mandate_session='.length);

    const current = await browserRequest(t.url, { cookie, csrfToken: '' }, 'GET', '/v1/sessions/current');
    expect(current.status).toBe(200);
    expect(current.body).toEqual(res.body);
    // The session authenticates API calls as the key's role and subject.
    const inbox = await browserRequest(t.url, { cookie, csrfToken: '' }, 'GET', '/v1/approvals');
    expect(inbox.status).toBe(200);
    const adminOnly = await browserRequest(t.url, { cookie, csrfToken: '' }, 'GET', '/v1/keys');
    expectError(adminOnly, 403, 'forbidden');

    // Without the cookie: 401.
    expectError(await browserRequest(t.url, null, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
    expectError(
      await browserRequest(
        t.url,
        { cookie: 'mandate_session=forged', csrfToken: '' },
        'GET',
        '/v1/approvals',
      ),
      401,
      'unauthenticated',
    );
    // Only the hash of the id is stored: the id is nowhere in the database files.
    if (t.dbFile) {
      await t.m.store.ping();
      for (const f of [t.dbFile, `${t.dbFile}-wal`])
        if (existsSync(f)) expect(readFileSync(f).includes(Buffer.from(id))).toBe(false);
    }
  });

  it('an agent key cannot sign in (403), a bad key is a 401; a user and an admin can', async () => {
    const t = await createTestMandate({ store: kind });
    const agent = await browserRequest(t.url, null, 'POST', '/v1/sessions', {
      json: { apiKey: KEYS.supportBot },
    });
    expectError(agent, 403, 'forbidden');
    expect(agent.body.error.message).toMatch(/agent keys cannot sign in/);
    expect(sessionCookieOf(agent)).toBeNull();
    const bad = await browserRequest(t.url, null, 'POST', '/v1/sessions', {
      json: { apiKey: 'demo-nobody' },
    });
    expectError(bad, 401, 'unauthenticated');
    expect(sessionCookieOf(bad)).toBeNull();
    expectError(await browserRequest(t.url, null, 'POST', '/v1/sessions', { json: {} }), 400, 'bad_request');
    expect((await signIn(t.url, KEYS.alice)).body).toMatchObject({ role: 'user', subject: 'alice' });
    expect((await signIn(t.url, KEYS.admin)).body).toMatchObject({ role: 'admin', subject: null });
  });

  it('logout ends the session at once and clears the cookie; a logout without the CSRF token is refused', async () => {
    const t = await createTestMandate({ store: kind });
    const s = await signIn(t.url, KEYS.frank);
    const noToken = await browserRequest(t.url, s, 'DELETE', '/v1/sessions/current', { csrf: false });
    expectError(noToken, 403, 'csrf');
    expect((await browserRequest(t.url, s, 'GET', '/v1/sessions/current')).status).toBe(200);

    const out = await browserRequest(t.url, s, 'DELETE', '/v1/sessions/current');
    expect(out.status).toBe(204);
    expect(out.text).toBe('');
    expect(out.headers.getSetCookie()).toEqual([
      'mandate_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0',
    ]);
    expectError(await browserRequest(t.url, s, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
    expectError(await browserRequest(t.url, s, 'GET', '/v1/approvals'), 401, 'unauthenticated');
  });

  it('a revoked or expired key ends its sessions at the next request', async () => {
    const clock = createManualClock(Date.now());
    const t = await createTestMandate({ store: kind, clock });
    const api = client(t.url);
    const s = await signIn(t.url, KEYS.frank);
    const other = await signIn(t.url, KEYS.fiona);
    const keys = (await api.get('/v1/keys', KEYS.admin)).body.items as { id: string; name: string }[];
    const frankKey = keys.find((k) => k.name === 'demo-finance-manager')!;
    expect((await api.del(`/v1/keys/${frankKey.id}`, KEYS.admin)).status).toBe(200);
    expectError(await browserRequest(t.url, s, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
    // fiona's key is alive: her session is not touched.
    expect((await browserRequest(t.url, other, 'GET', '/v1/sessions/current')).status).toBe(200);

    // A key that expires: its session dies with it, even inside the session's own lifetime.
    const created = await api.post('/v1/keys', KEYS.admin, {
      role: 'user',
      subject: 'alice',
      expiresIn: '60s',
    });
    expect(created.status, created.text).toBe(201);
    const short = await signIn(t.url, created.body.secret);
    expect((await browserRequest(t.url, short, 'GET', '/v1/sessions/current')).status).toBe(200);
    clock.advance(61_000);
    expectError(await browserRequest(t.url, short, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
  });

  it('expires when idle past its TTL; a request before half the TTL keeps the same id', async () => {
    const clock = createManualClock(Date.now());
    const t = await createTestMandate({ store: kind, clock });
    const s = await signIn(t.url, KEYS.alice);
    clock.advance(400_000);
    const early = await browserRequest(t.url, s, 'GET', '/v1/sessions/current');
    expect(early.status).toBe(200);
    expect(sessionCookieOf(early)).toBeNull();
    clock.advance(501_000);
    expectError(await browserRequest(t.url, s, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
  });

  it('rotates past half its TTL: a new cookie, the old id works for the 30 s grace and then stops', async () => {
    const clock = createManualClock(Date.now());
    const t = await createTestMandate({ store: kind, clock });
    const s = await signIn(t.url, KEYS.frank);
    clock.advance(451_000);
    const rotating = await browserRequest(t.url, s, 'GET', '/v1/approvals');
    expect(rotating.status).toBe(200);
    const next = sessionCookieOf(rotating);
    expect(next).not.toBeNull();
    expect(next).not.toBe(s.cookie);
    expect(rotating.headers.getSetCookie()[0]).toMatch(/Max-Age=900$/);
    const rotated = { cookie: next!, csrfToken: s.csrfToken };
    // The CSRF token stays the same across rotations.
    expect((await browserRequest(t.url, rotated, 'GET', '/v1/sessions/current')).body.csrfToken).toBe(
      s.csrfToken,
    );
    clock.advance(20_000);
    const inGrace = await browserRequest(t.url, s, 'GET', '/v1/sessions/current');
    expect(inGrace.status).toBe(200);
    // A request in the grace does not rotate again.
    expect(sessionCookieOf(inGrace)).toBeNull();
    clock.advance(11_000);
    expectError(await browserRequest(t.url, s, 'GET', '/v1/sessions/current'), 401, 'unauthenticated');
    expect((await browserRequest(t.url, rotated, 'GET', '/v1/sessions/current')).status).toBe(200);
    // Active use rotates on and on, but never past the absolute lifetime (8 h by default).
    let current = rotated;
    for (let i = 0; i < 70; i++) {
      clock.advance(451_000);
      const r = await browserRequest(t.url, current, 'GET', '/v1/sessions/current');
      if (r.status !== 200) {
        expectError(r, 401, 'unauthenticated');
        expect(i * 451 + 482).toBeGreaterThan(8 * 3600 - 451);
        return;
      }
      current = { cookie: sessionCookieOf(r) ?? current.cookie, csrfToken: s.csrfToken };
    }
    throw new Error('the session outlived its absolute lifetime');
  });

  it('a bearer key wins over a cookie; with the dashboard turned off cookies are ignored and /v1/sessions is a 404', async () => {
    const t = await createTestMandate({ store: kind });
    const s = await signIn(t.url, KEYS.admin);
    const both = await browserRequest(t.url, s, 'GET', '/v1/keys', {
      headers: { authorization: `Bearer ${KEYS.alice}` },
    });
    expectError(both, 403, 'forbidden');

    const off = await createTestMandate({
      store: kind,
      config: (raw) => (raw.dashboard = { enabled: false }),
    });
    expectError(
      await browserRequest(off.url, null, 'POST', '/v1/sessions', { json: { apiKey: KEYS.admin } }),
      404,
      'not_found',
    );
    const cookieOnly = await browserRequest(off.url, { cookie: s.cookie, csrfToken: '' }, 'GET', '/v1/keys');
    expectError(cookieOnly, 401, 'unauthenticated');
    expect((await browserRequest(off.url, null, 'GET', '/ui/')).status).toBe(404);
  });
});
