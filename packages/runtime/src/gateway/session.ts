import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  ErrorCode,
  McpError,
  ResultSchema,
  type ClientCapabilities,
  type JSONRPCMessage,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { MandateError, isMandateError, latestFlight } from '../kernel/index.js';
import { callerIdentity, type Caller } from '../decisions/index.js';
import type { Catalog } from './catalog.js';
import type { NodeStreamableHttpServerTransport } from './http-server-transport.js';
import type { GatewayContext } from './options.js';
import { createPassthrough, isPassthrough } from './passthrough.js';
import { describe, progressSender, upstreamError, upstreamResult } from './results.js';
import type { SessionScope } from './scope.js';
import { createSessionTools } from './tools.js';
import { listConnTools } from './conn-listing.js';
import { connectUpstream, type Conn, type UpstreamEvents } from './upstream-connection.js';

/** Requests an upstream may send its client, and the client capability each needs. */
const CLIENT_REQUESTS: Record<string, keyof ClientCapabilities> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export interface OpenSession {
  server: Server;
  close(): Promise<void>;
  /** The transport authenticated the session's credential just now (a request of this session). */
  authenticated(): void;
  /** Answers `tools/call` straight from an HTTP transport (ADR 0009). */
  attachFastPath(t: NodeStreamableHttpServerTransport): void;
}

/**
 * A decision this long (ms) after the transport last authenticated a request of the session
 * authenticates its credential again first. Longer than a request takes from its authentication
 * to its decision, so the hot path of an HTTP request reads nothing more.
 */
const REAUTHENTICATE_AFTER_MS = 100;

/**
 * One downstream session: its own connection to every upstream (declaring exactly the client's
 * capabilities), the SDK `Server` answering the client, and every method routed by name.
 */
export async function openSession(
  ctx: GatewayContext,
  catalog: Catalog,
  caller: Caller,
  clientCaps: ClientCapabilities,
  sessionLabel: () => string | undefined,
  reauthenticate?: () => Promise<Caller>,
  /** Each request of the session comes with its credential, checked by the transport (`authenticated()`). */
  transportAuthenticates = false,
): Promise<OpenSession> {
  const { deps, options, logger } = ctx;
  // SECURITY: only agent credentials speak MCP; the agent id and its user come from the credential and config.
  if (caller.role !== 'agent' || !caller.subject)
    throw new MandateError(
      'forbidden',
      'the MCP gateway needs an agent credential (an API key or JWT of role agent)',
    );
  const agent = caller.subject;
  const onBehalfOf = callerUser(caller, options.onBehalfOf ?? {});
  /** When the transport last authenticated a request of this session (never, for stdio). */
  let authenticatedAt = transportAuthenticates ? deps.clock.now() : -Infinity;
  /**
   * SECURITY: a decision that is not part of a request the transport just authenticated checks
   * the credential again. A call held for approval was decided again (and forwarded) under an API
   * key revoked during the wait (a probe: 1.25 s after key.revoked); a stdio session, authenticated
   * once at start, rechecked only 100 ms after its last check, so a chatty agent's calls went on
   * being allowed for up to 100 ms after `DELETE /v1/keys` answered (a probe). A check of its own
   * never opens such a window: only the transport's authentication of a request does, for that
   * request. `fresh`: check whatever the transport did (a decision made after a wait). A revoked or
   * expired credential, or one that now names another caller, decides nothing.
   */
  const credentialStillHolds = async (fresh = false): Promise<void> => {
    if (!reauthenticate || (!fresh && deps.clock.now() - authenticatedAt <= REAUTHENTICATE_AFTER_MS)) return;
    const now = await reauthenticate();
    if (callerIdentity(now) !== callerIdentity(caller))
      throw new MandateError('forbidden', "this session's credential now names another caller");
  };
  const conns = new Map<string, Conn>();
  /** `tools/call` requests answered on the hot path, by request id, for cancellation. */
  const fastCalls = new Map<string, FastCall>();
  let server: Server | undefined;
  let closing = false;

  /**
   * SECURITY: what an upstream sends the client on its own (notifications, its sampling or
   * elicitation requests) goes only to a caller whose credential still holds, checked like a
   * request of the session. A revoked key's open GET stream went on receiving an upstream's
   * messages, and its session and upstream processes lived on until sessionIdleMs; a refused
   * credential now closes the session (stream, upstream connections). Any other failure to check
   * drops the message and keeps the session.
   */
  const clientMayReceive = async (): Promise<boolean> => {
    try {
      await credentialStillHolds();
      return true;
    } catch (err) {
      const refused = isMandateError(err) && (err.code === 'unauthenticated' || err.code === 'forbidden');
      logger.warn(
        refused
          ? "the MCP session's credential no longer holds: closing the session"
          : "could not check the MCP session's credential: an upstream message was dropped",
        { key: caller.keyId, error: describe(err) },
      );
      if (refused) await server?.close().catch(() => undefined);
      return false;
    }
  };

  const latest = (conn: Conn): RequestId | undefined => conn.inflight[conn.inflight.length - 1];

  /**
   * Re-listing after `list_changed`, per upstream connection: one listing in flight and at most one
   * more queued behind it, shared by every notification that came meanwhile (it starts after them
   * all, so it sees what they announced). A probe's upstream sent 100 in a row and was listed 100
   * times, each listing a changed definition pinned and recorded again.
   */
  const relists = new WeakMap<Conn, () => Promise<void>>();
  /** The listings whose notification went on to the client already: one per listing is enough. */
  const announced = new WeakSet<Promise<void>>();
  const relist = (conn: Conn): Promise<void> => {
    let run = relists.get(conn);
    if (!run) {
      run = latestFlight(async () => {
        try {
          await listConnTools(ctx, catalog, conn);
        } catch (err) {
          // The connection is unlisted now: its next call lists it again first, or is refused.
          logger.warn('re-listing tools after list_changed failed', {
            server: conn.cfg.name,
            error: (err as Error).message,
          });
        }
      });
      relists.set(conn, run);
    }
    return run();
  };

  /**
   * SECURITY: a connection opened or re-opened lists its tools before any call goes over it
   * (conn-listing.ts): its process or HTTP session may serve another definition than any listing
   * so far. In the background — the session does not wait for it — but a call on it does.
   */
  const listOpened = (conn: Conn): void => {
    void listConnTools(ctx, catalog, conn).catch((err: unknown) => {
      if (!closing)
        logger.warn("could not list a new upstream connection's tools: no call goes over it until it lists", {
          server: conn.cfg.name,
          error: (err as Error)?.message,
        });
    });
  };

  const events: UpstreamEvents = {
    async notification(conn, n) {
      if (!server || !(await clientMayReceive())) return;
      if (n.method === 'notifications/tools/list_changed') {
        // Re-check pins now: a changed definition is quarantined before any client sees it.
        const listing = relist(conn);
        await listing;
        // The client is told once per listing: the others that waited on it said the same.
        if (announced.has(listing)) return;
        announced.add(listing);
      }
      const rel = latest(conn);
      await server
        .notification(n as never, rel !== undefined ? { relatedRequestId: rel } : undefined)
        .catch((err: Error) =>
          logger.debug('notification not delivered', { method: n.method, error: err.message }),
        );
    },
    async request(conn, r, signal) {
      if (!server) throw new McpError(ErrorCode.InternalError, 'no client session');
      if (!(await clientMayReceive()))
        throw new McpError(ErrorCode.InternalError, "the client session's credential no longer holds");
      // SECURITY: the upstream may ask only for what the client declared (it was told nothing else).
      const needs = CLIENT_REQUESTS[r.method];
      if (!needs || !clientCaps[needs])
        throw new McpError(ErrorCode.MethodNotFound, `the client does not support ${r.method}`);
      // Sampling, elicitation and roots requests pass through to the client, on the stream of the call that caused them.
      const rel = latest(conn);
      return (await server.request({ method: r.method, params: r.params } as never, ResultSchema, {
        signal,
        ...(rel !== undefined ? { relatedRequestId: rel } : {}),
      })) as Record<string, unknown>;
    },
    closed(conn) {
      if (closing || conns.get(conn.cfg.name) !== conn) return;
      conns.delete(conn.cfg.name);
      logger.warn('upstream connection closed; reconnecting', { server: conn.cfg.name });
      void reconnect(conn.cfg, 0);
    },
  };

  async function reconnect(u: Conn['cfg'], attempt: number): Promise<void> {
    const delay = Math.min(30_000, 250 * 2 ** attempt);
    await new Promise((r) => setTimeout(r, delay).unref());
    if (closing) return;
    try {
      const conn = await connectUpstream(ctx, u, clientCaps, events);
      if (closing) {
        await conn.client.close().catch(() => undefined);
        return;
      }
      conns.set(u.name, conn);
      listOpened(conn);
      logger.info('upstream reconnected', { server: u.name, attempt });
    } catch (err) {
      logger.warn('upstream reconnect failed', { server: u.name, attempt, error: (err as Error).message });
      void reconnect(u, attempt + 1);
    }
  }

  const close = async () => {
    closing = true;
    for (const c of fastCalls.values()) c.cancel.abort('the session closed');
    await Promise.allSettled([...conns.values()].map((c) => c.client.close()));
    conns.clear();
    await server?.close().catch(() => undefined);
  };

  try {
    const settled = await Promise.allSettled(
      options.upstreams.map((u) => connectUpstream(ctx, u, clientCaps, events)),
    );
    settled.forEach((r, i) => {
      const u = options.upstreams[i]!;
      if (r.status === 'fulfilled') {
        conns.set(u.name, r.value);
        listOpened(r.value);
      } else {
        logger.error('upstream unavailable', { server: u.name, error: (r.reason as Error)?.message });
        void reconnect(u, 0);
      }
    });
  } catch (err) {
    await close();
    throw err;
  }

  const caps: ServerCapabilities = { tools: { listChanged: true } };
  for (const c of conns.values()) {
    if (c.caps.resources) caps.resources = { ...(caps.resources ?? {}), ...c.caps.resources };
    if (c.caps.prompts) caps.prompts = { ...(caps.prompts ?? {}), ...c.caps.prompts };
    if (c.caps.logging) caps.logging = {};
    if (c.caps.completions) caps.completions = {};
    // SECURITY: an upstream's `instructions` are not passed on. They go straight into the agent's
    // context (a probe's upstream sent "IGNORE PREVIOUS INSTRUCTIONS…"), and unlike a tool's
    // description nothing pins, reviews or records them: they could change at any connection.
    if (c.instructions)
      logger.debug("an upstream's initialize instructions were not passed to the client", {
        server: c.cfg.name,
        length: c.instructions.length,
      });
  }
  server = new Server({ name: 'mandate-gateway', version: '0.1.0' }, { capabilities: caps });
  server.removeRequestHandler('logging/setLevel');
  const srv = server;

  const scope: SessionScope = {
    ctx,
    catalog,
    caller,
    agent,
    onBehalfOf,
    clientCaps,
    conns,
    server: () => srv,
    async decide(action, args, approvalId, call = {}, after = 'request') {
      await credentialStillHolds(after === 'wait');
      const label = sessionLabel();
      return deps.decisions.decide(
        { agent, onBehalfOf, action, args, approvalId, ...(label ? { sessionId: label } : {}) },
        caller,
        { toolHash: null, ...call },
      );
    },
    async forward(conn, method, params, id, signal) {
      conn.inflight.push(id);
      try {
        return upstreamResult(
          (await conn.client.request({ method, params } as never, ResultSchema, {
            signal,
            timeout: ctx.callTimeoutMs,
          })) as Record<string, unknown>,
        );
      } catch (err) {
        throw upstreamError(err);
      } finally {
        conn.inflight.splice(conn.inflight.indexOf(id), 1);
      }
    },
  };
  const tools = createSessionTools(scope);
  const passthrough = createPassthrough(scope);

  srv.fallbackRequestHandler = async (request, extra) => {
    const params = (request.params ?? {}) as Record<string, unknown>;
    // Every request of the session, not only the decided ones: a revoked key lists nothing more
    // either (tools/call checks in its decision).
    if (request.method !== 'tools/call') await credentialStillHolds();
    if (request.method === 'tools/list') return tools.listTools() as never;
    if (request.method === 'tools/call') {
      const sendProgress = progressSender(params, (n) => extra.sendNotification(n as never));
      return tools.callTool(params, extra.requestId, extra.signal, sendProgress) as never;
    }
    if (isPassthrough(request.method))
      return passthrough.handle(request.method, params, extra.requestId, extra.signal) as never;
    // SECURITY: methods the gateway does not know are refused, so nothing slips past the check.
    throw new McpError(
      ErrorCode.MethodNotFound,
      `method ${request.method} is not supported by the Mandate gateway`,
    );
  };
  srv.fallbackNotificationHandler = async (n) => {
    if (n.method === 'notifications/roots/list_changed' && clientCaps.roots) {
      await Promise.allSettled([...conns.values()].map((c) => c.client.notification(n as never)));
    }
  };

  /**
   * The hot path on HTTP (ADR 0009): the transport hands `tools/call` straight to `callTool` and
   * the answer goes back through it, past the SDK server's per-request machinery. Everything
   * else, and everything a call sends the client on the way (progress, elicitation), still goes
   * through the SDK `Server` on the same transport. Mirrors the SDK: a cancelled call gets no
   * answer, and a thrown error becomes a JSON-RPC error with its code and data.
   */
  const callKey = (id: unknown) => `${typeof id}:${String(id)}`;
  function attachFastPath(t: NodeStreamableHttpServerTransport): void {
    t.intercept = (message) => {
      const m = message as Record<string, unknown>;
      if (m.method === 'notifications/cancelled') {
        const requestId = (m.params as Record<string, unknown> | undefined)?.requestId;
        fastCalls
          .get(callKey(requestId))
          ?.cancel.abort(
            (m.params as Record<string, unknown> | undefined)?.reason ?? 'cancelled by the client',
          );
        return false;
      }
      if (m.method !== 'tools/call' || !('id' in m)) return false;
      void answerCall(t, m.id as RequestId, (m.params ?? {}) as Record<string, unknown>);
      return true;
    };
    // A call still held for approval whose client went away is not made: its answer could reach
    // no one (no resumable streams), and the agent, told nothing, may well ask again.
    t.onabandoned = (id) => fastCalls.get(callKey(id))?.abandoned.abort('the client went away');
  }
  async function answerCall(
    t: NodeStreamableHttpServerTransport,
    id: RequestId,
    params: Record<string, unknown>,
  ): Promise<void> {
    const key = callKey(id);
    // The transport keeps an id in use until it is answered or cancelled, so no other call holds
    // this key meanwhile; the check on delete keeps it so should a late cancellation free it first.
    const call: FastCall = { cancel: new AbortController(), abandoned: new AbortController() };
    const ac = call.cancel;
    fastCalls.set(key, call);
    const sendProgress = progressSender(params, (n) =>
      t.send({ jsonrpc: '2.0', ...n }, { relatedRequestId: id }),
    );
    let response: JSONRPCMessage;
    try {
      const result = await tools.callTool(params, id, ac.signal, sendProgress, call.abandoned.signal);
      response = { jsonrpc: '2.0', id, result };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown; data?: unknown };
      response = {
        jsonrpc: '2.0',
        id,
        error: {
          code: Number.isSafeInteger(e?.code) ? (e.code as number) : ErrorCode.InternalError,
          message: typeof e?.message === 'string' ? e.message : 'Internal error',
          ...(e?.data !== undefined ? { data: e.data } : {}),
        },
      };
    } finally {
      if (fastCalls.get(key) === call) fastCalls.delete(key);
    }
    if (ac.signal.aborted) return;
    await t
      .send(response)
      .catch((err: Error) => logger.debug('tools/call answer not delivered', { error: err.message }));
  }

  const authenticated = () => {
    authenticatedAt = deps.clock.now();
  };
  return { server: srv, close, attachFastPath, authenticated };
}

/** A `tools/call` on the hot path: cancelled by the client, or abandoned (its POST ended unanswered). */
interface FastCall {
  cancel: AbortController;
  abandoned: AbortController;
}

/** The user an agent acts for: a verified credential that names one wins, else the server's own mapping. */
function callerUser(caller: Caller, map: Record<string, string>): string | null {
  if (caller.onBehalfOf !== undefined) return caller.onBehalfOf;
  // SECURITY: own keys only — an agent named `constructor` or `toString` (an id, a JWT `sub`) read
  // Object's prototype as the user it acts for: every call failed as `audit_unavailable` and left
  // no record (a probe).
  const own = (k: string | null | undefined): string | undefined =>
    k && Object.hasOwn(map, k) && typeof map[k] === 'string' ? map[k] : undefined;
  return own(caller.keyId) ?? own(caller.subject) ?? null;
}
