import { MandateError } from '../../kernel/index.js';
import { STREAMED, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import {
  OIDC_COOKIE,
  OIDC_COOKIE_PATH,
  OIDC_TRANSACTION_SECONDS,
  decodeTransaction,
  encodeTransaction,
} from '../oidc.js';
import { appendCookie, overTls, readCookie, setSessionCookie } from '../session-cookie.js';
import { dashboardOf, recordSession } from './sessions.js';

/** OpenID Connect sign-in to the dashboard (`dashboard.oidc`): login redirects to the issuer, callback opens a session. */
export function registerOidcRoutes(route: RouteAdder, deps: HttpDeps): void {
  const oidcOf = () => {
    const dashboard = dashboardOf(deps);
    if (!dashboard.oidc) throw new MandateError('not_found', 'OpenID Connect sign-in is not configured');
    return { dashboard, oidc: dashboard.oidc };
  };
  const transactionCookie = (value: string, maxAge: number, secure: boolean) =>
    `${OIDC_COOKIE}=${value}; HttpOnly; SameSite=Lax; Path=${OIDC_COOKIE_PATH}; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;

  // Whether the sign-in page offers SSO: no session needed, nothing said beyond where to start.
  route('GET', '/v1/sessions/oidc', async () =>
    deps.dashboard?.oidc ? { enabled: true, loginUrl: '/v1/sessions/oidc/login' } : { enabled: false },
  );

  route('GET', '/v1/sessions/oidc/login', async (ctx) => {
    const { dashboard, oidc } = oidcOf();
    const { location, transaction } = await oidc.begin(ctx.req);
    const secure = dashboard.secureCookies || overTls(ctx.req);
    appendCookie(
      ctx.res,
      transactionCookie(encodeTransaction(transaction), OIDC_TRANSACTION_SECONDS, secure),
    );
    deps.metrics.observeHttp(302);
    ctx.res.statusCode = 302;
    ctx.res.setHeader('location', location);
    ctx.res.end();
    return STREAMED;
  });

  route('GET', '/v1/sessions/oidc/callback', async (ctx) => {
    const { dashboard, oidc } = oidcOf();
    const secure = dashboard.secureCookies || overTls(ctx.req);
    // The transaction is used once, whatever happens: a replayed callback finds none.
    appendCookie(ctx.res, transactionCookie('', 0, secure));
    const principal = await oidc.complete(
      ctx.url.searchParams,
      decodeTransaction(readCookie(ctx.req, OIDC_COOKIE)),
    );
    const opened = await dashboard.sessions.open(principal);
    await recordSession(deps, 'session.started', opened.session, { method: 'oidc' });
    setSessionCookie(ctx.req, ctx.res, opened, dashboard.secureCookies);
    deps.metrics.observeHttp(302);
    ctx.res.statusCode = 302;
    ctx.res.setHeader('location', '/ui/');
    ctx.res.end();
    return STREAMED;
  });
}
