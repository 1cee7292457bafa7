// Behind a TLS-terminating proxy the browser's Origin is https://<public host>, while the node sees
// plain HTTP: the sign-in was refused `csrf` (a probe could not use the dashboard through a proxy
// even with `secureCookies`). `dashboard.publicOrigin` names the origin; `secureCookies` alone
// makes the scheme https; X-Forwarded-* is never trusted.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DashboardSchema } from '../../src/config/dashboard-schema.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, expectError } from '../fixtures/http.js';
import { browserRequest, sessionCookieOf } from './helpers.js';

afterAll(disposeAll);

const PUBLIC = 'https://mandate.example.com';

/** A sign-in as a browser sends it, from `origin`. */
const signInFrom = (url: string, origin: string, headers: Record<string, string> = {}) =>
  browserRequest(url, null, 'POST', '/v1/sessions', {
    json: { apiKey: KEYS.frank },
    headers: { origin, 'sec-fetch-site': 'same-origin', ...headers },
  });

describe('dashboard.publicOrigin', () => {
  it('a sign-in and a sign-out from the public origin are accepted; from the node’s own address or another scheme, refused', async () => {
    const t = await createTestMandate({
      config: (raw) => {
        raw.dashboard = { publicOrigin: PUBLIC };
      },
    });
    const res = await signInFrom(t.url, PUBLIC);
    expect(res.status, res.text).toBe(201);
    // An https public origin: the cookie is Secure although the node serves plain HTTP.
    expect(res.headers.getSetCookie().find((c) => c.startsWith('mandate_session='))).toMatch(/; Secure$/);
    const session = { cookie: sessionCookieOf(res)!, csrfToken: res.body.csrfToken as string };
    const logout = await browserRequest(t.url, session, 'DELETE', '/v1/sessions/current', {
      headers: { origin: PUBLIC, 'sec-fetch-site': 'same-origin' },
    });
    expect(logout.status, logout.text).toBe(204);

    expectError(await signInFrom(t.url, t.url), 403, 'csrf');
    expectError(await signInFrom(t.url, 'http://mandate.example.com'), 403, 'csrf');
    expectError(await signInFrom(t.url, 'https://evil.example'), 403, 'csrf');
  });

  it('with secureCookies and no public origin, the Host header is taken with https', async () => {
    const t = await createTestMandate({
      config: (raw) => {
        raw.dashboard = { secureCookies: true };
      },
    });
    const host = new URL(t.url).host;
    const res = await signInFrom(t.url, `https://${host}`);
    expect(res.status, res.text).toBe(201);
    expectError(await signInFrom(t.url, `http://${host}`), 403, 'csrf');
  });

  it('X-Forwarded-Host and -Proto are not trusted', async () => {
    const t = await createTestMandate();
    expectError(
      await signInFrom(t.url, 'https://evil.example', {
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
      }),
      403,
      'csrf',
    );
    expect((await signInFrom(t.url, t.url)).status).toBe(201);
  });

  it('the default OIDC redirect URI is on the public origin', async () => {
    // Only discovery is needed to start a sign-in.
    const issuer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer: url,
          authorization_endpoint: `${url}/auth`,
          token_endpoint: `${url}/token`,
          jwks_uri: `${url}/jwks`,
        }),
      );
    });
    await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
    try {
      const t = await createTestMandate({
        config: (raw) => {
          raw.dashboard = { publicOrigin: PUBLIC, oidc: { issuer: url, clientId: 'mandate' } };
        },
      });
      const login = await fetch(`${t.url}/v1/sessions/oidc/login`, { redirect: 'manual' });
      expect(login.status).toBe(302);
      expect(new URL(login.headers.get('location')!).searchParams.get('redirect_uri')).toBe(
        `${PUBLIC}/v1/sessions/oidc/callback`,
      );
    } finally {
      await new Promise((r) => issuer.close(r));
    }
  });

  it('is an origin: scheme and host [and port], nothing else', () => {
    for (const ok of [PUBLIC, 'https://mandate.example.com:8443', 'http://127.0.0.1:8787'])
      expect(DashboardSchema.safeParse({ publicOrigin: ok }).success, ok).toBe(true);
    for (const bad of [
      'https://mandate.example.com/',
      'https://mandate.example.com/ui',
      'https://mandate.example.com:443',
      'https://user@mandate.example.com',
      'https://mandate.example.com?x=1',
      'https://Mandate.example.com',
      'ftp://mandate.example.com',
      'mandate.example.com',
    ])
      expect(DashboardSchema.safeParse({ publicOrigin: bad }).success, bad).toBe(false);
  });
});
