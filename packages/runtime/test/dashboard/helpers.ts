import { expect } from 'vitest';
import type { HttpResult, Json } from '../fixtures/http.js';

/** A browser's view of a dashboard session: its cookie (as sent back) and its CSRF token. */
export interface BrowserSession {
  cookie: string;
  csrfToken: string;
}

/** The `mandate_session=<id>` pair of a Set-Cookie answer, or null. */
export function sessionCookieOf(res: { headers: Headers }): string | null {
  for (const c of res.headers.getSetCookie()) {
    const m = /^mandate_session=([^;]*)/.exec(c);
    if (m) return `mandate_session=${m[1]}`;
  }
  return null;
}

export interface BrowserRequest {
  json?: unknown;
  /** Send the session's CSRF token (default true for state-changing methods). */
  csrf?: boolean | string;
  headers?: Record<string, string>;
}

/** One request as the dashboard makes it: the cookie, no Authorization, JSON in and out. */
export async function browserRequest(
  baseUrl: string,
  session: BrowserSession | null,
  method: string,
  path: string,
  opts: BrowserRequest = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...opts.headers };
  if (session) headers.cookie = session.cookie;
  const csrf = opts.csrf ?? (method !== 'GET' && method !== 'HEAD');
  if (session && csrf) headers['x-csrf-token'] = typeof csrf === 'string' ? csrf : session.csrfToken;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    redirect: 'manual',
    ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}),
  });
  const text = await res.text();
  let body: Json;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** Signs in with an API key the way the dashboard does; fails the test unless it is a 201 with a cookie. */
export async function signIn(baseUrl: string, apiKey: string): Promise<BrowserSession & { body: Json }> {
  const res = await browserRequest(baseUrl, null, 'POST', '/v1/sessions', { json: { apiKey } });
  expect(res.status, res.text).toBe(201);
  const cookie = sessionCookieOf(res);
  expect(cookie).not.toBeNull();
  return { cookie: cookie!, csrfToken: res.body.csrfToken, body: res.body };
}
