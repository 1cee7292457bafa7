import { api, ApiError, setCsrfToken } from './api.js';

export type Role = 'user' | 'approver' | 'admin';
export interface Session {
  role: Role;
  subject: string | null;
  expiresAt: string;
  csrfToken: string;
}

let current: Session | null = null;

export function session(): Session | null {
  return current;
}

function adopt(s: Session | null): Session | null {
  current = s;
  setCsrfToken(s?.csrfToken ?? null);
  return s;
}

/** The session the cookie holds, or null (401) — any other failure is thrown. */
export async function resume(): Promise<Session | null> {
  try {
    return adopt(await api<Session>('GET', '/v1/sessions/current'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return adopt(null);
    throw err;
  }
}

export async function signIn(apiKey: string): Promise<Session> {
  return adopt(await api<Session>('POST', '/v1/sessions', { apiKey }))!;
}

export async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/sessions/current');
  } finally {
    adopt(null);
  }
}

/** Where to start OpenID Connect sign-in, or null when the server does not offer it (`GET /v1/sessions/oidc`). */
export async function ssoOffered(): Promise<string | null> {
  try {
    const res = await fetch('/v1/sessions/oidc', { credentials: 'same-origin' });
    if (!res.ok) return null;
    const body = (await res.json()) as { enabled?: unknown; loginUrl?: unknown };
    return body.enabled === true && typeof body.loginUrl === 'string' ? body.loginUrl : null;
  } catch {
    return null;
  }
}
