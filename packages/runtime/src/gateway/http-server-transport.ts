import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '../http/body.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  InitializeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** Most messages one POST may carry (the SDK's own limit). */
export const MAX_BATCH = 100;

/** One POST that carried requests: its responses (and related messages) go back on `res`. */
interface PostStream {
  res: ServerResponse;
  /** Requests of this POST still waiting for their response, by `idKey`. */
  pending: Set<string>;
  /** JSON when the POST held one request and its response is the first message for it; SSE otherwise. */
  mode: 'undecided' | 'sse' | 'done';
  sessionId: string;
}

/**
 * The server side of MCP Streamable HTTP, written on `node:http` (ADR 0009).
 *
 * The SDK's `StreamableHTTPServerTransport` adapts every Node request to a web `Request`, answers
 * through a web `ReadableStream` and always opens an SSE stream; on the gateway's hot path that
 * adaptation cost more than the decision. This transport writes to the Node response directly and
 * answers a single request with `application/json` when its response is the first thing to send
 * for it (the spec lets the server choose); the moment a request needs to carry anything before
 * its response (progress, a sampling or elicitation request), that POST switches to
 * `text/event-stream`, so nothing the SDK would deliver is lost.
 *
 * The gateway validates Host, Origin, the credential and the session id before calling `handle`;
 * the body arrives parsed (strictly: duplicate keys are an error).
 */
export class NodeStreamableHttpServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  /**
   * Sees each incoming message before `onmessage`; returning true takes it off the SDK's path (the
   * gateway answers `tools/call` itself, through `send`). Requests it takes are routed like any other.
   */
  intercept?: (message: JSONRPCMessage) => boolean;
  /**
   * The POST that carried a request ended before its answer (the client went away). Its id stays
   * in use until the request is answered or cancelled; the gateway stops a call still held for
   * approval (nothing would ever read its answer).
   */
  onabandoned?: (id: RequestId) => void;
  private readonly streams = new Map<string, PostStream>();
  private standalone: ServerResponse | null = null;
  private closed = false;
  private initialized = false;

  constructor(readonly sessionId: string) {}

  async start(): Promise<void> {}

  /** Serves one HTTP request of this session. `body` is the parsed POST body. */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    if (this.closed) return reply(res, 404, -32001, 'Session not found');
    switch (req.method) {
      case 'POST':
        return this.post(req, res, body);
      case 'GET':
        return this.get(req, res);
      case 'DELETE':
        if (!this.initialized) return reply(res, 400, -32000, 'Bad Request: Server not initialized');
        if (badVersion(req)) return reply(res, 400, -32000, versionMessage(req));
        res.statusCode = 200;
        res.end();
        void this.close();
        return;
      default:
        res.setHeader('allow', 'GET, POST, DELETE');
        return reply(res, 405, -32000, 'Method not allowed.');
    }
  }

  private post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    if (!checkPostHeaders(req, res)) return;
    const messages = postMessages(body);
    if (!Array.isArray(messages)) return reply(res, messages.status, messages.code, messages.message);
    const init = messages.some(isInitialize);
    if (init) {
      if (this.initialized) return reply(res, 400, -32600, 'Invalid Request: Server already initialized');
      const refused = initializeRefusal(messages);
      if (refused) return reply(res, refused.status, refused.code, refused.message);
      this.initialized = true;
    } else {
      if (!this.initialized) return reply(res, 400, -32000, 'Bad Request: Server not initialized');
      if (badVersion(req)) return reply(res, 400, -32000, versionMessage(req));
    }
    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    const requests = messages.filter((m) => 'method' in m && 'id' in m) as { id: RequestId }[];
    if (requests.length === 0) {
      res.statusCode = 202;
      res.end();
      this.deliver(messages, extra);
      return;
    }
    const stream: PostStream = {
      res,
      pending: new Set(),
      mode: Array.isArray(body) ? 'sse' : 'undecided',
      sessionId: this.sessionId,
    };
    const ids = new Map<string, RequestId>();
    for (const r of requests) {
      const key = idKey(r.id);
      // SECURITY: an id twice in one batch was one pending answer for two calls: both were decided
      // and forwarded, and the client got one answer (the deny) for an action that ran (the allow).
      if (this.streams.has(key) || stream.pending.has(key))
        return reply(res, 400, -32600, `Invalid Request: request id ${String(r.id)} is already in use`);
      stream.pending.add(key);
      ids.set(key, r.id);
    }
    for (const key of stream.pending) this.streams.set(key, stream);
    if (stream.mode === 'sse') openSse(res, this.sessionId);
    res.on('close', () => {
      // The client went away: later messages for these requests have nowhere to go.
      // SECURITY: their ids stay in use (in `streams`) until each is answered or cancelled. Freed
      // here, a new request could reuse one while the old call ran on: the old call's answer went
      // to the new request's stream (a denied call shown the result of an approved one), and the
      // new one's own answer was dropped.
      const abandoned = [...stream.pending];
      stream.pending.clear();
      stream.mode = 'done';
      for (const key of abandoned) if (this.streams.get(key) === stream) this.onabandoned?.(ids.get(key)!);
    });
    this.deliver(messages, extra);
  }

  private deliver(messages: JSONRPCMessage[], extra: MessageExtraInfo): void {
    for (const m of messages) {
      if (!this.intercept?.(m)) this.onmessage?.(m, extra);
      const cancelled = cancelledRequestId(m);
      if (cancelled !== undefined) this.cancelled(idKey(cancelled));
    }
  }

  /**
   * The client cancelled a request: it gets no response (MCP: the receiver SHOULD NOT send one), so
   * its POST no longer waits for it. A stream left with nothing to wait for ends (empty SSE for a
   * POST that had only that request), instead of staying open until the client gives up.
   */
  private cancelled(key: string): void {
    const stream = this.streams.get(key);
    if (stream) this.settle(key, stream);
  }

  /** A request of `stream` needs nothing more sent (answered or cancelled); the last one ends the stream. */
  private settle(key: string, stream: PostStream): void {
    this.streams.delete(key);
    stream.pending.delete(key);
    if (stream.pending.size > 0 || stream.mode === 'done') return;
    if (stream.mode === 'undecided') openSse(stream.res, stream.sessionId);
    stream.mode = 'done';
    stream.res.end();
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? '').includes('text/event-stream'))
      return reply(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    if (!this.initialized) return reply(res, 400, -32000, 'Bad Request: Server not initialized');
    if (badVersion(req)) return reply(res, 400, -32000, versionMessage(req));
    if (this.standalone)
      return reply(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    this.standalone = res;
    openSse(res, this.sessionId);
    res.on('close', () => {
      if (this.standalone === res) this.standalone = null;
    });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const isResponse = !('method' in message);
    const id = isResponse ? (message as { id: RequestId }).id : options?.relatedRequestId;
    if (id === undefined) {
      if (isResponse) throw new Error('a response needs the request it answers');
      // Unrelated server → client messages go on the GET stream when the client has one open.
      if (this.standalone) writeEvent(this.standalone, message);
      return;
    }
    const key = idKey(id);
    const stream = this.streams.get(key);
    if (!stream || stream.mode === 'done') {
      if (isResponse) this.streams.delete(key);
      throw new Error(`No connection established for request ID: ${String(id)}`);
    }
    if (stream.mode === 'undecided') {
      if (isResponse) {
        // The common case: one request, answered before anything else was sent for it.
        stream.mode = 'done';
        this.streams.delete(key);
        stream.pending.delete(key);
        const text = JSON.stringify(message);
        stream.res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'mcp-session-id': stream.sessionId,
        });
        stream.res.end(text);
        return;
      }
      stream.mode = 'sse';
      openSse(stream.res, stream.sessionId);
    }
    writeEvent(stream.res, message);
    if (isResponse) this.settle(key, stream);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const open = new Set(this.streams.values());
    this.streams.clear();
    for (const s of open) {
      if (s.mode === 'undecided') reply(s.res, 404, -32001, 'Session closed');
      else if (!s.res.writableEnded) s.res.end();
      s.mode = 'done';
    }
    if (this.standalone && !this.standalone.writableEnded) this.standalone.end();
    this.standalone = null;
    this.onclose?.();
  }
}

/** Why a POST is refused before anything of it is delivered: the HTTP status and the JSON-RPC error. */
interface Refusal {
  status: number;
  code: number;
  message: string;
}

/** A POST body's messages, or why it is refused as a whole. */
function postMessages(body: unknown): JSONRPCMessage[] | Refusal {
  const raw = Array.isArray(body) ? body : [body];
  if (raw.length === 0) return { status: 400, code: -32600, message: 'Invalid Request: empty batch' };
  if (raw.length > MAX_BATCH)
    return {
      status: 400,
      code: -32600,
      message: `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`,
    };
  for (const m of raw)
    if (!isJsonRpcMessage(m))
      return { status: 400, code: -32700, message: 'Parse error: Invalid JSON-RPC message' };
  return raw as JSONRPCMessage[];
}

function isInitialize(m: JSONRPCMessage): boolean {
  return 'method' in m && m.method === 'initialize';
}

/** Why a POST carrying an `initialize` cannot open a session: not alone in its POST, or no request. */
function initializeRefusal(messages: JSONRPCMessage[]): Refusal | undefined {
  if (messages.length > 1)
    return {
      status: 400,
      code: -32600,
      message: 'Invalid Request: Only one initialization request is allowed',
    };
  if (!('id' in messages[0]!))
    return {
      status: 400,
      code: -32600,
      message: 'Invalid Request: initialize must be a request (with an id)',
    };
  return undefined;
}

/**
 * Whether a POST without a session may open one: what `handle` would refuse of it (headers, the
 * body's shape, an initialize not alone or not a request) is answered here, and false returned,
 * before anything is opened for it.
 */
export function acceptsInitialize(req: IncomingMessage, res: ServerResponse, body: unknown): boolean {
  if (!checkPostHeaders(req, res)) return false;
  const refused = initializeBodyRefusal(body);
  if (refused) reply(res, refused.status, refused.code, refused.message);
  return !refused;
}

function initializeBodyRefusal(body: unknown): Refusal | undefined {
  const messages = postMessages(body);
  if (!Array.isArray(messages)) return messages;
  if (!messages.some(isInitialize))
    return { status: 400, code: -32000, message: 'Bad Request: Server not initialized' };
  const refused = initializeRefusal(messages);
  if (refused) return refused;
  // The SDK would answer an initialize it cannot parse with an error, on a session already open.
  if (!InitializeRequestSchema.safeParse(messages[0]).success)
    return { status: 400, code: -32602, message: 'Invalid params: not an MCP initialize request' };
  return undefined;
}

/** The request a `notifications/cancelled` from the client names, or undefined for any other message. */
export function cancelledRequestId(m: JSONRPCMessage): RequestId | undefined {
  if (!('method' in m) || m.method !== 'notifications/cancelled' || 'id' in m) return undefined;
  const id = (m.params as { requestId?: unknown } | undefined)?.requestId;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

/** A request id as a map key: the number 1 and the string "1" are different ids. */
export function idKey(id: RequestId): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

function openSse(res: ServerResponse, sessionId: string): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'mcp-session-id': sessionId,
  });
  res.flushHeaders();
}

function writeEvent(res: ServerResponse, message: JSONRPCMessage): void {
  if (!res.writableEnded) res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

/** Accept must name JSON and SSE, Content-Type must be JSON; otherwise answers 406/415 and returns false. */
export function checkPostHeaders(req: IncomingMessage, res: ServerResponse): boolean {
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    reply(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    return false;
  }
  if (!isJsonContentType(req.headers['content-type'])) {
    reply(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    return false;
  }
  return true;
}

/** A JSON-RPC error answer with an HTTP status (no session was touched). */
export function reply(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function badVersion(req: IncomingMessage): boolean {
  const v = req.headers['mcp-protocol-version'];
  return typeof v === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(v);
}

function versionMessage(req: IncomingMessage): string {
  return `Bad Request: Unsupported protocol version: ${String(req.headers['mcp-protocol-version'])} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`;
}

/** The shape checks of a JSON-RPC 2.0 request, notification or response (what the SDK's schema checks). */
const JSON_RPC_MEMBERS: ReadonlySet<string> = new Set([
  'jsonrpc',
  'id',
  'method',
  'params',
  'result',
  'error',
]);

export function isJsonRpcMessage(m: unknown): m is JSONRPCMessage {
  if (!m || typeof m !== 'object' || Array.isArray(m)) return false;
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return false;
  // JSON-RPC 2.0 has no other members, and the SDK's schemas are strict: a message with one passed
  // here and was then dropped by the SDK without an answer (the stdio client waited for ever).
  for (const k in o) if (!JSON_RPC_MEMBERS.has(k)) return false;
  const hasId = 'id' in o;
  if (hasId && typeof o.id !== 'string' && !(typeof o.id === 'number' && Number.isInteger(o.id)))
    return false;
  if ('method' in o) {
    if (typeof o.method !== 'string' || 'result' in o || 'error' in o) return false;
    if ('params' in o && (typeof o.params !== 'object' || o.params === null || Array.isArray(o.params)))
      return false;
    return true;
  }
  if (!hasId) return false;
  if ('result' in o)
    return typeof o.result === 'object' && o.result !== null && !Array.isArray(o.result) && !('error' in o);
  if ('error' in o) {
    const e = o.error as Record<string, unknown> | null;
    return (
      !!e &&
      typeof e === 'object' &&
      Number.isInteger(e.code) &&
      typeof e.message === 'string' &&
      !('result' in o)
    );
  }
  return false;
}
