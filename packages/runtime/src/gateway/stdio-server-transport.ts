import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { decodeUtf8Strict, isMandateError, parseJsonStrict } from '../kernel/index.js';
import { cancelledRequestId, idKey, isJsonRpcMessage } from './http-server-transport.js';

/** The largest stdio message accepted (one line), like the `/mcp` body limit. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

/**
 * `mandate gateway --stdio`: newline-delimited JSON-RPC on stdin/stdout, read the way every other
 * door reads input — strict UTF-8, duplicate keys and inexact numbers refused (kernel/json.ts) —
 * where the SDK's stdio transport uses `JSON.parse` (last duplicate wins, numbers rounded). A
 * refused line is answered with a JSON-RPC parse error (−32700, id null) and never reaches a
 * handler. The end of stdin closes the transport, so the gateway (and its upstream processes)
 * end with their client.
 *
 * Messages that arrive before `start()` are held: `first()` lets the gateway read the client's
 * `initialize` (its capabilities) before it opens upstream connections, then `start()` delivers it.
 */
export class StrictStdioServerTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  sessionId?: string;

  private chunks: Buffer[] = [];
  private size = 0;
  private skipping = false;
  private started = false;
  private closed = false;
  private reading = false;
  private readonly held: JSONRPCMessage[] = [];
  /** Ids of the requests not answered yet: a second request with one of them is refused. */
  private readonly inFlight = new Set<string>();
  private firstWaiter: ((m: JSONRPCMessage | null) => void) | null = null;

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
  ) {}

  /** Resolves with the first well-formed message (held for `start()`), or null when stdin ends first. */
  first(): Promise<JSONRPCMessage | null> {
    this.read();
    if (this.held.length > 0) return Promise.resolve(this.held[0]!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.firstWaiter = resolve));
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('StrictStdioServerTransport already started');
    this.started = true;
    if (this.closed) {
      // stdin ended while the gateway opened its upstreams (after `first()`): the server connecting
      // now must still learn of it, or `mandate gateway --stdio` waited for ever — and, the
      // transport being closed already, SIGINT/SIGTERM could not end it either (a probe).
      // Nothing held is delivered: no answer could reach the client.
      queueMicrotask(() => this.onclose?.());
      return;
    }
    this.read();
    for (const m of this.held.splice(0)) this.onmessage?.(m);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (!('method' in message) && 'id' in message && message.id !== null && message.id !== undefined) {
      this.inFlight.delete(idKey(message.id));
    }
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.output.write(JSON.stringify(message) + '\n')) resolve();
      else this.output.once('drain', () => resolve());
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('close', this.onEnd);
    this.input.off('error', this.onInputError);
    this.input.pause();
    this.firstWaiter?.(null);
    this.firstWaiter = null;
    this.onclose?.();
  }

  private read(): void {
    if (this.reading || this.closed) return;
    this.reading = true;
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('close', this.onEnd);
    this.input.on('error', this.onInputError);
    this.input.resume();
  }

  private readonly onEnd = () => void this.close();
  private readonly onInputError = (err: Error) => {
    this.onerror?.(err);
    void this.close();
  };

  private readonly onData = (chunk: Buffer) => {
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf(0x0a);
      if (nl < 0) {
        if (this.skipping) return;
        this.chunks.push(rest);
        this.size += rest.length;
        if (this.size > MAX_LINE_BYTES) {
          // The rest of this line is dropped; it must not be read as the next message.
          this.chunks = [];
          this.size = 0;
          this.skipping = true;
          this.refuse(`message larger than ${MAX_LINE_BYTES} bytes`);
        }
        return;
      }
      const head = rest.subarray(0, nl);
      rest = rest.subarray(nl + 1);
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const line = this.chunks.length ? Buffer.concat([...this.chunks, head]) : head;
      this.chunks = [];
      this.size = 0;
      this.line(line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line);
      if (this.closed) return;
    }
  };

  private line(bytes: Buffer): void {
    if (bytes.length === 0) return;
    let message: unknown;
    try {
      message = parseJsonStrict(decodeUtf8Strict(bytes));
    } catch (err) {
      this.refuse(isMandateError(err) ? `${err.code}: ${err.message}` : 'invalid JSON');
      return;
    }
    if (!isJsonRpcMessage(message)) {
      void this.send({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message' },
      } as unknown as JSONRPCMessage);
      return;
    }
    // A cancelled request gets no answer: its id is free again.
    const cancelled = cancelledRequestId(message);
    if (cancelled !== undefined) this.inFlight.delete(idKey(cancelled));
    if ('method' in message && 'id' in message) {
      const key = idKey(message.id as RequestId);
      // Like /mcp: two requests in flight with one id would get answers the client cannot tell apart.
      if (this.inFlight.has(key)) {
        void this.send({
          jsonrpc: '2.0',
          id: null,
          error: {
            code: -32600,
            message: `Invalid Request: request id ${String(message.id)} is already in use`,
          },
        } as unknown as JSONRPCMessage);
        return;
      }
      this.inFlight.add(key);
    }
    if (!this.started) {
      this.held.push(message);
      this.firstWaiter?.(message);
      this.firstWaiter = null;
      return;
    }
    this.onmessage?.(message);
  }

  private refuse(why: string): void {
    this.onerror?.(new Error(`refused stdio message: ${why}`));
    void this.send({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: `Parse error: ${why}` },
    } as unknown as JSONRPCMessage);
  }
}
