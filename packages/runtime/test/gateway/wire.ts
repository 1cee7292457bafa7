// `/mcp` as a client sees it on the wire (fetch, no SDK client): for tests that need what the SDK
// never does — abandon a POST, reuse a request id, keep a GET stream open and read it raw.

/** A JSON-RPC message as the tests read it. */
export type Rpc = Record<string, unknown> & {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown> & { _meta?: Record<string, unknown> };
  error?: { code: number; message: string; data?: unknown };
};

export interface WireAnswer {
  status: number;
  sessionId: string | null;
  /** The JSON body, or each `data:` of an SSE body, in order. */
  messages: Rpc[];
  text: string;
}

const MCP_VERSION = '2025-06-18';

/** The messages of an SSE body (its `data:` lines, one message each). */
export function sseData(text: string): Rpc[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => JSON.parse(l.slice(5).trim()) as Rpc);
}

/** POSTs `body` on `/mcp` (of `sessionId`, if given) with a bearer key and a well-behaved client's headers. */
export async function wirePost(
  url: string,
  key: string,
  sessionId: string | null,
  body: unknown,
  signal?: AbortSignal,
): Promise<WireAnswer> {
  const res = await fetch(new URL('/mcp', url), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...(sessionId ? { 'mcp-session-id': sessionId, 'mcp-protocol-version': MCP_VERSION } : {}),
    },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  const sse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
  return {
    status: res.status,
    sessionId: res.headers.get('mcp-session-id'),
    messages: sse ? sseData(text) : text ? [JSON.parse(text) as Rpc] : [],
    text,
  };
}

export const initializeRequest = (id: number | string = 0) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: MCP_VERSION, capabilities: {}, clientInfo: { name: 'wire-test', version: '1' } },
});

/** initialize + notifications/initialized; returns the session id and the initialize result. */
export async function wireSession(
  url: string,
  key: string,
): Promise<{ sessionId: string; init: Record<string, unknown> }> {
  const a = await wirePost(url, key, null, initializeRequest());
  if (a.status !== 200 || !a.sessionId) throw new Error(`initialize failed: ${a.status} ${a.text}`);
  const n = await wirePost(url, key, a.sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' });
  if (n.status !== 202) throw new Error(`notifications/initialized: ${n.status} ${n.text}`);
  return { sessionId: a.sessionId, init: a.messages[0]!.result! };
}

export const toolCall = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

/** A session's GET stream kept open: its messages arrive in `messages`; `ended` once the server ends it. */
export interface WireStream {
  messages: Rpc[];
  ended(): boolean;
  close(): void;
}

export async function wireGetStream(url: string, key: string, sessionId: string): Promise<WireStream> {
  const ac = new AbortController();
  const res = await fetch(new URL('/mcp', url), {
    headers: {
      authorization: `Bearer ${key}`,
      accept: 'text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': MCP_VERSION,
    },
    signal: ac.signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`GET stream: ${res.status} ${await res.text()}`);
  const messages: Rpc[] = [];
  let done = false;
  let buf = '';
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        const cut = buf.lastIndexOf('\n\n');
        if (cut < 0) continue;
        messages.push(...sseData(buf.slice(0, cut)));
        buf = buf.slice(cut + 2);
      }
    } catch {
      // Aborted by close().
    } finally {
      done = true;
    }
  })();
  return { messages, ended: () => done, close: () => ac.abort() };
}
