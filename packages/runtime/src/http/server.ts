import type { Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ErrorBody, ErrorCode } from '@mandate/protocol';
import { MandateError, isMandateError, newId, recordedReason } from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';
import { HTTP_STATUS } from './errors.js';
import { isRecordedRefusal } from './refusal-codes.js';
import { bodyOnce, readJsonBody } from './body.js';
import { authenticate, recentlyKnownKey } from './auth.js';
import type { HttpDeps } from './deps.js';
import { NO_CONTENT, STREAMED, createRouteTable, type Ctx, type Route } from './router.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerDecisionRoutes } from './routes/decisions.js';
import { registerApprovalRoutes } from './routes/approvals.js';
import { registerGrantRoutes } from './routes/grants.js';
import { registerPolicyRoutes } from './routes/policies.js';
import { registerPolicyLifecycleRoutes } from './routes/policy-lifecycle.js';
import { registerEntityRoutes } from './routes/entities.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerKeyRoutes } from './routes/keys.js';
import { contextFromHeaders, withContext } from '../telemetry/index.js';
import { registerAuthzenRoutes } from './routes/authzen.js';
import { registerSinkRoutes } from './routes/sinks.js';
import { registerAlertRoutes } from './routes/alerts.js';
import { registerSessionRoutes } from './routes/sessions.js';
import { registerDecisionStreamRoutes } from './routes/decision-stream.js';
import { registerOverviewRoutes } from './routes/overview.js';
import { registerOidcRoutes } from './routes/oidc.js';
import { SESSION_COOKIE, readCookie, sessionCaller } from './session-cookie.js';
import { serveDashboard } from './static.js';
import { registerUsageRoutes } from './routes/usage.js';
import { registerErasureRoutes } from './routes/erasures.js';

/** Builds the v1 HTTP API as a plain Node request listener (no framework: every byte of the hot path is ours). */
export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { routes, route } = createRouteTable();
  let inFlight = 0;
  const authenticateHeader =
    deps.authenticate ?? ((h: string | undefined) => authenticate(deps.store, h, { clock: deps.clock }));

  registerHealthRoutes(route, deps);
  // Before `/v1/decisions/:id`, which would take `stream` for an id.
  registerDecisionStreamRoutes(route, deps);
  registerDecisionRoutes(route, deps);
  registerApprovalRoutes(route, deps);
  registerGrantRoutes(route, deps);
  registerPolicyRoutes(route, deps);
  registerPolicyLifecycleRoutes(route, deps);
  registerEntityRoutes(route, deps);
  registerSinkRoutes(route, deps);
  registerAlertRoutes(route, deps);
  registerUsageRoutes(route, deps);
  registerErasureRoutes(route, deps);
  registerAuditRoutes(route, deps);
  registerKeyRoutes(route, deps);
  registerAuthzenRoutes(route, deps);
  registerSessionRoutes(route, deps);
  registerOidcRoutes(route, deps);
  registerOverviewRoutes(route, deps);

  /**
   * The caller of a request: the `Authorization` header when there is one (bearer requests are
   * unchanged), else the dashboard's session cookie (with its CSRF checks), else a 401.
   */
  const authenticateRequest = (
    req: IncomingMessage,
    res: ServerResponse,
    known: (caller: Caller) => void,
  ): Promise<Caller> => {
    const header = req.headers.authorization;
    const cookie = header === undefined && deps.dashboard ? readCookie(req, SESSION_COOKIE) : undefined;
    return cookie ? sessionCaller(req, res, cookie, deps.dashboard!, known) : authenticateHeader(header);
  };
  const reauthenticate = async (req: IncomingMessage): Promise<void> => {
    const header = req.headers.authorization;
    const cookie = header === undefined && deps.dashboard ? readCookie(req, SESSION_COOKIE) : undefined;
    if (cookie) await deps.dashboard!.sessions.check(cookie);
    else await authenticateHeader(header);
  };

  return (req, res) => {
    const requestId = newId('req', deps.clock.now());
    res.setHeader('x-request-id', requestId);
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    if (deps.shutdown?.aborted) res.setHeader('connection', 'close');
    const gateway = deps.gateway;
    // One parse of the request target decides everything after it: the MCP door, the stream
    // exemption below and the route table all read this path, so they cannot disagree.
    const url = requestTarget(req.url);
    const mcp = gateway && url?.pathname === '/mcp';
    // P3: under overload shed new requests with 503 instead of queueing without bound. A request
    // counts until its answer is done — except an MCP GET stream, which lives as long as its
    // session (the gateway caps sessions per key instead), and a decision stream (capped per key).
    const stream = req.method === 'GET' && (mcp || url?.pathname === '/v1/decisions/stream');
    if (!stream) {
      inFlight++;
      res.once('close', () => inFlight--);
      if (inFlight > deps.options.maxInFlight) {
        sendError(res, new MandateError('overloaded', 'too many requests in flight; retry later'), requestId);
        return;
      }
    }
    if (!url) {
      // SECURITY: refused before routing, authentication and the body (see requestTarget).
      sendError(
        res,
        new MandateError('bad_request', "the request target must be a path starting with a single '/'"),
        requestId,
      );
      return;
    }
    // The caller's W3C trace context (a no-op unless OpenTelemetry is configured) parents our spans.
    const traced = contextFromHeaders(req.headers);
    if (mcp) {
      withContext(traced, () =>
        gateway.handleHttp(req, res).catch((err: unknown) => sendError(res, err, requestId)),
      );
      return;
    }
    void withContext(traced, () => dispatch(req, res, url, requestId));
  };

  async function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    requestId: string,
  ): Promise<void> {
    let caller: Caller | undefined;
    // Who a session is, also when its CSRF check then refuses the request (recorded under its key).
    let sessionOf: Caller | undefined;
    let routeLabel = `${req.method} (no route)`;
    try {
      if (deps.dashboard && (url.pathname === '/ui' || url.pathname.startsWith('/ui/'))) {
        await serveDashboard(req, res, url.pathname, deps.dashboard.dir);
        deps.metrics.observeHttp(res.statusCode);
        return;
      }
      if (deps.dashboard && url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        deps.metrics.observeHttp(302);
        res.statusCode = 302;
        res.setHeader('location', '/ui/');
        res.end();
        return;
      }
      let matched: Route | undefined;
      let params: Record<string, string> = {};
      let pathMatched = false;
      for (const r of routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        matched = r;
        routeLabel = `${r.method} ${r.path}`;
        try {
          params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
        } catch {
          throw new MandateError('bad_request', 'malformed percent-encoding in the path');
        }
        break;
      }
      if (!matched) {
        throw pathMatched
          ? new MandateError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
          : new MandateError('not_found', `no route ${req.method} ${url.pathname}`);
      }
      if (url.search.length > 1) refuseRepeatedQuery(url.searchParams);
      const body = bodyOnce(req, deps.options.maxBodyBytes);
      // SECURITY: a credential looked up before the whole body was in is looked up again once it
      // is (`body()`), before the route acts on it: a client that sent its headers and held the
      // body back kept a revoked key working for up to requestTimeout — a revoked admin key minted
      // a new admin key 100 s after its revocation (a probe). A body that came with its headers is
      // in (`req.complete`) before the lookup starts, and keys this node served lately are looked
      // up after the body anyway (`received`), so the hot path pays nothing for it.
      let bodyIn = false;
      let checkedBeforeBody = false;
      const ctx: Ctx = {
        req,
        res,
        url,
        params,
        requestId,
        caller: async () => {
          if (caller) return caller;
          if (!bodyIn && !req.complete) checkedBeforeBody = true;
          return (caller = await authenticateRequest(req, res, (c) => (sessionOf = c)));
        },
        reauthenticate: () => reauthenticate(req),
        body: async () => {
          let parsed: unknown;
          let failed: unknown;
          try {
            parsed = await readJsonBody(req, body, deps.options.maxJsonDepth);
          } catch (err) {
            failed = err;
          }
          bodyIn = true;
          // A refused credential answers 401 whatever the body was — except a body too large, whose
          // unread rest must close the connection (sendError), not be parsed as the next request.
          const tooLarge = isMandateError(failed) && failed.code === 'body_too_large';
          if (checkedBeforeBody && !tooLarge) {
            checkedBeforeBody = false;
            await reauthenticate(req);
          }
          if (failed !== undefined) throw failed;
          return parsed;
        },
        received: () =>
          recentlyKnownKey(deps.store, req.headers.authorization)
            ? body.received().then(() => void (bodyIn = true))
            : Promise.resolve(),
      };
      const result = await matched.handler(ctx);
      if (result === STREAMED) return;
      if (result === NO_CONTENT) {
        deps.metrics.observeHttp(204);
        res.statusCode = 204;
        res.end();
        return;
      }
      if (typeof result === 'string') {
        send(res, res.statusCode || 200, result, 'text/plain; charset=utf-8');
      } else {
        send(res, res.statusCode || 200, JSON.stringify(result ?? null), 'application/json');
      }
    } catch (err) {
      await recordRefusal(req, err, requestId, routeLabel, caller ?? sessionOf);
      sendError(res, err, requestId);
    }
  }

  /** Refused attempts go on the record (ADR 0018); failed authentications only as counts per window. */
  async function recordRefusal(
    req: IncomingMessage,
    err: unknown,
    requestId: string,
    route: string,
    caller: Caller | undefined,
  ): Promise<void> {
    const refusals = deps.refusals;
    if (!refusals || !isMandateError(err)) return;
    if (err.code === 'unauthenticated') {
      refusals.unauthenticated(req.socket.remoteAddress ?? 'unknown', route);
      return;
    }
    // The decision path already recorded its own refusal (with a decision id).
    if (!caller || err.decisionId !== undefined) return;
    if (!isRecordedRefusal(err.code, route)) return;
    await refusals.refused({ code: err.code, reason: recordedReason(err), route, caller, requestId });
  }

  function send(res: ServerResponse, status: number, body: string, type: string) {
    deps.metrics.observeHttp(status);
    if (res.headersSent) {
      res.end();
      return;
    }
    res.statusCode = status;
    res.setHeader('content-type', type);
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  }

  function sendError(res: ServerResponse, err: unknown, requestId: string) {
    let code: ErrorCode = 'internal';
    let message = 'internal error';
    let details: unknown;
    if (isMandateError(err)) {
      code = err.code;
      message = err.message;
      details = err.details;
    } else {
      // P7: internals stay in the log, never in the answer.
      deps.logger.error('request failed', {
        requestId,
        error: (err as Error)?.message,
        stack: (err as Error)?.stack,
      });
    }
    const body: ErrorBody = { error: { code, message, requestId } };
    if (details !== undefined) body.error.details = details;
    if (isMandateError(err) && err.decisionId !== undefined) body.error.decisionId = err.decisionId;
    const status = HTTP_STATUS[code];
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A body we stopped reading half-way must not be parsed as the next request on this connection.
    if (code === 'body_too_large') res.setHeader('connection', 'close');
    const retryAfter = (details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (code === 'rate_limited' && typeof retryAfter === 'number')
      res.setHeader('retry-after', String(retryAfter));
    res.statusCode = status;
    send(res, status, JSON.stringify(body), 'application/json');
  }
}

/** Creates the Node HTTP server; keep-alive tuned for agents that call in bursts. */
export function createHttpServer(deps: HttpDeps): Server {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000 }, createHttpHandler(deps));
  server.headersTimeout = 66_000;
  trackRequests(server);
  return server;
}

/** Requests in flight on each open connection of a server made by {@link createHttpServer}. */
const inFlight = new WeakMap<Server, Map<Socket, number>>();

function trackRequests(server: Server): void {
  const open = new Map<Socket, number>();
  inFlight.set(server, open);
  server.on('connection', (socket: Socket) => {
    open.set(socket, 0);
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    open.set(socket, (open.get(socket) ?? 0) + 1);
    res.once('close', () => {
      if (open.has(socket)) open.set(socket, Math.max(0, (open.get(socket) ?? 1) - 1));
    });
  });
}

/**
 * Ends the connections of `server` with no request in flight, those that never sent one included.
 * Node's `closeIdleConnections` leaves a connection that has not sent a request yet: a client that
 * aborts a stream and opens a fresh socket at once (undici does) kept a stopping node waiting for
 * its 5 s cut (a helper timing the tests). Only at shutdown: the server no longer accepts.
 */
export function closeUnusedConnections(server: Server): void {
  server.closeIdleConnections();
  for (const [socket, n] of inFlight.get(server) ?? []) if (n === 0) socket.destroy();
}

/** The authority every accepted request target resolves against; none of them may change it. */
const BASE = 'http://localhost';

/**
 * The request target as a URL, or undefined when it is not origin-form (RFC 9112 §3.2.1: a path
 * starting with one '/'). SECURITY: `new URL('//evil.example/v1/keys', base)` reads a network-path
 * reference — host `evil.example`, path `/v1/keys` — and so does `/\evil.example/v1/keys` (the URL
 * standard reads a backslash as '/' in http URLs): the API served `/v1/keys` to a target that a front
 * proxy allowing or blocking by path prefix does not match. Absolute-form (`http://host/path`),
 * which HTTP/1.1 lets a client send to a server and Node passes through in `req.url`, is refused as
 * well: Mandate is an origin server, not a proxy, and a client that talks to it directly sends a
 * path. So are `*` (OPTIONS to the server as a whole) and an empty target.
 */
function requestTarget(raw: string | undefined): URL | undefined {
  if (raw === undefined || raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\') return undefined;
  let url: URL;
  try {
    url = new URL(raw, BASE);
  } catch {
    return undefined;
  }
  // Belt and braces: whatever else the URL parser reads as an authority is refused too.
  return url.origin === BASE && url.username === '' && url.password === '' ? url : undefined;
}

/**
 * A query parameter given twice is refused: every route reads one value, so `?effect=allow&effect=deny`
 * read as the first alone — an audit query that silently showed no denies.
 */
function refuseRepeatedQuery(q: URLSearchParams): void {
  const seen = new Set<string>();
  for (const k of q.keys()) {
    if (seen.has(k)) throw new MandateError('bad_request', `query parameter ${k} is given more than once`);
    seen.add(k);
  }
}
