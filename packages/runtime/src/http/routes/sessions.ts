import { z } from 'zod';
import { MandateError, sha256Hex } from '../../kernel/index.js';
import type { UiSessionRecord } from '../../storage/port.js';
import type { OpenedSession } from '../../sessions/index.js';
import { NO_CONTENT, parseWith, type Ctx, type RouteAdder } from '../router.js';
import type { DashboardDeps, HttpDeps } from '../deps.js';
import {
  SESSION_COOKIE,
  checkedSession,
  clearSessionCookie,
  readCookie,
  refuseCrossSite,
  setSessionCookie,
} from '../session-cookie.js';

const SignInSchema = z.strictObject({ apiKey: z.string().min(1).max(512) });

/** What the dashboard learns of its session: never the id (the cookie is HttpOnly). */
export function sessionView(s: UiSessionRecord): {
  role: string;
  subject: string | null;
  expiresAt: string;
  csrfToken: string;
} {
  return { role: s.role, subject: s.subject, expiresAt: s.expiresAt, csrfToken: s.csrfToken };
}

/**
 * How the trail names a sign-in: a digest of what every rotation of it shares, the same in its
 * `session.started` and `session.ended`. SECURITY: never the id (the cookie's secret) nor its hash
 * (the store's key for it).
 */
export function sessionRef(s: UiSessionRecord): string {
  return `ses_${sha256Hex(`mandate.session.audit.v1\0${s.family}`).slice(0, 16)}`;
}

/** Records a sign-in's start or end (docs/dashboard.md "Security"), before it is answered. */
export async function recordSession(
  deps: HttpDeps,
  type: 'session.started' | 'session.ended',
  s: UiSessionRecord,
  how: { method: 'api_key' | 'oidc' } | { reason: 'signed_out' },
): Promise<void> {
  await deps.audit({
    type,
    data: {
      session: sessionRef(s),
      via: 'dashboard',
      caller: { role: s.role, subject: s.subject, keyId: s.keyId },
      ...how,
    },
  });
}

/** Records a session just opened and answers it: its cookie, 201 and its view. */
export async function answerOpened(ctx: Ctx, deps: HttpDeps, opened: OpenedSession): Promise<unknown> {
  const dashboard = dashboardOf(deps);
  await recordSession(deps, 'session.started', opened.session, { method: 'api_key' });
  setSessionCookie(ctx.req, ctx.res, opened, dashboard.secureCookies);
  ctx.res.statusCode = 201;
  return sessionView(opened.session);
}

/** The dashboard's deps, or 404 when the dashboard is turned off. */
export function dashboardOf(deps: HttpDeps): DashboardDeps {
  if (!deps.dashboard) throw new MandateError('not_found', 'the dashboard is turned off on this node');
  return deps.dashboard;
}

/** Dashboard sessions (ADR 0022): sign in with an API key, read the current session, log out. */
export function registerSessionRoutes(route: RouteAdder, deps: HttpDeps): void {
  const cookieOf = (ctx: Ctx): string => {
    const id = readCookie(ctx.req, SESSION_COOKIE);
    if (!id) throw new MandateError('unauthenticated', 'no dashboard session; sign in first');
    return id;
  };

  route('POST', '/v1/sessions', async (ctx) => {
    const dashboard = dashboardOf(deps);
    // Login CSRF: another site must not sign the browser in under its own key.
    refuseCrossSite(ctx.req, dashboard);
    const { apiKey } = parseWith(SignInSchema, await ctx.body());
    return answerOpened(ctx, deps, await dashboard.sessions.signIn(apiKey));
  });

  route('GET', '/v1/sessions/current', async (ctx) => {
    const dashboard = dashboardOf(deps);
    const { session, rotated } = await dashboard.sessions.resolve(cookieOf(ctx));
    if (rotated) setSessionCookie(ctx.req, ctx.res, rotated, dashboard.secureCookies);
    return sessionView(rotated?.session ?? session);
  });

  route('DELETE', '/v1/sessions/current', async (ctx) => {
    const dashboard = dashboardOf(deps);
    const id = cookieOf(ctx);
    // A logout is a state change like any other: same-site, with the CSRF token.
    const { session } = await checkedSession(ctx.req, ctx.res, id, dashboard);
    await dashboard.sessions.logout(id);
    await recordSession(deps, 'session.ended', session, { reason: 'signed_out' });
    ctx.res.removeHeader('set-cookie');
    clearSessionCookie(ctx.req, ctx.res, dashboard.secureCookies);
    return NO_CONTENT;
  });
}
