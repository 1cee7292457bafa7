import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MandateError, safeEqual } from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';
import type { OpenedSession, SessionService } from '../sessions/index.js';
import type { UiSessionRecord } from '../storage/port.js';

/** The dashboard's session cookie (ADR 0022). */
export const SESSION_COOKIE = 'mandate_session';

/** The value of one cookie of the request, or undefined. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the request reached this server over TLS. */
export function overTls(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true;
}

/** Adds a Set-Cookie header, keeping any set before (a rotation and a logout may both set one). */
export function appendCookie(res: ServerResponse, cookie: string): void {
  const prev = res.getHeader('set-cookie');
  const list = Array.isArray(prev) ? prev : prev === undefined ? [] : [String(prev)];
  res.setHeader('set-cookie', [...list, cookie]);
}

/**
 * A cookie the browser sends back only to this server, only on same-site requests, never to
 * scripts: `HttpOnly; SameSite=Strict; Path=/`, plus `Secure` over TLS or when configured.
 */
export function cookieHeader(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** Sets the session cookie of a session just opened or rotated. */
export function setSessionCookie(
  req: IncomingMessage,
  res: ServerResponse,
  opened: OpenedSession,
  secureCookies: boolean,
): void {
  appendCookie(
    res,
    cookieHeader(SESSION_COOKIE, opened.id, opened.maxAgeSeconds, secureCookies || overTls(req)),
  );
}

/** Clears the session cookie (logout, dead session). */
export function clearSessionCookie(req: IncomingMessage, res: ServerResponse, secureCookies: boolean): void {
  appendCookie(res, cookieHeader(SESSION_COOKIE, '', 0, secureCookies || overTls(req)));
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** How this server's own origin is known, for the `Origin` check. */
export interface OwnOrigin {
  /** `dashboard.publicOrigin`: the origin browsers use (behind a TLS-terminating proxy). */
  publicOrigin?: string;
  /** `dashboard.secureCookies`: the browser reaches this server over https, whatever the socket. */
  secureCookies: boolean;
}

/**
 * The origin browsers see this server at: the configured public origin, else the `Host` header
 * with https over TLS or when cookies are marked Secure (a TLS-terminating proxy in front).
 * SECURITY: never `X-Forwarded-*` — any client can send those.
 */
export function ownOrigin(req: IncomingMessage, own: OwnOrigin): string | null {
  if (own.publicOrigin) return own.publicOrigin;
  if (!req.headers.host) return null;
  return `${overTls(req) || own.secureCookies ? 'https' : 'http'}://${req.headers.host}`;
}

/**
 * Cross-site request refusal for cookie-authenticated (and sign-in) requests: a browser that says
 * the request comes from another site (`Sec-Fetch-Site`), or from another origin (`Origin`), is
 * refused with `csrf`. Requests without these headers (old browsers, non-browser clients) rely on
 * the CSRF token and SameSite=Strict.
 */
export function refuseCrossSite(req: IncomingMessage, own: OwnOrigin): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new MandateError(
      'csrf',
      `cross-site request refused (Sec-Fetch-Site: ${String(site).slice(0, 32)})`,
    );
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const mine = ownOrigin(req, own);
    // SECURITY: fail closed — `Origin: null` (sandboxed frames, some redirects) is never this server.
    if (mine === null || origin.toLowerCase() !== mine.toLowerCase())
      throw new MandateError('csrf', 'request from another origin refused');
  }
}

export interface SessionAuthDeps extends OwnOrigin {
  sessions: SessionService;
}

/**
 * The caller of a request authenticated by the session cookie; for a state-changing method, also
 * the CSRF checks (ADR 0022): `x-csrf-token` equal to the session's token, and not cross-site.
 * When a rotation was due the answer carries the successor cookie.
 */
export async function sessionCaller(
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  deps: SessionAuthDeps,
  /** Told who the session is before the CSRF checks, so a refusal can be recorded under its key. */
  known: (caller: Caller) => void = () => undefined,
): Promise<Caller> {
  return (await checkedSession(req, res, id, deps, known)).caller;
}

/** {@link sessionCaller}, with the session record too (a logout records which session ended). */
export async function checkedSession(
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  deps: SessionAuthDeps,
  known: (caller: Caller) => void = () => undefined,
): Promise<{ caller: Caller; session: UiSessionRecord }> {
  const { caller, session, rotated } = await deps.sessions.resolve(id);
  known(caller);
  if (!SAFE_METHODS.has(req.method ?? 'GET')) {
    refuseCrossSite(req, deps);
    const sent = req.headers['x-csrf-token'];
    // SECURITY: fail closed — a cookie alone never changes state; the token is compared in constant time.
    if (typeof sent !== 'string' || !safeEqual(sent, session.csrfToken))
      throw new MandateError('csrf', "send the session's CSRF token in the x-csrf-token header");
  }
  if (rotated) setSessionCookie(req, res, rotated, deps.secureCookies);
  return { caller, session };
}
