import http, { type IncomingMessage, type ClientRequest } from 'node:http';
import https from 'node:https';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isMandateError } from '../kernel/index.js';
import { readBodyBytes } from '../http/body.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Largest single JSON body or SSE event accepted from an upstream. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * The client side of MCP Streamable HTTP, written on `node:http` with a keep-alive agent (ADR 0009).
 *
 * Replaces the SDK's `StreamableHTTPClientTransport` (undici `fetch`, web streams) on the gateway's
 * upstream connections. It speaks the same protocol: every message is a POST that accepts JSON or
 * SSE; the `Mcp-Session-Id` from the initialize answer and the negotiated protocol version go on
 * every later request; after `notifications/initialized` it opens the GET stream for the server's
 * own messages (reopened with backoff while the transport is open, skipped on 405). Redirects are
 * not followed. An upstream that forgets the session (404 on a session request — it restarted)
 * closes the transport, so the gateway reconnects and initialises afresh.
 *
 * SECURITY: only the headers given here (the gateway's own credentials from config) are sent.
 */
export class NodeStreamableHttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  sessionId?: string;
  private protocolVersion?: string;
  private readonly agent: http.Agent;
  private readonly lib: typeof http | typeof https;
  /** Where every request goes, resolved from the URL once rather than per request. */
  private readonly target: http.RequestOptions;
  private readonly open = new Set<ClientRequest>();
  private closed = false;
  private getStream: ClientRequest | null = null;
  private getAttempt = 0;
  private getTimer: NodeJS.Timeout | null = null;
  /** Incoming messages are delivered one microtask apart, in order (see `deliver`). */
  private delivery: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: URL,
    private readonly headers: Record<string, string> = {},
  ) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`unsupported upstream URL scheme ${url.protocol}`);
    this.lib = url.protocol === 'https:' ? https : http;
    this.target = {
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
    };
    if (url.username || url.password)
      this.target.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    this.agent = new this.lib.Agent({ keepAlive: true, maxSockets: 256 });
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  private requestHeaders(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...this.headers, ...extra };
    if (this.sessionId) h['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) h['mcp-protocol-version'] = this.protocolVersion;
    return h;
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('transport closed'));
    const body = JSON.stringify(message);
    const hadSession = this.sessionId !== undefined;
    return new Promise<void>((resolve, reject) => {
      const req = this.lib.request({
        ...this.target,
        method: 'POST',
        agent: this.agent,
        headers: this.requestHeaders({
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': String(Buffer.byteLength(body)),
        }),
      });
      this.open.add(req);
      req.on('close', () => this.open.delete(req));
      req.on('error', (err) => {
        reject(err);
      });
      req.on('response', (res) => {
        const sid = res.headers['mcp-session-id'];
        if (typeof sid === 'string' && sid) this.sessionId = sid;
        const status = res.statusCode ?? 0;
        if (status === 202) {
          res.resume();
          resolve();
          if ('method' in message && message.method === 'notifications/initialized') this.openGetStream();
          return;
        }
        if (status < 200 || status >= 300) {
          void readAll(res).then(
            (text) => {
              const err = new Error(`upstream answered HTTP ${status}: ${text.slice(0, 300)}`);
              reject(err);
              if (status === 404 && hadSession) {
                // The upstream no longer knows this session (it restarted): start over.
                this.onerror?.(err);
                void this.close();
              }
            },
            (err: Error) => reject(err),
          );
          return;
        }
        const type = String(res.headers['content-type'] ?? '');
        if (type.includes('text/event-stream')) {
          resolve();
          this.readSse(res);
          return;
        }
        if (type.includes('application/json')) {
          readAll(res).then(
            (text) => {
              resolve();
              let parsed: unknown;
              try {
                parsed = JSON.parse(text);
              } catch {
                this.onerror?.(new Error('upstream sent invalid JSON'));
                return;
              }
              for (const m of Array.isArray(parsed) ? parsed : [parsed])
                this.onmessage?.(m as JSONRPCMessage);
            },
            (err: Error) => reject(err),
          );
          return;
        }
        res.resume();
        if (!('method' in message) || !('id' in message)) return resolve();
        reject(new Error(`upstream answered with unexpected content type ${type || '(none)'}`));
      });
      req.end(body);
    });
  }

  /**
   * The SDK runs notification handlers a microtask late but settles responses at once; handing it a
   * progress notification and the response from one chunk back to back would settle the request
   * first and drop its progress. One microtask between messages keeps them in order.
   */
  private deliver(message: JSONRPCMessage): void {
    this.delivery = this.delivery.then(() => {
      if (this.closed) return;
      try {
        this.onmessage?.(message);
      } catch (err) {
        // A handler's fault must not stop the messages after it.
        this.onerror?.(err as Error);
      }
    });
  }

  private readSse(res: IncomingMessage, onEnd?: () => void): void {
    const parser = new SseParser((event, data) => {
      if (event && event !== 'message') return;
      if (!data) return;
      try {
        this.deliver(JSON.parse(data) as JSONRPCMessage);
      } catch (err) {
        this.onerror?.(new Error(`upstream sent an invalid SSE message: ${(err as Error).message}`));
      }
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (!parser.push(chunk)) {
        this.onerror?.(new Error('upstream SSE event too large'));
        res.destroy();
      }
    });
    res.on('error', (err) => this.onerror?.(err));
    res.on('close', () => onEnd?.());
  }

  /** The GET stream carries the server's own requests and notifications (e.g. tools/list_changed). */
  private openGetStream(): void {
    if (this.closed || this.getStream) return;
    const req = this.lib.request({
      ...this.target,
      method: 'GET',
      agent: this.agent,
      headers: this.requestHeaders({ accept: 'text/event-stream' }),
    });
    this.getStream = req;
    const retry = () => {
      if (this.getStream === req) this.getStream = null;
      if (this.closed) return;
      const delay = Math.min(30_000, 1000 * 2 ** this.getAttempt++);
      this.getTimer = setTimeout(() => this.openGetStream(), delay);
      this.getTimer.unref();
    };
    let answered = false;
    req.on('error', () => undefined);
    req.on('close', () => {
      if (this.getStream === req && !answered) retry();
    });
    req.on('response', (res) => {
      answered = true;
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode === 405) {
        // The server offers no GET stream; that is allowed.
        res.resume();
        this.getStream = null;
        return;
      }
      if (res.statusCode !== 200 || !type.includes('text/event-stream')) {
        res.resume();
        res.on('end', retry);
        return;
      }
      this.getAttempt = 0;
      this.readSse(res, retry);
    });
    req.end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.getTimer) clearTimeout(this.getTimer);
    this.getStream?.destroy();
    this.getStream = null;
    for (const r of this.open) r.destroy();
    this.open.clear();
    this.agent.destroy();
    this.onclose?.();
  }
}

/** An upstream's whole answer as text, at most MAX_MESSAGE_BYTES; past it the answer is dropped. */
function readAll(res: IncomingMessage): Promise<string> {
  return readBodyBytes(res, MAX_MESSAGE_BYTES).then(
    (bytes) => bytes.toString('utf8'),
    (err: unknown) => {
      res.destroy();
      throw isMandateError(err) && err.code === 'body_too_large'
        ? new Error(`upstream answer larger than ${MAX_MESSAGE_BYTES} bytes`)
        : err;
    },
  );
}

/** Incremental `text/event-stream` parser (WHATWG rules: LF, CRLF or CR line ends; `data` lines joined by LF). */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private size = 0;
  private skipLf = false;
  constructor(private readonly dispatch: (event: string, data: string) => void) {}

  /** Feeds a chunk; false when one event grew past the limit. */
  push(chunk: string): boolean {
    // A CR that ended the previous chunk already ended its line; an LF starting this one is its pair.
    if (this.skipLf && chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
    this.skipLf = false;
    this.buf += chunk;
    let start = 0;
    for (;;) {
      let end = -1;
      let next = -1;
      for (let i = start; i < this.buf.length; i++) {
        const c = this.buf.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          next = i + 1;
          if (c === 13) {
            if (i + 1 >= this.buf.length) this.skipLf = true;
            else if (this.buf.charCodeAt(i + 1) === 10) next = i + 2;
          }
          break;
        }
      }
      if (end < 0) break;
      this.line(this.buf.slice(start, end));
      start = next;
    }
    this.buf = this.buf.slice(start);
    this.size += chunk.length;
    return this.buf.length <= MAX_MESSAGE_BYTES && this.size <= MAX_MESSAGE_BYTES * 2;
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0 || this.event) this.dispatch(this.event, this.data.join('\n'));
      this.data = [];
      this.event = '';
      this.size = 0;
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
  }
}
