// MCP Streamable HTTP on node:http: the server transport (directly, behind a tiny host, and through the
// real gateway's /mcp) and the client transport (against a tiny scripted server). Real sockets on
// 127.0.0.1, port 0; nothing under test is mocked.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import type { Mandate } from '../../src/app/index.js';
import { NodeStreamableHttpClientTransport, SseParser } from '../../src/gateway/http-client-transport.js';
import {
  MAX_BATCH,
  NodeStreamableHttpServerTransport,
  isJsonRpcMessage,
  reply,
} from '../../src/gateway/http-server-transport.js';
import { FIXTURES, startMandate } from './helpers.js';

// ------------------------------------------------------------------------------------------ helpers

const ACCEPT_BOTH = 'application/json, text/event-stream';
const VERSION = '2025-06-18';
const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: VERSION,
    capabilities: {},
    clientInfo: { name: 'transports-test', version: '1' },
  },
};
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

type Rpc = Record<string, unknown> & {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Fails fast (instead of at the test timeout) when a promise never settles. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One plain HTTP exchange on a fresh connection; the body is sent exactly as given when a string. */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  return within(
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        url,
        { method: opts.method ?? 'POST', headers: opts.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    }),
    3000,
    `${opts.method ?? 'POST'} ${url} to end`,
  );
}

/** POST with the headers a well-behaved MCP client sends. */
function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return raw(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, ...headers },
    body,
  });
}

/** The JSON-RPC messages of a complete SSE body (an independent, minimal reading of `data:` lines). */
function sseMessages(text: string): Rpc[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter(Boolean)
    .map((d) => JSON.parse(d) as Rpc);
}

const json = (a: Answer) => JSON.parse(a.text) as Rpc;

/** A GET kept open: its SSE messages arrive in `messages`. */
interface OpenStream {
  status: number;
  headers: IncomingHttpHeaders;
  messages: Rpc[];
  /** Settles when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

function openGet(url: string, headers: Record<string, string>): Promise<OpenStream> {
  return within(
    new Promise<OpenStream>((resolve, reject) => {
      const req = request(url, { method: 'GET', headers, agent: false }, (res) => {
        const messages: Rpc[] = [];
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          const blocks = buf.split('\n\n');
          buf = blocks.pop()!;
          for (const b of blocks) messages.push(...sseMessages(b));
        });
        res.on('error', () => undefined);
        const ended = new Promise<void>((done) => res.on('end', done));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          messages,
          ended,
          close: () => req.destroy(),
        });
      });
      req.on('error', (err) => reject(err));
      req.end();
    }),
    3000,
    `GET ${url} to answer`,
  );
}

// ------------------------------------------------------------------ a tiny host for the server transport

/** Lets a test hold a tool call open until it says so. */
class Gate {
  entered!: Promise<void>;
  private enter!: () => void;
  private open!: () => void;
  private opened!: Promise<void>;
  constructor() {
    this.entered = new Promise((r) => (this.enter = r));
    this.opened = new Promise((r) => (this.open = r));
  }
  async pass(): Promise<void> {
    this.enter();
    await this.opened;
  }
  release(): void {
    this.open();
  }
}

interface Session {
  transport: NodeStreamableHttpServerTransport;
  server: Server;
  closed: boolean;
}

/** An SDK `Server` per session behind `NodeStreamableHttpServerTransport` on a bare node:http server. */
async function startHost() {
  const sessions = new Map<string, Session>();
  let gate = new Gate();
  let gets = 0;
  let calls = 0;

  function makeServer(): Server {
    const server = new Server(
      { name: 'transport-fixture', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [{ name: 'echo', inputSchema: { type: 'object' as const } }],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
      calls++;
      if (req.params.name === 'progress') {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: req.params._meta?.progressToken ?? 0, progress: 1, total: 2 },
        });
      }
      if (req.params.name === 'wait') await gate.pass();
      return { content: [{ type: 'text' as const, text: JSON.stringify(req.params.arguments ?? {}) }] };
    });
    return server;
  }

  const http = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body: unknown;
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reply(res, 400, -32700, 'Parse error');
        }
      }
      const sid = req.headers['mcp-session-id'];
      let s = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (typeof sid === 'string' && !s) return reply(res, 404, -32001, 'Session not found');
      if (!s) {
        const transport = new NodeStreamableHttpServerTransport(randomUUID());
        const server = makeServer();
        const session: Session = { transport, server, closed: false };
        server.onclose = () => (session.closed = true);
        await server.connect(transport);
        // Kept after close on purpose: a closed transport must answer 404 by itself.
        sessions.set(transport.sessionId, session);
        s = session;
      }
      s.transport.handle(req, res, body);
      if (req.method === 'GET') gets++;
    })();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  return {
    url,
    session: (sid: string) => sessions.get(sid)!,
    get gate() {
      return gate;
    },
    newGate: () => (gate = new Gate()),
    get gets() {
      return gets;
    },
    /** tools/call requests that reached the server. */
    get calls() {
      return calls;
    },
    async close() {
      gate.release();
      for (const s of sessions.values()) await s.transport.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

type Host = Awaited<ReturnType<typeof startHost>>;

/** initialize + notifications/initialized; returns the session id. */
async function openSession(url: string): Promise<string> {
  const a = await post(url, INIT);
  expect(a.status).toBe(200);
  const sid = a.headers['mcp-session-id'];
  expect(typeof sid).toBe('string');
  const n = await post(url, INITIALIZED, { 'mcp-session-id': String(sid), 'mcp-protocol-version': VERSION });
  expect(n.status).toBe(202);
  return String(sid);
}

const call = (
  id: number,
  name: string,
  args: Record<string, unknown> = {},
  meta?: Record<string, unknown>,
) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

// ============================================================================ server transport

describe('NodeStreamableHttpServerTransport', () => {
  let host: Host;
  let sid: string;
  let h: Record<string, string>;

  beforeAll(async () => {
    host = await startHost();
  });
  afterAll(async () => {
    await host?.close();
  });
  beforeEach(async () => {
    host.newGate();
    sid = await openSession(host.url);
    h = { 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
  });

  describe('answers', () => {
    it('answers initialize and a single request with application/json carrying the session id', async () => {
      const init = await post(host.url, INIT);
      expect(init.status).toBe(200);
      expect(init.headers['content-type']).toBe('application/json');
      expect(init.headers['mcp-session-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(json(init)).toMatchObject({ jsonrpc: '2.0', id: 0, result: { protocolVersion: VERSION } });

      const a = await post(host.url, call(1, 'echo', { text: 'hi' }), h);
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('application/json');
      expect(a.headers['mcp-session-id']).toBe(sid);
      expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.text));
      expect(json(a)).toEqual({
        jsonrpc: '2.0',
        id: 1,
        result: { content: [{ type: 'text', text: '{"text":"hi"}' }] },
      });
    });

    it('answers a POST of only notifications with 202 and no body', async () => {
      const one = await post(host.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, h);
      expect(one.status).toBe(202);
      expect(one.text).toBe('');
      expect(one.headers['content-type']).toBeUndefined();
      const batch = await post(
        host.url,
        [
          { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
          { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 999 } },
        ],
        h,
      );
      expect(batch.status).toBe(202);
      expect(batch.text).toBe('');
    });

    it('switches to text/event-stream when a related notification precedes the response, then ends the stream', async () => {
      const a = await post(host.url, call(2, 'progress', {}, { progressToken: 'tok-2' }), h);
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('text/event-stream');
      expect(a.headers['mcp-session-id']).toBe(sid);
      expect(a.text).toMatch(/^event: message\ndata: /);
      const events = sseMessages(a.text);
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({
        method: 'notifications/progress',
        params: { progressToken: 'tok-2', progress: 1, total: 2 },
      });
      expect(events[1]).toMatchObject({ id: 2, result: { content: [{ type: 'text', text: '{}' }] } });
    });

    it('answers a batch of two requests on one SSE stream with both responses', async () => {
      const a = await post(host.url, [call(21, 'echo', { n: 1 }), call(22, 'echo', { n: 2 })], h);
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('text/event-stream');
      expect(a.headers['mcp-session-id']).toBe(sid);
      const events = sseMessages(a.text);
      expect(events.map((e) => e.id).sort()).toEqual([21, 22]);
      expect(events.find((e) => e.id === 21)?.result).toEqual({
        content: [{ type: 'text', text: '{"n":1}' }],
      });
      expect(events.find((e) => e.id === 22)?.result).toEqual({
        content: [{ type: 'text', text: '{"n":2}' }],
      });
    });

    it('answers a batch of a request and a notification with SSE holding only the response', async () => {
      const a = await post(
        host.url,
        [{ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, call(23, 'echo', { n: 3 })],
        h,
      );
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('text/event-stream');
      expect(sseMessages(a.text).map((e) => e.id)).toEqual([23]);
    });
  });

  describe('refuses', () => {
    it('a POST whose Accept lacks text/event-stream with 406', async () => {
      const a = await post(host.url, call(3, 'echo'), { ...h, accept: 'application/json' });
      expect(a.status).toBe(406);
      expect(json(a).error?.message).toMatch(/Not Acceptable/);
    });

    it('a POST whose Accept lacks application/json with 406', async () => {
      const a = await post(host.url, call(3, 'echo'), { ...h, accept: 'text/event-stream' });
      expect(a.status).toBe(406);
    });

    it('a POST whose Content-Type is not JSON with 415 (parameters on a JSON type are fine)', async () => {
      const bad = await post(host.url, call(4, 'echo'), { ...h, 'content-type': 'text/plain' });
      expect(bad.status).toBe(415);
      expect(json(bad).error?.message).toMatch(/Unsupported Media Type/);
      const ok = await post(host.url, call(5, 'echo'), {
        ...h,
        'content-type': 'Application/JSON; charset=utf-8',
      });
      expect(ok.status).toBe(200);
    });

    it('an unsupported mcp-protocol-version with 400 naming it', async () => {
      const a = await post(host.url, call(6, 'echo'), { ...h, 'mcp-protocol-version': '1999-01-01' });
      expect(a.status).toBe(400);
      expect(json(a).error).toMatchObject({ code: -32000 });
      expect(json(a).error?.message).toContain('Unsupported protocol version: 1999-01-01');
      const g = await raw(host.url, {
        method: 'GET',
        headers: { ...h, accept: 'text/event-stream', 'mcp-protocol-version': '1999-01-01' },
      });
      expect(g.status).toBe(400);
    });

    it('a second initialize on a session with 400', async () => {
      const a = await post(host.url, INIT, h);
      expect(a.status).toBe(400);
      expect(json(a).error).toMatchObject({
        code: -32600,
        message: expect.stringMatching(/already initialized/),
      });
    });

    it('a request before initialize with 400', async () => {
      const a = await post(host.url, call(7, 'echo'));
      expect(a.status).toBe(400);
      expect(json(a).error?.message).toMatch(/not initialized/);
    });

    it('an initialize batched with another message with 400', async () => {
      const a = await post(host.url, [INIT, call(8, 'echo')]);
      expect(a.status).toBe(400);
      expect(json(a).error).toMatchObject({
        code: -32600,
        message: expect.stringMatching(/Only one initialization/),
      });
    });

    it('an invalid JSON-RPC shape with 400 and code -32700', async () => {
      for (const body of [
        { jsonrpc: '1.0', id: 9, method: 'tools/list' },
        { jsonrpc: '2.0', id: 1.5, method: 'tools/list' },
        { jsonrpc: '2.0', id: 9, method: 'tools/list', params: [1] },
        { jsonrpc: '2.0', id: 9 },
        [call(9, 'echo'), 'not a message'],
      ]) {
        const a = await post(host.url, body, h);
        expect(a.status, JSON.stringify(body)).toBe(400);
        expect(json(a).error?.code, JSON.stringify(body)).toBe(-32700);
      }
    });

    it('an empty batch and a batch over MAX_BATCH with 400 -32600', async () => {
      const empty = await post(host.url, [], h);
      expect(empty.status).toBe(400);
      expect(json(empty).error?.code).toBe(-32600);
      const big = Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: i, progress: 1 },
      }));
      const tooMany = await post(host.url, big, h);
      expect(tooMany.status).toBe(400);
      expect(json(tooMany).error?.message).toContain(`exceed ${MAX_BATCH}`);
      const justRight = await post(host.url, big.slice(0, MAX_BATCH), h);
      expect(justRight.status).toBe(202);
    });

    it('a request id already in flight on the session with 400, and still answers the first', async () => {
      const first = post(host.url, call(10, 'wait'), h);
      await within(host.gate.entered, 2000, 'the wait tool to start');
      const dup = await post(host.url, call(10, 'echo'), h);
      expect(dup.status).toBe(400);
      expect(json(dup).error?.message).toMatch(/request id 10 is already in use/);
      host.gate.release();
      const a = await first;
      expect(a.status).toBe(200);
      expect(json(a)).toMatchObject({ id: 10, result: { content: [{ type: 'text', text: '{}' }] } });
    });

    it('a batch naming one request id twice with 400 -32600, before anything is delivered', async () => {
      // Two calls under one id were both run, and only the first answer reached the client: the
      // other went to a stream that had ended (an action ran while the client was told another).
      const before = host.calls;
      const dup = await post(host.url, [call(11, 'echo', { a: 1 }), call(11, 'echo', { a: 2 })], h);
      expect(dup.status).toBe(400);
      expect(json(dup).error).toMatchObject({
        code: -32600,
        message: expect.stringMatching(/request id 11 is already in use/),
      });
      expect(host.calls).toBe(before);
      // The same ids as a number and a string are two ids; each call runs and is answered.
      const two = await post(
        host.url,
        [call(12, 'echo', { a: 1 }), { ...call(12, 'echo', { a: 2 }), id: '12' }],
        h,
      );
      expect(two.status).toBe(200);
      expect(host.calls).toBe(before + 2);
    });

    it('a cancelled request ends the POST that waits for it, in the same batch or from another POST', async () => {
      // Found by a black-box probe: the cancelled call gets no response (as MCP says), and its
      // stream stayed open until the client gave up.
      const cancel = (requestId: number) => ({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId, reason: 'changed my mind' },
      });
      const batch = await within(post(host.url, [call(13, 'wait'), cancel(13)], h), 3000, 'the batch to end');
      expect(batch.status).toBe(200);
      expect(batch.headers['content-type']).toMatch(/text\/event-stream/);
      expect(sseMessages(batch.text)).toEqual([]);
      host.gate.release();

      host.newGate();
      const single = post(host.url, call(14, 'wait'), h);
      await within(host.gate.entered, 2000, 'the wait tool to start');
      expect((await post(host.url, cancel(14), h)).status).toBe(202);
      const ended = await within(single, 3000, 'the single request to end');
      expect(ended.status).toBe(200);
      expect(sseMessages(ended.text)).toEqual([]);
      host.gate.release();
      // A cancellation naming nothing in flight changes nothing.
      expect((await post(host.url, cancel(99), h)).status).toBe(202);
      expect(json(await post(host.url, call(15, 'echo', { a: 1 }), h))).toMatchObject({ id: 15 });
    });

    it('PUT with 405 and an Allow header', async () => {
      const a = await raw(host.url, {
        method: 'PUT',
        headers: { ...h, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(a.status).toBe(405);
      expect(a.headers.allow).toBe('GET, POST, DELETE');
    });
  });

  describe('GET stream', () => {
    it('refuses a GET whose Accept lacks text/event-stream with 406', async () => {
      const a = await raw(host.url, { method: 'GET', headers: { ...h, accept: 'application/json' } });
      expect(a.status).toBe(406);
    });

    it('allows one GET stream per session: the second gets 409; once the first closes, a new one is allowed', async () => {
      const headers = { ...h, accept: 'text/event-stream' };
      const first = await openGet(host.url, headers);
      try {
        expect(first.status).toBe(200);
        expect(first.headers['content-type']).toBe('text/event-stream');
        expect(first.headers['mcp-session-id']).toBe(sid);
        const second = await raw(host.url, { method: 'GET', headers });
        expect(second.status).toBe(409);
        expect(json(second).error?.message).toMatch(/Only one SSE stream/);
      } finally {
        first.close();
      }
      let third: OpenStream | undefined;
      const end = Date.now() + 2000;
      while (!third) {
        const s = await openGet(host.url, headers);
        if (s.status === 200) third = s;
        else if (Date.now() > end) throw new Error(`GET still refused after the first closed: ${s.status}`);
        else await sleep(20);
      }
      third.close();
    });

    it('delivers a message sent without relatedRequestId to the open GET stream', async () => {
      const stream = await openGet(host.url, { ...h, accept: 'text/event-stream' });
      try {
        expect(stream.status).toBe(200);
        await host.session(sid).server.sendToolListChanged();
        await waitFor(() => stream.messages.length > 0, 'the list_changed notification on the GET stream');
        expect(stream.messages).toEqual([{ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }]);
      } finally {
        stream.close();
      }
    });

    it('drops an unrelated message quietly when no GET stream is open', async () => {
      await expect(host.session(sid).server.sendToolListChanged()).resolves.toBeUndefined();
      // the session still works
      expect((await post(host.url, call(11, 'echo'), h)).status).toBe(200);
    });
  });

  describe('DELETE', () => {
    it('closes the session: 200, then every later request on it gets 404', async () => {
      const d = await raw(host.url, { method: 'DELETE', headers: h });
      expect(d.status).toBe(200);
      expect(host.session(sid).closed).toBe(true);
      const p = await post(host.url, call(12, 'echo'), h);
      expect(p.status).toBe(404);
      expect(json(p).error?.code).toBe(-32001);
      expect(
        (await raw(host.url, { method: 'GET', headers: { ...h, accept: 'text/event-stream' } })).status,
      ).toBe(404);
      expect((await raw(host.url, { method: 'DELETE', headers: h })).status).toBe(404);
    });

    it('answers a POST still waiting for its response with 404 when the session closes', async () => {
      const pending = post(host.url, call(13, 'wait'), h);
      await within(host.gate.entered, 2000, 'the wait tool to start');
      expect((await raw(host.url, { method: 'DELETE', headers: h })).status).toBe(200);
      const a = await pending;
      expect(a.status).toBe(404);
      expect(json(a).error).toMatchObject({ code: -32001, message: 'Session closed' });
    });

    it('ends an open GET stream when the session closes', async () => {
      const stream = await openGet(host.url, { ...h, accept: 'text/event-stream' });
      try {
        expect(stream.status).toBe(200);
        expect((await raw(host.url, { method: 'DELETE', headers: h })).status).toBe(200);
        await within(stream.ended, 2000, 'the GET stream to end');
      } finally {
        stream.close();
      }
    });
  });

  describe('isJsonRpcMessage', () => {
    it('accepts requests, notifications, results and errors, and nothing else', () => {
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 'a', method: 'm' })).toBe(true);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', method: 'm', params: {} })).toBe(true);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, result: {} })).toBe(true);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, error: { code: -1, message: 'x' } })).toBe(true);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, result: 5 })).toBe(false);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } })).toBe(false);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: null, method: 'm' })).toBe(false);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', method: 7 })).toBe(false);
      expect(isJsonRpcMessage([{ jsonrpc: '2.0', method: 'm' }])).toBe(false);
      expect(isJsonRpcMessage(null)).toBe(false);
      // No member JSON-RPC does not have (the SDK dropped such a message unanswered), none mixed.
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, method: 'm', extra: 1 })).toBe(false);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, method: 'm', result: {} })).toBe(false);
      expect(isJsonRpcMessage({ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } })).toBe(
        false,
      );
    });
  });
});

// ============================================================================ through the real gateway

describe('gateway /mcp (handleHttp)', () => {
  const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "web.echo" appliesTo { principal: [Agent, User], resource: Tool };
`;
  const POLICIES = `@id("echo") permit (principal is Agent, action == Action::"web.echo", resource);`;
  let m: Mandate;
  let mcp: string;
  let upstream: ChildProcess;
  let callLog: string;
  const bot = { authorization: 'Bearer secret-bot-key' };
  const bot2 = { authorization: 'Bearer secret-bot2-key' };

  const upstreamCalls = () =>
    existsSync(callLog)
      ? readFileSync(callLog, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { tool: string; args: Record<string, unknown> })
      : [];

  async function gatewaySession(auth: Record<string, string>): Promise<string> {
    const a = await post(mcp, INIT, auth);
    expect(a.status).toBe(200);
    const sid = String(a.headers['mcp-session-id']);
    expect((await post(mcp, INITIALIZED, { ...auth, 'mcp-session-id': sid })).status).toBe(202);
    return sid;
  }

  beforeAll(async () => {
    callLog = join(tmpdir(), `gw-transports-${process.pid}-${Date.now()}-calls.jsonl`);
    upstream = spawn(process.execPath, [join(FIXTURES, 'tool-server.mjs'), '--http'], {
      env: { ...process.env, CALL_LOG: callLog },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const upstreamUrl = await new Promise<string>((resolve) =>
      createInterface({ input: upstream.stdout! }).once('line', resolve),
    );
    let url: string;
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: {
        agents: [
          { id: 'bot', roles: [], status: 'active', attributes: {} },
          { id: 'bot2', roles: [], status: 'active', attributes: {} },
        ],
        users: [],
        resources: [],
      },
      apiKeys: [
        { name: 'bot', secret: 'secret-bot-key', role: 'agent', subject: 'bot' },
        { name: 'bot2', secret: 'secret-bot2-key', role: 'agent', subject: 'bot2' },
      ],
      gateway: { upstreams: [{ name: 'web', url: upstreamUrl, trustOnFirstUse: true }], callTimeoutMs: 3000 },
    }));
    mcp = `${url}/mcp`;
  });

  afterAll(async () => {
    await m?.close();
    upstream?.kill();
  });

  it('answers a body with a duplicate key 400 / -32700 and never calls the tool upstream', async () => {
    const sid = await gatewaySession(bot);
    const h = { ...bot, 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
    const dupTop =
      '{"jsonrpc":"2.0","jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"web.echo","arguments":{"text":"dup-top"}}}';
    const dupArgs =
      '{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"web.echo","arguments":{"text":"dup-a","text":"dup-b"}}}';
    for (const body of [dupTop, dupArgs]) {
      const a = await post(mcp, body, h);
      expect(a.status, body).toBe(400);
      expect(json(a).error?.code, body).toBe(-32700);
    }
    // The same call without the duplicate goes through, on the same session.
    const ok = await post(
      mcp,
      '{"jsonrpc":"2.0","id":33,"method":"tools/call","params":{"name":"web.echo","arguments":{"text":"no-dup"}}}',
      h,
    );
    expect(ok.status).toBe(200);
    const answer =
      ok.headers['content-type'] === 'text/event-stream' ? sseMessages(ok.text).at(-1)! : json(ok);
    expect(answer).toMatchObject({ id: 33 });
    expect(answer.result?.isError).toBeFalsy();
    const texts = upstreamCalls()
      .filter((c) => c.tool === 'echo')
      .map((c) => c.args.text);
    expect(texts).toContain('no-dup');
    expect(texts).not.toContain('dup-top');
    expect(texts).not.toContain('dup-a');
    expect(texts).not.toContain('dup-b');
    // As on /v1, each refusal of the known caller's input is on the record.
    await m.refusals.flush();
    const refused = (await m.store.queryAudit({ type: 'request.refused', limit: 100 }))
      .map((r) => JSON.parse(r.eventText) as { data: { code: string; route: string } })
      .filter((e) => e.data.code === 'duplicate_key');
    expect(refused.map((e) => e.data.route)).toEqual(['MCP /mcp', 'MCP /mcp']);
  });

  it('answers an unknown session id 404', async () => {
    const a = await post(
      mcp,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { ...bot, 'mcp-session-id': randomUUID() },
    );
    expect(a.status).toBe(404);
    expect(json(a).error?.code).toBe(-32001);
  });

  it('answers a non-initialize POST without a session 400', async () => {
    const a = await post(mcp, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, bot);
    expect(a.status).toBe(400);
    expect(json(a).error?.message).toMatch(/Mcp-Session-Id header is required/);
    const g = await raw(mcp, { method: 'GET', headers: { ...bot, accept: 'text/event-stream' } });
    expect(g.status).toBe(400);
  });

  it("answers a session used with another agent's key 404, and the same request with its own key 200", async () => {
    const sid = await gatewaySession(bot);
    const list = { jsonrpc: '2.0', id: 41, method: 'tools/list' };
    const other = await post(mcp, list, { ...bot2, 'mcp-session-id': sid });
    expect(other.status).toBe(404);
    const own = await post(mcp, list, { ...bot, 'mcp-session-id': sid });
    expect(own.status).toBe(200);
    expect(JSON.stringify(own.text)).toContain('web.echo');
  });

  it('refuses a malformed initialize (bad Accept) 406 without opening a session', async () => {
    const a = await post(mcp, INIT, { ...bot, accept: 'application/json' });
    expect(a.status).toBe(406);
    expect(a.headers['mcp-session-id']).toBeUndefined();
  });

  it('refuses a foreign Host header 403 before anything else', async () => {
    const a = await post(mcp, INIT, { ...bot, host: 'evil.example.com' });
    expect(a.status).toBe(403);
    expect(json(a).error?.message).toMatch(/Host or Origin/);
  });

  it('serves DELETE on a gateway session, after which the session is gone (404)', async () => {
    const sid = await gatewaySession(bot);
    const d = await raw(mcp, { method: 'DELETE', headers: { ...bot, 'mcp-session-id': sid } });
    expect(d.status).toBe(200);
    const a = await post(
      mcp,
      { jsonrpc: '2.0', id: 51, method: 'tools/list' },
      { ...bot, 'mcp-session-id': sid },
    );
    expect(a.status).toBe(404);
  });
});

// ============================================================================ client transport

describe('SseParser', () => {
  function parse(...chunks: string[]) {
    const out: { event: string; data: string }[] = [];
    const p = new SseParser((event, data) => out.push({ event, data }));
    for (const c of chunks) expect(p.push(c)).toBe(true);
    return out;
  }

  it('ends lines on LF', () => {
    expect(parse('data: a\n\ndata: b\n\n')).toEqual([
      { event: '', data: 'a' },
      { event: '', data: 'b' },
    ]);
  });

  it('ends lines on CRLF', () => {
    expect(parse('event: message\r\ndata: a\r\n\r\ndata: b\r\n\r\n')).toEqual([
      { event: 'message', data: 'a' },
      { event: '', data: 'b' },
    ]);
  });

  it('ends lines on a lone CR (once the next character shows it is not CRLF)', () => {
    expect(parse('data: a\rdata: b\r\rdata: c\r\rx')).toEqual([
      { event: '', data: 'a\nb' },
      { event: '', data: 'c' },
    ]);
  });

  // Regression: a CR ending a chunk used to be held back to see whether an LF followed, so an event
  // whose blank line was that CR was not dispatched (and was lost if the stream then ended). WHATWG
  // treats CR as a complete line end; an LF starting the next chunk is skipped.
  it('dispatches an event whose blank line is a lone CR at the end of a chunk', () => {
    expect(parse('data: a\r\r')).toEqual([{ event: '', data: 'a' }]);
  });

  it('handles a chunk split in the middle of a line', () => {
    expect(parse('da', 'ta: hel', 'lo\n', '\n')).toEqual([{ event: '', data: 'hello' }]);
  });

  it('handles a chunk split in the middle of a CRLF (one line end, not two)', () => {
    // Read as CR + LF, the split would end the event after "x" and dispatch "x" and "y" apart.
    expect(parse('data: x\r', '\ndata: y\r', '\n\r', '\n')).toEqual([{ event: '', data: 'x\ny' }]);
  });

  it('joins multi-line data with "\\n" and strips only one leading space', () => {
    expect(parse('data: a\ndata:b\ndata:  c\ndata\n\n')).toEqual([{ event: '', data: 'a\nb\n c\n' }]);
  });

  it('ignores comments', () => {
    expect(parse(': keep-alive\n\n:another\ndata: z\n: in between\n\n')).toEqual([{ event: '', data: 'z' }]);
  });

  it('passes the event name of events other than message', () => {
    expect(parse('event: ping\ndata: p\n\nevent: message\ndata: m\n\n')).toEqual([
      { event: 'ping', data: 'p' },
      { event: 'message', data: 'm' },
    ]);
  });

  it('ignores unknown fields and resets the event name after each event', () => {
    expect(parse('id: 7\nretry: 10\nevent: a\ndata: 1\n\ndata: 2\n\n')).toEqual([
      { event: 'a', data: '1' },
      { event: '', data: '2' },
    ]);
  });

  it('reports false once one event grows past 16 MiB', () => {
    const p = new SseParser(() => undefined);
    expect(p.push('data: ' + 'x'.repeat(16 * 1024 * 1024 + 1))).toBe(false);
  });
});

describe('NodeStreamableHttpClientTransport', () => {
  interface Seen {
    method: string;
    headers: IncomingHttpHeaders;
    body: Rpc | Rpc[] | undefined;
  }
  type Handler = (req: IncomingMessage, res: ServerResponse, body: Rpc | undefined) => void;
  let http: HttpServer;
  let url: URL;
  let seen: Seen[];
  let handler: Handler;
  let transports: NodeStreamableHttpClientTransport[];

  const sendJson = (res: ServerResponse, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
  const posts = () => seen.filter((s) => s.method === 'POST');
  const getsSeen = () => seen.filter((s) => s.method === 'GET');

  function make(headers?: Record<string, string>) {
    const t = new NodeStreamableHttpClientTransport(url, headers);
    transports.push(t);
    const got = { messages: [] as Rpc[], errors: [] as Error[], closes: 0 };
    t.onmessage = (msg) => got.messages.push(msg as Rpc);
    t.onerror = (err) => got.errors.push(err);
    t.onclose = () => got.closes++;
    return { t, got };
  }

  /** Answers initialize with a session id, notifications with 202. */
  const sessionHandler =
    (sid: string, rest: Handler): Handler =>
    (req, res, body) => {
      if (body?.method === 'initialize')
        return sendJson(
          res,
          { jsonrpc: '2.0', id: body.id, result: { protocolVersion: VERSION } },
          { 'mcp-session-id': sid },
        );
      if (req.method === 'POST' && body && !('id' in body)) {
        res.statusCode = 202;
        return res.end();
      }
      rest(req, res, body);
    };

  beforeAll(async () => {
    http = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Rpc) : undefined;
        seen.push({ method: req.method ?? '', headers: req.headers, body });
        handler(req, res, body);
      })();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  });
  beforeEach(() => {
    seen = [];
    transports = [];
    handler = (_req, res) => {
      res.statusCode = 500;
      res.end('no handler');
    };
  });
  afterEach(async () => {
    for (const t of transports) await t.close();
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => new NodeStreamableHttpClientTransport(new URL('ftp://127.0.0.1/mcp'))).toThrow(
      /scheme ftp:/,
    );
  });

  describe('answers', () => {
    it('POSTs the message as JSON accepting JSON and SSE; a JSON answer reaches onmessage', async () => {
      handler = (_req, res, body) => sendJson(res, { jsonrpc: '2.0', id: body!.id, result: { ok: 1 } });
      const { t, got } = make();
      await t.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      await waitFor(() => got.messages.length === 1, 'the JSON answer');
      expect(got.messages).toEqual([{ jsonrpc: '2.0', id: 1, result: { ok: 1 } }]);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.method).toBe('POST');
      expect(seen[0]!.headers['content-type']).toBe('application/json');
      expect(seen[0]!.headers.accept).toBe(ACCEPT_BOTH);
      expect(seen[0]!.body).toEqual({ jsonrpc: '2.0', id: 1, method: 'ping' });
      expect(seen[0]!.headers['mcp-session-id']).toBeUndefined();
      expect(got.errors).toEqual([]);
    });

    it('delivers every message event of an SSE answer in order, skipping other event types', async () => {
      handler = (_req, res, body) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress",');
        res.write(
          '"params":{"progressToken":1,"progress":1}}\r\n\r\n: comment\n\nevent: other\ndata: {"x":1}\n\n',
        );
        setTimeout(
          () => res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: body!.id, result: {} })}\n\n`),
          20,
        );
      };
      const { t, got } = make();
      await t.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x' } });
      await waitFor(() => got.messages.length === 2, 'both SSE messages');
      await sleep(20);
      expect(got.messages).toEqual([
        { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
        { jsonrpc: '2.0', id: 2, result: {} },
      ]);
      expect(got.errors).toEqual([]);
    });

    it('delivers each message of a JSON array (batch) answer', async () => {
      handler = (_req, res) =>
        sendJson(res, [
          { jsonrpc: '2.0', id: 3, result: { a: 1 } },
          { jsonrpc: '2.0', id: 4, error: { code: -32601, message: 'nope' } },
        ]);
      const { t, got } = make();
      await t.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
      await waitFor(() => got.messages.length === 2, 'both batch answers');
      expect(got.messages.map((x) => x.id)).toEqual([3, 4]);
      expect(got.messages[1]!.error).toEqual({ code: -32601, message: 'nope' });
    });

    // Regression (the SseParser lone-CR case): the stream's final blank line is a lone CR; the
    // response used to be lost when the stream ended there.
    it('delivers the last event of an SSE answer whose lines end in lone CRs', async () => {
      handler = (_req, res, body) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`event: message\rdata: ${JSON.stringify({ jsonrpc: '2.0', id: body!.id, result: {} })}\r\r`);
      };
      const { t, got } = make();
      await t.send({ jsonrpc: '2.0', id: 6, method: 'ping' });
      await waitFor(() => got.messages.length === 1, 'the CR-terminated answer', 300);
      expect(got.messages).toEqual([{ jsonrpc: '2.0', id: 6, result: {} }]);
    });

    it('reports invalid JSON in an answer through onerror', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{not json');
      };
      const { t, got } = make();
      await t.send({ jsonrpc: '2.0', id: 5, method: 'ping' });
      await waitFor(() => got.errors.length === 1, 'onerror');
      expect(got.errors[0]!.message).toMatch(/invalid JSON/);
      expect(got.messages).toEqual([]);
    });
  });

  describe('with the SDK Client', () => {
    /** Answers like an MCP server; a tools/call gets its progress and its result in one SSE write. */
    const mcpish: Handler = (req, res, body) => {
      if (body?.method === 'initialize')
        return sendJson(
          res,
          {
            jsonrpc: '2.0',
            id: body.id,
            result: {
              protocolVersion: VERSION,
              capabilities: { tools: {} },
              serverInfo: { name: 'f', version: '1' },
            },
          },
          { 'mcp-session-id': 'sess-sdk' },
        );
      if (req.method === 'GET') {
        res.statusCode = 405;
        return res.end();
      }
      if (req.method === 'DELETE' || (body && !('id' in body))) {
        res.statusCode = 202;
        return res.end();
      }
      if (body?.method === 'tools/call') {
        const token = (body.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
        const progress = {
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: { progressToken: token, progress: 1, total: 2 },
        };
        const result = { jsonrpc: '2.0', id: body.id, result: { content: [] } };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(
          `event: message\ndata: ${JSON.stringify(progress)}\n\nevent: message\ndata: ${JSON.stringify(result)}\n\n`,
        );
        return;
      }
      sendJson(res, { jsonrpc: '2.0', id: body?.id ?? null, error: { code: -32601, message: 'nope' } });
    };

    async function progressThrough(transport: Transport): Promise<number[]> {
      handler = mcpish;
      const client = new Client({ name: 'progress', version: '1' });
      const progress: number[] = [];
      try {
        await client.connect(transport);
        await client.callTool({ name: 'x', arguments: {} }, undefined, {
          onprogress: (p) => progress.push(p.progress),
        });
        await sleep(20);
      } finally {
        await client.close();
      }
      return progress;
    }

    it('(control) the SDK transport delivers a progress notification sent in the same chunk as the result', async () => {
      expect(await progressThrough(new StreamableHTTPClientTransport(url))).toEqual([1]);
    });

    // Regression: events parsed from one chunk used to be handed to onmessage back to back. The
    // SDK's Protocol runs notification handlers a microtask late but settles responses at once, so
    // the response removed its progress handler first and the progress was dropped. Messages now go
    // one microtask apart, as with the SDK's own transport (control test above).
    it('delivers a progress notification sent in the same chunk as the result to onprogress', async () => {
      const t = new NodeStreamableHttpClientTransport(url);
      transports.push(t);
      expect(await progressThrough(t)).toEqual([1]);
    });
  });

  describe('headers', () => {
    it('sends the session id from the initialize answer on later requests, and the protocol version once set', async () => {
      handler = sessionHandler('sess-abc', (_req, res, body) =>
        sendJson(res, { jsonrpc: '2.0', id: body!.id, result: {} }),
      );
      const { t } = make();
      await t.send(INIT as JSONRPCMessage);
      expect(t.sessionId).toBe('sess-abc');
      await t.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      t.setProtocolVersion(VERSION);
      await t.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
      const [init, before, after] = posts();
      expect(init!.headers['mcp-session-id']).toBeUndefined();
      expect(init!.headers['mcp-protocol-version']).toBeUndefined();
      expect(before!.headers['mcp-session-id']).toBe('sess-abc');
      expect(before!.headers['mcp-protocol-version']).toBeUndefined();
      expect(after!.headers['mcp-session-id']).toBe('sess-abc');
      expect(after!.headers['mcp-protocol-version']).toBe(VERSION);
    });

    it('sends the configured headers on POSTs and on the GET stream', async () => {
      handler = sessionHandler('sess-h', (req, res) => {
        if (req.method === 'GET') {
          res.statusCode = 405;
          return res.end();
        }
        sendJson(res, { jsonrpc: '2.0', id: 1, result: {} });
      });
      const { t } = make({ authorization: 'Bearer upstream-own-token', 'x-extra': 'yes' });
      await t.send(INIT as JSONRPCMessage);
      await t.send(INITIALIZED as JSONRPCMessage);
      await waitFor(() => getsSeen().length === 1, 'the GET stream');
      expect(seen.length).toBe(3);
      for (const s of seen) {
        expect(s.headers.authorization, s.method).toBe('Bearer upstream-own-token');
        expect(s.headers['x-extra'], s.method).toBe('yes');
      }
    });
  });

  describe('failures', () => {
    it('rejects send with an error naming the status of a non-2xx answer', async () => {
      handler = (_req, res) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('upstream exploded');
      };
      const { t, got } = make();
      await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' })).rejects.toThrow(
        /HTTP 500: upstream exploded/,
      );
      expect(got.closes).toBe(0);
    });

    it('closes the transport on a 404 for a request carrying a session id', async () => {
      handler = sessionHandler('sess-404', (_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
      });
      const { t, got } = make();
      await t.send(INIT as JSONRPCMessage);
      await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' })).rejects.toThrow(/HTTP 404/);
      await waitFor(() => got.closes === 1, 'onclose');
      expect(got.errors.map((e) => e.message)).toEqual([expect.stringMatching(/HTTP 404/)]);
      await expect(t.send({ jsonrpc: '2.0', id: 2, method: 'ping' })).rejects.toThrow(/transport closed/);
    });

    it('does not close on a 404 when no session was established', async () => {
      handler = (_req, res) => {
        res.statusCode = 404;
        res.end('not here');
      };
      const { t, got } = make();
      await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' })).rejects.toThrow(/HTTP 404/);
      await sleep(20);
      expect(got.closes).toBe(0);
    });

    it('rejects a request answered with an unexpected content type', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html></html>');
      };
      const { t } = make();
      await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' })).rejects.toThrow(
        /content type text\/html/,
      );
    });
  });

  describe('GET stream', () => {
    it('opens a GET after notifications/initialized (202); its messages reach onmessage; it reopens when it ends', async () => {
      let getCount = 0;
      handler = sessionHandler('sess-get', (req, res) => {
        if (req.method !== 'GET') return sendJson(res, { jsonrpc: '2.0', id: 1, result: {} });
        getCount++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n`);
        if (getCount === 1) res.end();
      });
      const { t, got } = make();
      await t.send(INIT as JSONRPCMessage);
      t.setProtocolVersion(VERSION);
      expect(getsSeen()).toHaveLength(0);
      await t.send(INITIALIZED as JSONRPCMessage);
      const pushed = () => got.messages.filter((x) => x.method === 'notifications/tools/list_changed');
      await waitFor(() => pushed().length === 1, 'the GET stream message');
      expect(got.messages).toEqual([
        { jsonrpc: '2.0', id: 0, result: { protocolVersion: VERSION } },
        { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
      ]);
      const get = getsSeen()[0]!;
      expect(get.headers.accept).toBe('text/event-stream');
      expect(get.headers['mcp-session-id']).toBe('sess-get');
      expect(get.headers['mcp-protocol-version']).toBe(VERSION);
      // The server ended the first stream: the transport reopens it (after a ~1 s backoff).
      await waitFor(() => pushed().length === 2, 'the reopened GET stream', 3000);
      expect(getsSeen()).toHaveLength(2);
      expect(got.errors).toEqual([]);
    });

    it('accepts a 405 on the GET silently and does not retry; other notifications open no GET', async () => {
      handler = sessionHandler('sess-405', (req, res) => {
        res.statusCode = 405;
        res.setHeader('allow', 'POST');
        res.end();
      });
      const { t, got } = make();
      await t.send(INIT as JSONRPCMessage);
      await t.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
      await sleep(50);
      expect(getsSeen()).toHaveLength(0);
      await t.send(INITIALIZED as JSONRPCMessage);
      await waitFor(() => getsSeen().length === 1, 'the GET');
      // A retry would come after 1 s.
      await sleep(1200);
      expect(getsSeen()).toHaveLength(1);
      expect(got.errors).toEqual([]);
      expect(got.closes).toBe(0);
    });
  });
});

// ============================================================================ both together

describe('SDK Client ⇄ NodeStreamableHttpClientTransport ⇄ NodeStreamableHttpServerTransport ⇄ SDK Server', () => {
  let host: Host;
  beforeAll(async () => {
    host = await startHost();
  });
  afterAll(async () => {
    await host?.close();
  });

  it('initialises, lists and calls tools, and receives server notifications on the GET stream', async () => {
    const transport = new NodeStreamableHttpClientTransport(new URL(host.url));
    const client = new Client({ name: 'interop', version: '1' });
    let listChanged = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
    try {
      const getsBefore = host.gets;
      await client.connect(transport);
      expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      const { tools } = await client.listTools();
      expect(tools.map((x) => x.name)).toEqual(['echo']);
      const r = await client.callTool({ name: 'echo', arguments: { a: 1 } });
      expect(r.content).toEqual([{ type: 'text', text: '{"a":1}' }]);
      await waitFor(() => host.gets > getsBefore, 'the client to open its GET stream');
      await host.session(transport.sessionId!).server.sendToolListChanged();
      await waitFor(() => listChanged === 1, 'tools/list_changed at the client');
    } finally {
      await client.close();
    }
  });
});

/** A real Mandate whose only upstream is the HTTP tool-server fixture (upstream `web`, trust on first use). */
async function gatewayOverToolServer(o: {
  actions: string[];
  agents: string[];
  gateway?: Omit<NonNullable<Parameters<typeof startMandate>[0]['gateway']>, 'upstreams'>;
  server?: Parameters<typeof startMandate>[0]['server'];
}): Promise<{ m: Mandate; mcp: string; upstream: ChildProcess }> {
  const upstream = spawn(process.execPath, [join(FIXTURES, 'tool-server.mjs'), '--http'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const upstreamUrl = await new Promise<string>((resolve) =>
    createInterface({ input: upstream.stdout! }).once('line', resolve),
  );
  const actions = o.actions.map((a) => `Action::"${a}"`).join(', ');
  const { m, url } = await startMandate({
    schema: `
entity Agent = { roles: Set<String>, status: String };
entity Tool;
action ${o.actions.map((a) => `"${a}"`).join(', ')} appliesTo { principal: [Agent], resource: Tool };
`,
    policies: `@id("all") permit (principal is Agent, action in [${actions}], resource);`,
    entities: {
      agents: o.agents.map((id) => ({ id, roles: [], status: 'active', attributes: {} })),
      users: [],
      resources: [],
    },
    apiKeys: o.agents.map((id) => ({ name: id, secret: `secret-${id}-key`, role: 'agent', subject: id })),
    ...(o.server ? { server: o.server } : {}),
    gateway: { ...o.gateway, upstreams: [{ name: 'web', url: upstreamUrl, trustOnFirstUse: true }] },
  });
  return { m, mcp: `${url}/mcp`, upstream };
}

describe('gateway /mcp session limits', () => {
  let m: Mandate;
  let mcp: string;
  let upstream: ChildProcess;
  const bot = { authorization: 'Bearer secret-bot-key' };
  const bot2 = { authorization: 'Bearer secret-bot2-key' };

  async function open(auth: Record<string, string>): Promise<string> {
    const a = await post(mcp, INIT, auth);
    expect(a.status).toBe(200);
    const sid = String(a.headers['mcp-session-id']);
    expect((await post(mcp, INITIALIZED, { ...auth, 'mcp-session-id': sid })).status).toBe(202);
    return sid;
  }
  const list = (auth: Record<string, string>, sid: string) =>
    post(mcp, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...auth, 'mcp-session-id': sid });

  beforeAll(async () => {
    ({ m, mcp, upstream } = await gatewayOverToolServer({
      actions: ['web.echo'],
      agents: ['bot', 'bot2'],
      gateway: { maxSessionsPerKey: 2, sessionIdleMs: 1000 },
    }));
  });

  afterAll(async () => {
    await m?.close();
    upstream?.kill();
  });

  it('closes a key’s least recently used session past its cap, and no other key’s', async () => {
    const other = await open(bot2);
    const first = await open(bot);
    const second = await open(bot);
    expect((await list(bot, first)).status).toBe(200); // first is now the most recently used
    const third = await open(bot);
    // The cap is 2 per key: opening the third closed the least recently used one (second).
    expect((await list(bot, second)).status).toBe(404);
    expect((await list(bot, first)).status).toBe(200);
    expect((await list(bot, third)).status).toBe(200);
    expect((await list(bot2, other)).status).toBe(200);
  });

  it('closes a session nobody used for sessionIdleMs', async () => {
    const sid = await open(bot);
    expect((await list(bot, sid)).status).toBe(200);
    // Idle for 1 s; the sweep runs every second.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await list(bot, sid)).status).toBe(404);
    // A new session works at once.
    expect((await list(bot, await open(bot))).status).toBe(200);
  });
});

describe('gateway /mcp under overload', () => {
  let m: Mandate;
  let mcp: string;
  let upstream: ChildProcess;
  const bot = { authorization: 'Bearer secret-bot-key' };

  beforeAll(async () => {
    ({ m, mcp, upstream } = await gatewayOverToolServer({
      actions: ['web.echo', 'web.hang'],
      agents: ['bot'],
      server: { maxInFlight: 1 },
      gateway: { callTimeoutMs: 1500 },
    }));
  });

  afterAll(async () => {
    await m?.close();
    upstream?.kill();
  });

  it('sheds a POST past server.maxInFlight with 503 overloaded, and serves again once the load is gone', async () => {
    const a = await post(mcp, INIT, bot);
    const sid = String(a.headers['mcp-session-id']);
    const h = { ...bot, 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
    expect((await post(mcp, INITIALIZED, h)).status).toBe(202);
    // One call held open by an upstream that never answers fills the one slot.
    const hung = post(
      mcp,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'web.hang', arguments: {} } },
      h,
    );
    await new Promise((r) => setTimeout(r, 300));
    const shed = await post(mcp, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, h);
    expect(shed.status).toBe(503);
    expect(shed.text).toContain('overloaded');
    // The held call ends (timed out upstream); then the slot is free again.
    expect((await hung).status).toBe(200);
    expect((await post(mcp, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, h)).status).toBe(200);
  });
});

describe('gateway start-up discovery', () => {
  const bot = { authorization: 'Bearer secret-bot-key' };
  const started: { m: Mandate; upstream: ChildProcess }[] = [];
  const start = async () => {
    const g = await gatewayOverToolServer({ actions: ['web.echo'], agents: ['bot'] });
    started.push(g);
    return g;
  };

  afterAll(async () => {
    for (const g of started) {
      await g.m.close();
      g.upstream.kill();
    }
  });

  it('pins and registers the upstream tools at start: the decision API knows them before any MCP client', async () => {
    const { m, mcp } = await start();
    const decide = async () => {
      const r = await fetch(`${mcp.replace(/\/mcp$/, '')}/v1/decisions`, {
        method: 'POST',
        headers: { ...bot, 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'bot', action: 'web.echo', args: { text: 'hi' } }),
      });
      return (await r.json()) as { effect: string; errors: { code: string }[] };
    };
    let d = await decide();
    for (let i = 0; i < 50 && d.effect !== 'allow'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      d = await decide();
    }
    expect(d.effect).toBe('allow');
    expect((await m.store.listToolPins('web')).map((p) => p.tool)).toEqual(
      expect.arrayContaining(['echo', 'hang', 'refund']),
    );
  });

  it('pins each tool once when a client lists while the start-up listing runs', async () => {
    const { m, mcp } = await start();
    const sid = String((await post(mcp, INIT, bot)).headers['mcp-session-id']);
    await post(mcp, INITIALIZED, { ...bot, 'mcp-session-id': sid });
    await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...bot, 'mcp-session-id': sid });
    let pinned: Awaited<ReturnType<typeof m.store.queryAudit>> = [];
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pinned = await m.store.queryAudit({ type: 'tool.pinned', limit: 100 });
    }
    const names = pinned.map((r) => r.columns.action);
    expect(names).toEqual(expect.arrayContaining(['web.echo', 'web.hang', 'web.refund']));
    expect(names.length).toBe(new Set(names).size);
  });
});
