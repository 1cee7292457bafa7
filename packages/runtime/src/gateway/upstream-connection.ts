import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  ResultSchema,
  type ClientCapabilities,
  type JSONRPCRequest,
  type Notification,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { NodeStreamableHttpClientTransport } from './http-client-transport.js';
import { createDirectCalls, type DirectCalls } from './direct-calls.js';
import type { GatewayContext } from './options.js';
import type { UpstreamConfig } from './upstreams.js';

/** One connection to one upstream (a spawned process for stdio, a session for HTTP). */
export interface Conn {
  cfg: UpstreamConfig;
  client: Client;
  /** The hot path for `tools/call`, past the SDK client's request machinery. */
  direct: DirectCalls;
  caps: ServerCapabilities;
  instructions: string | undefined;
  /** Downstream request ids currently forwarded to this upstream, newest last. */
  inflight: RequestId[];
  /**
   * The definition hash of each tool as this connection's own last listing gave it
   * (conn-listing.ts), or null: not listed yet, or its last listing failed. A call goes only over a
   * connection whose listing showed the definition the call was decided on.
   */
  listed: Map<string, string> | null;
  /** The listing of this connection in flight (it never rejects): a call on it waits for it. */
  listing: Promise<void> | null;
}

/** What an upstream sends on its own: routed to the session that owns the connection. */
export interface UpstreamEvents {
  notification(conn: Conn, n: Notification): Promise<void>;
  request(conn: Conn, r: JSONRPCRequest, signal: AbortSignal): Promise<Record<string, unknown>>;
  closed(conn: Conn): void;
}

/** Events of a connection nobody downstream listens to (the start-up listing). */
export const NO_EVENTS: UpstreamEvents = {
  notification: async () => {},
  request: async () => ({}),
  closed: () => {},
};

/**
 * Connects to one upstream and initialises it, declaring `clientCaps` — exactly what the downstream
 * client declared, so the upstream never asks for something the client cannot give.
 */
export async function connectUpstream(
  ctx: GatewayContext,
  u: UpstreamConfig,
  clientCaps: ClientCapabilities,
  onEvent: UpstreamEvents,
): Promise<Conn> {
  const { logger } = ctx;
  const client = new Client({ name: 'mandate-gateway', version: '0.1.0' }, { capabilities: clientCaps });
  let transport: Transport;
  if (u.url) {
    // SECURITY: only the gateway's own configured headers go upstream; the caller's token never does.
    transport = new NodeStreamableHttpClientTransport(new URL(u.url), { ...(u.headers ?? {}) });
  } else {
    const t = new StdioClientTransport({
      command: u.command!,
      args: u.args ?? [],
      ...(u.env ? { env: { ...getDefaultEnvironment(), ...u.env } } : {}),
      ...(u.cwd ? { cwd: u.cwd } : {}),
      stderr: 'pipe',
    });
    t.stderr?.on('data', (chunk: Buffer) =>
      logger.debug('upstream stderr', { server: u.name, line: chunk.toString('utf8').slice(0, 500) }),
    );
    transport = t;
  }
  const conn: Conn = {
    cfg: u,
    client,
    direct: createDirectCalls(transport),
    caps: {},
    instructions: undefined,
    inflight: [],
    listed: null,
    listing: null,
  };
  client.fallbackNotificationHandler = async (n) => onEvent.notification(conn, n);
  client.fallbackRequestHandler = async (r, extra) => onEvent.request(conn, r, extra.signal);
  client.onclose = () => {
    conn.direct.failAll(`upstream ${u.name} closed the connection`);
    onEvent.closed(conn);
  };
  try {
    await client.connect(transport, { timeout: ctx.connectTimeoutMs });
  } catch (err) {
    // A spawned process that did not initialise in time must not live on.
    await client.close().catch(() => undefined);
    throw err;
  }
  conn.direct.attach();
  conn.caps = client.getServerCapabilities() ?? {};
  conn.instructions = client.getInstructions();
  return conn;
}

/** Every page of a list method (at most 100 pages). */
export async function listAll(
  ctx: GatewayContext,
  conn: Conn,
  method: string,
  field: string,
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = (await conn.client.request({ method, params: cursor ? { cursor } : {} }, ResultSchema, {
      timeout: ctx.callTimeoutMs,
    })) as Record<string, unknown>;
    const items = Array.isArray(r[field]) ? (r[field] as Record<string, unknown>[]) : [];
    out.push(...items);
    cursor = typeof r.nextCursor === 'string' ? r.nextCursor : undefined;
    if (!cursor) break;
  }
  return out;
}
