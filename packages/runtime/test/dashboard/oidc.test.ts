// Issue 11: OpenID Connect sign-in (authorization code + PKCE S256, state, nonce) against a real
// OpenID provider (oidc-provider) run here, the whole browser redirect dance done with fetch; and
// the refusals: wrong state, replayed code, a token of another issuer or audience, role agent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { expectError } from '../fixtures/http.js';
import { createTestIssuer, type TestIssuer } from '../fixtures/oidc.js';
import { browserRequest, sessionCookieOf } from './helpers.js';

const ROLES: Record<string, string> = { frank: 'approver', root: 'admin', bot: 'agent' };

/** A cookie jar per origin, as a browser keeps one per site (enough for these two). */
class Jar {
  private cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (
        value === '' ||
        attrs.some((a) => /max-age=0\b/i.test(a.trim()) || /expires=thu, 01 jan 1970/i.test(a))
      )
        this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Starts a sign-in at a Mandate node and plays the browser at the issuer (log in as `account`,
 * consent); returns the callback URL the issuer sends the browser to, and Mandate's cookie jar.
 */
async function atIssuer(mandateUrl: string, account: string): Promise<{ callback: URL; jar: Jar }> {
  const jar = new Jar();
  const login = await fetch(`${mandateUrl}/v1/sessions/oidc/login`, { redirect: 'manual' });
  expect(login.status).toBe(302);
  jar.take(login);
  const auth = new URL(login.headers.get('location')!);
  expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
  expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(auth.searchParams.get('state')).toBeTruthy();
  expect(auth.searchParams.get('nonce')).toBeTruthy();
  const op = new Jar();
  let url = auth;
  for (let i = 0; i < 20; i++) {
    if (url.origin === mandateUrl) return { callback: url, jar };
    let res = await fetch(url, { redirect: 'manual', headers: { cookie: op.header() } });
    op.take(res);
    if (res.status === 200) {
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)![1]!;
      const form = new URLSearchParams();
      for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g))
        form.set(m[1]!, m[2]!);
      if (form.get('prompt') === 'login') {
        form.set('login', account);
        form.set('password', 'any');
      }
      res = await fetch(new URL(action, url), {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: op.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
      op.take(res);
    }
    expect([302, 303]).toContain(res.status);
    url = new URL(res.headers.get('location')!, url);
  }
  throw new Error('the redirect dance did not end at Mandate');
}

/** Sends the browser to Mandate's callback with its jar. */
async function callback(url: URL, jar: Jar): Promise<Response> {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
  jar.take(res);
  return res;
}

describe('OpenID Connect sign-in', () => {
  const servers: Server[] = [];
  let m1: TestMandate;
  let m2: TestMandate;
  let opA: TestIssuer;
  let issuerA: string;
  /** What the fake issuer F changes in the ID tokens it passes on (re-signed with its own key). */
  let override: Record<string, unknown> = {};

  beforeAll(async () => {
    opA = await createTestIssuer(ROLES);
    issuerA = opA.issuer;
    // F: an issuer of its own (discovery, JWKS, token endpoint) that sends the browser to A and
    // re-mints A's ID tokens — to present tokens of another issuer or audience with valid signatures.
    const fKeys = await generateKeyPair('ES256');
    const fJwk = { ...(await exportJWK(fKeys.publicKey)), kid: 'f1', alg: 'ES256', use: 'sig' };
    const fServer = createServer((req, res) => {
      void (async () => {
        const path = req.url!.split('?')[0];
        if (path === '/.well-known/openid-configuration') {
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              issuer: issuerF,
              authorization_endpoint: `${issuerA}/auth`,
              token_endpoint: `${issuerF}/token`,
              jwks_uri: `${issuerF}/jwks`,
            }),
          );
        } else if (path === '/jwks') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ keys: [fJwk] }));
        } else if (path === '/token') {
          const chunks: Buffer[] = [];
          for await (const c of req) chunks.push(c as Buffer);
          const upstream = await fetch(`${issuerA}/token`, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: req.headers.authorization ?? '',
            },
            body: Buffer.concat(chunks),
          });
          const tokens = (await upstream.json()) as { id_token?: string };
          if (tokens.id_token) {
            const claims = { ...decodeJwt(tokens.id_token), iss: issuerF, ...override };
            tokens.id_token = await new SignJWT(claims)
              .setProtectedHeader({ alg: 'ES256', kid: 'f1' })
              .sign(fKeys.privateKey);
          }
          res.statusCode = upstream.status;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(tokens));
        } else {
          res.statusCode = 404;
          res.end();
        }
      })();
    });
    servers.push(fServer);
    const issuerF = await listen(fServer);

    const oidc = (issuer: string) => (raw: Record<string, unknown>) => {
      raw.dashboard = { oidc: { issuer, clientId: opA.clientId, clientSecret: opA.clientSecret } };
    };
    m1 = await createTestMandate({ config: oidc(issuerA) });
    m2 = await createTestMandate({ config: oidc(issuerF) });
    opA.start([`${m1.url}/v1/sessions/oidc/callback`, `${m2.url}/v1/sessions/oidc/callback`]);
  });

  afterAll(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await opA?.close();
    await disposeAll();
  });

  it('says without a session whether SSO is offered, and starts no login transaction doing so', async () => {
    const on = await fetch(`${m1.url}/v1/sessions/oidc`);
    expect(on.status).toBe(200);
    expect(on.headers.getSetCookie()).toEqual([]);
    expect(await on.json()).toEqual({ enabled: true, loginUrl: '/v1/sessions/oidc/login' });
    const plain = await createTestMandate();
    const off = await fetch(`${plain.url}/v1/sessions/oidc`);
    expect(off.status).toBe(200);
    expect(await off.json()).toEqual({ enabled: false });
  });

  it('signs an approver in through the issuer and the session works; the code cannot be used twice', async () => {
    const { callback: cb, jar } = await atIssuer(m1.url, 'frank');
    expect(cb.pathname).toBe('/v1/sessions/oidc/callback');
    const replayJar = jar.header();
    const res = await callback(cb, jar);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get('location')).toBe('/ui/');
    const cookie = sessionCookieOf(res)!;
    expect(cookie).toBeTruthy();
    // The transaction cookie is cleared.
    expect(jar.get('mandate_oidc')).toBeUndefined();
    const current = await browserRequest(m1.url, { cookie, csrfToken: '' }, 'GET', '/v1/sessions/current');
    expect(current.status).toBe(200);
    expect(current.body).toMatchObject({ role: 'approver', subject: 'frank' });
    const inbox = await browserRequest(m1.url, { cookie, csrfToken: '' }, 'GET', '/v1/approvals');
    expect(inbox.status).toBe(200);
    // The sign-in is on the record under the OIDC identity (the trail named only refused ones).
    await m1.m.audit.flush();
    const started = (await m1.m.store.queryAudit({ type: 'session.started', limit: 100 })).map(
      (r) => JSON.parse(r.eventText).data,
    );
    expect(started).toContainEqual({
      session: expect.stringMatching(/^ses_[0-9a-f]{16}$/),
      via: 'dashboard',
      caller: { role: 'approver', subject: 'frank', keyId: expect.stringMatching(/^oidc:http.*:frank$/) },
      method: 'oidc',
    });

    // Replay: the same callback again (even with the old transaction cookie) opens nothing.
    const replay = await fetch(cb, { redirect: 'manual', headers: { cookie: replayJar } });
    expect(replay.status).toBe(401);
    expect(await replay.clone().text()).toContain('invalid_grant');
    expect(sessionCookieOf(replay)).toBeNull();
    // Without the transaction cookie (a callback this browser did not start): refused too.
    const foreign = await fetch(cb, { redirect: 'manual' });
    expect(foreign.status).toBe(401);
  });

  it('an admin signs in as admin', async () => {
    const { callback: cb, jar } = await atIssuer(m1.url, 'root');
    const res = await callback(cb, jar);
    expect(res.status).toBe(302);
    const current = await browserRequest(
      m1.url,
      { cookie: sessionCookieOf(res)!, csrfToken: '' },
      'GET',
      '/v1/sessions/current',
    );
    expect(current.body).toMatchObject({ role: 'admin', subject: null });
  });

  it('refuses a wrong state, and leaves the sign-in unusable', async () => {
    const { callback: cb, jar } = await atIssuer(m1.url, 'frank');
    const wrong = new URL(cb);
    wrong.searchParams.set('state', 'x'.repeat(43));
    const res = await fetch(wrong, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unauthenticated');
    expect(body.error.message).toContain('state does not match');
    expect(sessionCookieOf(res)).toBeNull();
  });

  it('refuses a role claim of agent, and an account without a role', async () => {
    for (const account of ['bot', 'nobody']) {
      const { callback: cb, jar } = await atIssuer(m1.url, account);
      const res = await callback(cb, jar);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
      expect(sessionCookieOf(res)).toBeNull();
    }
  });

  it('through an issuer of its own: its token is accepted; one for another audience or from another issuer is not', async () => {
    override = {};
    let { callback: cb, jar } = await atIssuer(m2.url, 'frank');
    const ok = await callback(cb, jar);
    expect(ok.status).toBe(302);
    expect(sessionCookieOf(ok)).toBeTruthy();

    const cases: [Record<string, unknown>, string][] = [
      [{ aud: 'another-client' }, 'unexpected "aud"'],
      [{ iss: issuerA }, 'unexpected "iss"'],
      [{ nonce: 'n'.repeat(43) }, 'nonce does not match'],
    ];
    for (const [bad, why] of cases) {
      override = bad;
      ({ callback: cb, jar } = await atIssuer(m2.url, 'frank'));
      const res = await callback(cb, jar);
      expect({ bad, status: res.status }).toEqual({ bad, status: 401 });
      expect(((await res.clone().json()) as { error: { message: string } }).error.message).toContain(why);
      expect(sessionCookieOf(res)).toBeNull();
    }
    override = {};
  });

  it('without dashboard.oidc the routes are 404', async () => {
    const plain = await createTestMandate();
    expectError(await browserRequest(plain.url, null, 'GET', '/v1/sessions/oidc/login'), 404, 'not_found');
  });
});
