import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../decisions/index.js';
import type { ToolPin } from '../storage/port.js';
import { createCatalog } from './catalog.js';
import { createHttpEndpoint } from './http-endpoint.js';
import type { GatewayContext, GatewayDeps, GatewayOptions } from './options.js';
import { createPinService, type PinService } from './pins.js';
import { openSession, type OpenSession } from './session.js';
import { StrictStdioServerTransport } from './stdio-server-transport.js';
import { connectUpstream, listAll, NO_EVENTS } from './upstream-connection.js';
import { validateUpstreams, type UpstreamConfig } from './upstreams.js';

export type { GatewayDeps, GatewayOptions } from './options.js';

/** The MCP gateway: decides every `tools/call` before forwarding exactly what was decided. */
export interface Gateway {
  /** Serves Streamable HTTP on `/mcp` (a Node request listener). */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * Serves one MCP session over a given transport, declaring `clientCaps` upstream (the client's
   * own `initialize` capabilities; nothing when unknown).
   */
  serve(
    transport: Transport,
    caller: Caller,
    clientCaps?: ClientCapabilities,
    /** Looks the session's credential up again: before every decision (the transport authenticates nothing). */
    reauthenticate?: () => Promise<Caller>,
  ): Promise<{ closed: Promise<void> }>;
  /**
   * `mandate gateway --stdio`: one session on stdin/stdout, strictly parsed; upstreams learn the
   * capabilities the client declared. `closed` resolves when stdin ends or `stop()` is called.
   */
  serveStdio(
    caller: Caller,
    /** Authenticates the session's credential again (a decision long after the last check does). */
    reauthenticate?: () => Promise<Caller>,
  ): Promise<{ closed: Promise<void>; stop(): Promise<void> }>;
  /** Lists every upstream's tools once, pinning them, and publishes the registry entries. */
  refresh(): Promise<void>;
  /**
   * Starts `refresh` in the background (at start), logging an upstream it cannot reach; `close` waits
   * for it. Called again, gives the same run: it settles (never rejects) when every upstream was tried.
   */
  discover(): Promise<void>;
  pins: PinService;
  /** The pins (of one upstream, or all) with the action each tool maps to (`GET /v1/tools/pins`). */
  listPins(server?: string): Promise<Array<ToolPin & { action: string | null }>>;
  /** Approves an upstream tool by its action name (`<actionPrefix><tool>`). */
  approve(name: string, approvedBy: string, hash?: string): Promise<ToolPin>;
  /** Open `/mcp` sessions. */
  sessionCount(): number;
  close(): Promise<void>;
}

export function createGateway(deps: GatewayDeps, options: GatewayOptions): Gateway {
  validateUpstreams(options.upstreams);
  const callTimeoutMs = options.callTimeoutMs ?? 60_000;
  const ctx: GatewayContext = {
    deps,
    options,
    logger: deps.logger,
    callTimeoutMs,
    // A cold start (a spawned interpreter, `npx` resolving a package, a loaded machine) is not a hung call.
    connectTimeoutMs: options.connectTimeoutMs ?? Math.max(30_000, callTimeoutMs),
    holdDefault: options.holdForApprovalMs ?? 0,
  };
  const { logger } = deps;
  const pins = createPinService({ store: deps.store, clock: deps.clock, logger, record: deps.record });
  const catalog = createCatalog(ctx, pins);
  // Governed requests (resources/read, prompts/get …) are actions from the start, before any listing.
  catalog.publish();
  const openSessions = new Set<() => Promise<void>>();

  async function open(
    caller: Caller,
    caps: ClientCapabilities,
    label: () => string | undefined,
    reauthenticate?: () => Promise<Caller>,
    transportAuthenticates = false,
  ) {
    const opened = await openSession(
      ctx,
      catalog,
      caller,
      caps,
      label,
      reauthenticate,
      transportAuthenticates,
    );
    const close = async () => {
      openSessions.delete(close);
      await opened.close();
    };
    openSessions.add(close);
    return { ...opened, close } satisfies OpenSession;
  }
  // Each HTTP request of a session is authenticated by its own headers (http-endpoint.ts).
  const http = createHttpEndpoint(ctx, (caller, caps, label, reauthenticate) =>
    open(caller, caps, label, reauthenticate, true),
  );

  async function serve(
    transport: Transport,
    caller: Caller,
    clientCaps: ClientCapabilities = {},
    reauthenticate?: () => Promise<Caller>,
  ) {
    const opened = await open(caller, clientCaps, () => transport.sessionId, reauthenticate);
    const closed = new Promise<void>((resolve) => {
      opened.server.onclose = () => {
        void opened.close().finally(resolve);
      };
    });
    await opened.server.connect(transport);
    return { closed };
  }

  async function serveStdio(caller: Caller, reauthenticate?: () => Promise<Caller>) {
    const transport = new StrictStdioServerTransport();
    // The client's initialize comes first: its capabilities are what upstreams may rely on.
    const first = await transport.first();
    if (first === null) return { closed: Promise.resolve(), stop: () => transport.close() };
    const init = first as { method?: unknown; params?: { capabilities?: ClientCapabilities } };
    const caps = init.method === 'initialize' ? (init.params?.capabilities ?? {}) : {};
    const { closed } = await serve(transport, caller, caps, reauthenticate);
    return { closed, stop: () => transport.close() };
  }

  let discovery: Promise<void> | undefined;
  let stopped = false;

  /**
   * Connects to one upstream, pins and catalogues its tools, and disconnects. It declares no client
   * capabilities: no client stands behind it to answer an upstream's sampling, elicitation or roots
   * requests (declaring them would invite requests nobody answers). SECURITY: an upstream can tell
   * this listing apart by that (and by its making no calls) and show it another definition than it
   * shows sessions. What it lists pins the tools and fills the registry, and never lets a call run:
   * every session's connection lists its tools for itself before a call goes over it (conn-listing.ts).
   */
  async function refreshOne(u: UpstreamConfig): Promise<void> {
    const conn = await connectUpstream(ctx, u, {}, NO_EVENTS);
    try {
      if (conn.caps.tools) await catalog.absorb(u, await listAll(ctx, conn, 'tools/list', 'tools'));
    } finally {
      await conn.client.close();
    }
  }

  return {
    handleHttp: http.handle,
    serve,
    serveStdio,
    async refresh() {
      for (const u of options.upstreams) await refreshOne(u);
      catalog.publish();
    },
    discover() {
      // Pins and the registry should not wait for the first client: list every upstream once at
      // start, in the background (a slow or absent upstream must not hold the node back).
      discovery ??= (async () => {
        for (const u of options.upstreams) {
          if (stopped) return;
          try {
            await refreshOne(u);
          } catch (err) {
            logger.warn("could not list an upstream's tools at start; they are listed when a client asks", {
              server: u.name,
              error: (err as Error).message,
            });
          }
        }
        if (!stopped) catalog.publish();
      })();
      return discovery;
    },
    pins,
    listPins: async (server) =>
      (await pins.list(server)).map((p) => ({ ...p, action: catalog.actionOfPin(p) })),
    approve: (name, approvedBy, hash) => catalog.approve(name, approvedBy, hash),
    sessionCount: http.size,
    async close() {
      stopped = true;
      http.close();
      await discovery;
      await Promise.allSettled([...openSessions].map((c) => c()));
    },
  };
}
