import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { decodeUtf8Strict, isMandateError, parseJsonStrict, recordedReason } from '../kernel/index.js';
import { callerIdentity, type Caller } from '../decisions/index.js';
import { bodyOnce } from '../http/body.js';
import { NodeStreamableHttpServerTransport, acceptsInitialize, reply } from './http-server-transport.js';
import type { GatewayContext } from './options.js';
import { describe, isRecord } from './results.js';
import type { OpenSession } from './session.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

interface HttpSession {
  transport: NodeStreamableHttpServerTransport;
  caller: Caller;
  lastUsed: number;
  /** The `Authorization` of the session's latest request: what a later decision checks again. */
  authorization: string | undefined;
  /** Set once the session is open. */
  opened?: OpenSession;
}

/** `/mcp` over Streamable HTTP: authentication, Host/Origin checks, and the bounded set of open sessions. */
export interface HttpEndpoint {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Open sessions (each holds a connection, for stdio a process, per upstream). */
  size(): number;
  close(): void;
}

export function createHttpEndpoint(
  ctx: GatewayContext,
  open: (
    caller: Caller,
    caps: ClientCapabilities,
    label: () => string | undefined,
    reauthenticate: () => Promise<Caller>,
  ) => Promise<OpenSession>,
): HttpEndpoint {
  const { deps, options, logger } = ctx;
  /** Sessions by id; insertion order is recency of use (a request moves its session to the end). */
  const sessions = new Map<string, HttpSession>();
  const maxSessionsPerKey = options.maxSessionsPerKey ?? 16;
  const maxSessions = options.maxSessions ?? 32;
  const sessionIdleMs = options.sessionIdleMs ?? 5 * 60_000;
  // Each session holds upstream connections (a process per stdio upstream): idle ones are closed.
  const idleSweep = setInterval(
    () => {
      const cutoff = deps.clock.now() - sessionIdleMs;
      for (const [id, s] of sessions) {
        if (s.lastUsed >= cutoff) break; // the rest were used more recently
        logger.info('closing an idle MCP session', { sessionId: id, key: s.caller.keyId });
        void s.transport.close();
      }
    },
    Math.min(60_000, Math.max(1000, Math.floor(sessionIdleMs / 4))),
  );
  idleSweep.unref();

  function originAllowed(origin: string | undefined): boolean {
    if (!origin) return true;
    if ((options.allowedOrigins ?? []).includes(origin)) return true;
    try {
      return LOOPBACK.has(new URL(origin).hostname);
    } catch {
      return false;
    }
  }
  function hostAllowed(host: string | undefined): boolean {
    if (!host) return false;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    return LOOPBACK.has(name) || (options.allowedHosts ?? []).includes(name);
  }

  /**
   * Sessions still opening (their upstream processes starting), by caller and in all. SECURITY:
   * they hold upstream connections before they are in `sessions`: twelve concurrent initializes
   * with maxSessions 4 started 25 stdio upstream processes (a probe). They count against the caps.
   */
  const opening = new Map<string, number>();
  let openingTotal = 0;
  const openingOf = (caller: Caller) => opening.get(callerIdentity(caller)) ?? 0;
  /** Holds a slot for a session being opened, or false when the openings alone fill a cap. */
  function reserve(caller: Caller): boolean {
    if (openingTotal >= maxSessions || openingOf(caller) >= maxSessionsPerKey) return false;
    opening.set(callerIdentity(caller), openingOf(caller) + 1);
    openingTotal++;
    return true;
  }
  function release(caller: Caller): void {
    const n = openingOf(caller) - 1;
    if (n > 0) opening.set(callerIdentity(caller), n);
    else opening.delete(callerIdentity(caller));
    openingTotal--;
  }

  /**
   * Closes sessions until one more fits: first the key's own past its cap, then anyone's past the
   * total. Sessions still opening count (they cannot be closed; `reserve` refuses past them).
   */
  function makeRoom(caller: Caller): void {
    const closeOld = (s: HttpSession, why: string) => {
      logger.info(why, { sessionId: s.transport.sessionId, key: s.caller.keyId });
      sessions.delete(s.transport.sessionId);
      void s.transport.close();
    };
    // SECURITY: a key cannot pile up sessions (each holds upstream connections): past the cap its
    // least recently used session is closed; that client gets 404 and starts a new one.
    // Per caller, not per key id: tokens of one sub acting for other users do not evict each other.
    const mine = [...sessions.values()].filter((x) => callerIdentity(x.caller) === callerIdentity(caller));
    for (const old of mine.slice(0, Math.max(0, mine.length + openingOf(caller) - maxSessionsPerKey + 1)))
      closeOld(old, 'closing the least recently used MCP session of a key at its cap');
    // Nor can all keys together: the processes of stdio upstreams are bounded by maxSessions.
    const all = [...sessions.values()];
    for (const old of all.slice(0, Math.max(0, all.length + openingTotal - maxSessions + 1)))
      closeOld(old, 'closing the least recently used MCP session: the gateway is at maxSessions');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // SECURITY: DNS rebinding — only loopback or configured Host and Origin values reach the gateway.
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin)) {
      return reply(res, 403, -32000, 'forbidden Host or Origin');
    }
    const incoming = bodyOnce(req, options.maxBodyBytes ?? 4 * 1024 * 1024);
    // PERF: a POST with a key this node served lately waits for its whole body before the caller is
    // looked up, so authenticating and the tools/call decision run in one turn and share one read of
    // the cache epoch (storage/read-cache.ts). Anyone else is authenticated first, without waiting
    // for the body; either way it is parsed only once the caller is known.
    const waited = req.method === 'POST' && deps.knownKey?.(req.headers.authorization) === true;
    if (waited) await incoming.received();
    // Whether the whole request was in before its credential was looked up (see below). The turn
    // this runs in is the one that parsed the headers; a body that came with them is parsed by the
    // end of that turn, so one microtask later `req.complete` says so.
    if (!waited) await Promise.resolve();
    const completeFirst = waited || req.complete;
    let caller: Caller;
    try {
      caller = await deps.authenticate(req.headers.authorization);
    } catch (err) {
      return refuseCredential(req, res, err);
    }
    if (caller.role !== 'agent') {
      const reason = 'the MCP gateway needs an agent credential (an API key or JWT of role agent)';
      await deps.refused?.({ code: 'forbidden', reason, caller });
      return reply(res, 403, -32001, reason);
    }
    let body: unknown;
    if (req.method === 'POST') {
      let failed: unknown;
      try {
        body = parseBody(await incoming.bytes());
      } catch (err) {
        failed = err;
      }
      const tooLarge = isMandateError(failed) && failed.code === 'body_too_large';
      // SECURITY: a credential looked up before the whole body was in is looked up again now that
      // it is: a client holding its body back kept a revoked key working for up to requestTimeout
      // (a probe; http/server.ts does the same for /v1). Not for a body too large: its unread rest
      // must close the connection below.
      if (!completeFirst && !tooLarge) {
        try {
          caller = await deps.authenticate(req.headers.authorization);
        } catch (err) {
          return refuseCredential(req, res, err);
        }
      }
      if (failed !== undefined) {
        // The rest of an oversized body is never read: it must not be parsed as the next request.
        if (tooLarge) res.setHeader('connection', 'close');
        // As on /v1: input refused of a known caller is on the record (audit.md, refused attempts).
        if (isMandateError(failed))
          await deps.refused?.({ code: failed.code, reason: recordedReason(failed), caller });
        return reply(res, tooLarge ? 413 : 400, -32700, `Parse error: ${describe(failed)}`);
      }
    }
    return serve(req, res, caller, body);
  }

  /** A refused credential: 401, and a session running on that same credential is closed. */
  function refuseCredential(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // The credential a session runs on was refused (revoked, expired): that session is closed
    // now, with its upstream connections, not at sessionIdleMs. Only by the same credential.
    const sid = req.headers['mcp-session-id'];
    const s = typeof sid === 'string' ? sessions.get(sid) : undefined;
    const refused = isMandateError(err) && err.code === 'unauthenticated';
    if (
      refused &&
      s &&
      req.headers.authorization !== undefined &&
      s.authorization === req.headers.authorization
    ) {
      logger.info('closing an MCP session: its credential was refused', {
        sessionId: sid,
        key: s.caller.keyId,
      });
      void s.transport.close();
    }
    res.setHeader('www-authenticate', 'Bearer');
    return reply(res, 401, -32001, describe(err));
  }

  /** An authenticated agent's request, its body parsed: to its session, or one opened for it. */
  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    body: unknown,
  ): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const s = sessions.get(sid);
      // SECURITY: a session id is not a credential — it serves only the caller that opened it: the
      // same key, role, subject and user acted for (a JWT acting for another user shares the key id).
      // Another caller presenting it is on the record (an expired or unknown id is ordinary and is not).
      if (!s || callerIdentity(s.caller) !== callerIdentity(caller)) {
        if (s)
          await deps.refused?.({ code: 'forbidden', reason: 'an MCP session of another caller', caller });
        return reply(res, 404, -32001, 'Session not found');
      }
      s.lastUsed = deps.clock.now();
      // The credential this request came with is the one a later decision of it checks again.
      s.authorization = req.headers.authorization;
      s.opened?.authenticated();
      sessions.delete(sid);
      sessions.set(sid, s);
      return s.transport.handle(req, res, body);
    }
    const init = Array.isArray(body) ? body.find(isInitialize) : isInitialize(body) ? body : undefined;
    if (req.method !== 'POST' || !init)
      return reply(
        res,
        400,
        -32000,
        'Bad Request: Mcp-Session-Id header is required (send initialize first)',
      );
    // SECURITY: refuse what the transport would refuse before opening upstream connections for it:
    // a refused initialize (e.g. batched with a ping) left a session and its upstream processes open
    // with no id given to close it, counted toward maxSessions until the idle timeout.
    if (!acceptsInitialize(req, res, body)) return;
    const clientCaps = ((init as { params?: { capabilities?: ClientCapabilities } }).params?.capabilities ??
      {}) as ClientCapabilities;
    const t = new NodeStreamableHttpServerTransport(randomUUID());
    const entry: HttpSession = {
      transport: t,
      caller,
      lastUsed: deps.clock.now(),
      authorization: req.headers.authorization,
    };
    makeRoom(caller);
    if (!reserve(caller))
      return reply(
        res,
        503,
        -32000,
        'too many MCP sessions are being opened at once (maxSessions); try again',
      );
    let opened: OpenSession;
    try {
      opened = await open(
        caller,
        clientCaps,
        () => t.sessionId,
        () => deps.authenticate(entry.authorization),
      );
    } catch (err) {
      return reply(res, isMandateError(err) && err.code === 'forbidden' ? 403 : 502, -32000, describe(err));
    } finally {
      release(caller);
    }
    // Again: sessions opened meanwhile count too.
    makeRoom(caller);
    entry.opened = opened;
    sessions.set(t.sessionId, entry);
    t.onclose = () => {
      sessions.delete(t.sessionId);
      void opened.close();
    };
    await opened.server.connect(t);
    opened.attachFastPath(t);
    t.handle(req, res, body);
  }

  return {
    handle,
    size: () => sessions.size,
    close() {
      clearInterval(idleSweep);
      sessions.clear();
    },
  };
}

function isInitialize(m: unknown): boolean {
  return isRecord(m) && m.method === 'initialize';
}

/** Parses a `/mcp` body the way Mandate reads all input: strict UTF-8, duplicate keys rejected. */
function parseBody(bytes: Buffer): unknown {
  return bytes.length === 0 ? undefined : parseJsonStrict(decodeUtf8Strict(bytes));
}
