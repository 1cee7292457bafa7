import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { NodeStreamableHttpClientTransport } from './http-client-transport.js';
import { createDirectCalls, type DirectCalls } from './direct-calls.js';
import { readBodyBytes } from '../http/body.js';
import { NodeStreamableHttpServerTransport, checkPostHeaders, reply } from './http-server-transport.js';
import {
  ElicitResultSchema,
  ErrorCode,
  McpError,
  ResultSchema,
  type ClientCapabilities,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type Notification,
  type RequestId,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ACTION_NAME, type AuditEvent, type Decision, type Tool } from '@mandate/protocol';
import {
  MandateError,
  createKeyedSerial,
  decodeUtf8Strict,
  isMandateError,
  parseJsonStrict,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import {
  CONTEXT_KEYS,
  agentEntity,
  type Caller,
  type DecisionOutcome,
  type DecisionService,
} from '../decisions/index.js';
import { SELF_CONFIRMATION, type ApprovalService } from '../approvals/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { Store, ToolPin } from '../storage/port.js';
import { createPinService, toolDefinition, type PinService } from './pins.js';
import { validateUpstreams, type UpstreamConfig } from './upstreams.js';

export interface GatewayDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  decisions: DecisionService;
  approvals: ApprovalService;
  policies: () => CompiledPolicySet | null;
  /** Registry entries from the config's tools file: they override the upstream-derived entry of the same action. */
  configTools: () => readonly Tool[];
  /** Publishes the gateway's approved tools so the decision path knows them (the app merges them into the registry). */
  setGatewayTools: (tools: Tool[]) => void;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** Resolves `Authorization: Bearer …` to a caller from a verified credential. */
  authenticate: (authorization: string | undefined) => Promise<Caller>;
}

export interface GatewayOptions {
  upstreams: UpstreamConfig[];
  /** Agent id or key id → the user that agent acts for (server-side; never from the request). */
  onBehalfOf?: Record<string, string>;
  /** Timeout of a forwarded request, in ms. */
  callTimeoutMs?: number;
  /** Timeout of starting an upstream (spawn or connect, initialize), in ms; default the larger of 30 s and `callTimeoutMs`. */
  connectTimeoutMs?: number;
  /** How long a `tools/call` needing approval is held open waiting for it (0: answer at once). */
  holdForApprovalMs?: number;
  /** Origins accepted on `/mcp` besides loopback ones. */
  allowedOrigins?: string[];
  /** Host names accepted on `/mcp` besides loopback ones. */
  allowedHosts?: string[];
  /** Largest `/mcp` request body, in bytes. */
  maxBodyBytes?: number;
  /** Open HTTP sessions per API key; one more closes the key's least recently used session. Default 16. */
  maxSessionsPerKey?: number;
  /** An HTTP session idle this long is closed. Default 30 minutes. */
  sessionIdleMs?: number;
}

/** The MCP gateway: decides every `tools/call` before forwarding exactly what was decided. */
export interface Gateway {
  /** Serves Streamable HTTP on `/mcp` (a Node request listener). */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Serves one MCP session over a given transport (stdin/stdout for `mandate gateway --stdio`). */
  serve(transport: Transport, caller: Caller): Promise<{ closed: Promise<void> }>;
  serveStdio(caller: Caller): Promise<{ closed: Promise<void> }>;
  /** Lists every upstream's tools once, pinning them, and publishes the registry entries. */
  refresh(): Promise<void>;
  /** Starts `refresh` in the background (at start), logging an upstream it cannot reach; `close` waits for it. */
  discover(): void;
  pins: PinService;
  /** Approves `<server>.<tool>` by its action name (or `server`/`tool` pair). */
  approve(name: string, approvedBy: string, hash?: string): Promise<ToolPin>;
  close(): Promise<void>;
}

interface CatalogEntry {
  upstream: UpstreamConfig;
  tool: string;
  action: string;
  exposed: string;
  def: Record<string, unknown>;
  raw: Record<string, unknown>;
  status: ToolPin['status'];
}

interface Conn {
  cfg: UpstreamConfig;
  client: Client;
  /** The hot path for `tools/call`, past the SDK client's request machinery. */
  direct: DirectCalls;
  caps: ServerCapabilities;
  instructions: string | undefined;
  /** Downstream request ids currently forwarded to this upstream, newest last. */
  inflight: RequestId[];
}

const META_DECISION = 'mandate/decisionId';
const META_APPROVAL = 'mandate/approvalId';
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function createGateway(deps: GatewayDeps, options: GatewayOptions): Gateway {
  validateUpstreams(options.upstreams);
  const { logger } = deps;
  const callTimeoutMs = options.callTimeoutMs ?? 60_000;
  // A cold start (a spawned interpreter, `npx` resolving a package, a loaded machine) is not a hung call.
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.max(30_000, callTimeoutMs);
  const holdDefault = options.holdForApprovalMs ?? 0;
  const pins = createPinService({ store: deps.store, clock: deps.clock, logger, record: deps.record });
  const permitCache = new Map<string, boolean>();
  /** By action name: the global catalog of upstream tools (shared by all sessions). */
  const catalog = new Map<string, CatalogEntry>();
  /** By exposed name (what clients call). */
  const byExposed = new Map<string, CatalogEntry>();
  /** HTTP sessions by id; insertion order is recency of use (a request moves its session to the end). */
  const sessions = new Map<
    string,
    { transport: NodeStreamableHttpServerTransport; caller: Caller; lastUsed: number }
  >();
  const maxSessionsPerKey = options.maxSessionsPerKey ?? 16;
  const sessionIdleMs = options.sessionIdleMs ?? 30 * 60_000;
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
  const openSessions = new Set<() => Promise<void>>();
  let published = '';

  const actionOf = (u: UpstreamConfig, tool: string) => (u.actionPrefix ?? `${u.name}.`) + tool;
  const exposedOf = (u: UpstreamConfig, tool: string) => (u.exposeBareNames ? tool : actionOf(u, tool));

  /** Listings of one upstream never interleave. */
  const absorbing = createKeyedSerial();

  /** Pins and catalogues one upstream's full tool list; returns its entries. */
  const absorb = (u: UpstreamConfig, tools: Record<string, unknown>[]): Promise<CatalogEntry[]> =>
    absorbing.run(u.name, () => absorbNow(u, tools));

  async function absorbNow(u: UpstreamConfig, tools: Record<string, unknown>[]): Promise<CatalogEntry[]> {
    // First every pin check (they wait on the store), then the catalogue changes all at once, so
    // nobody ever sees this upstream half-listed.
    const entries: CatalogEntry[] = [];
    for (const raw of tools) {
      const name = typeof raw.name === 'string' ? raw.name : '';
      const action = actionOf(u, name);
      if (!ACTION_NAME.test(action)) {
        logger.warn('upstream tool hidden: its action name does not fit namespace.verb', {
          server: u.name,
          tool: name.slice(0, 100),
        });
        continue;
      }
      const def = toolDefinition(raw);
      const status = await pins.check(u.name, def, u.trustOnFirstUse === true);
      entries.push({ upstream: u, tool: name, action, exposed: exposedOf(u, name), def, raw, status });
    }
    for (const [action, e] of catalog) if (e.upstream.name === u.name) catalog.delete(action);
    for (const entry of entries) {
      const clash = catalog.get(entry.action);
      if (clash && clash.upstream.name !== u.name) {
        // SECURITY: shadowing — two upstreams claiming one action: neither is trusted with it.
        logger.warn('two upstreams expose the same action; both hidden', {
          action: entry.action,
          servers: [clash.upstream.name, u.name],
        });
        clash.status = 'quarantined';
        entry.status = 'quarantined';
      }
      catalog.set(entry.action, entry);
    }
    rebuildExposed();
    publish();
    return entries;
  }

  function rebuildExposed(): void {
    byExposed.clear();
    const clashes = new Set<string>();
    for (const e of catalog.values()) {
      if (byExposed.has(e.exposed)) clashes.add(e.exposed);
      byExposed.set(e.exposed, e);
    }
    for (const name of clashes) {
      logger.warn('two upstream tools share one exposed name; hidden', { name });
      byExposed.delete(name);
    }
  }

  /** Registry entries for approved tools: the config's entry wins, else one derived from the upstream's inputSchema. */
  function publish(): void {
    const fromConfig = new Set(deps.configTools().map((t) => t.action));
    const tools: Tool[] = [];
    for (const e of catalog.values()) {
      // SECURITY: a quarantined tool gets no registry entry, so the decision path denies it as unknown.
      if (e.status !== 'approved' || fromConfig.has(e.action)) continue;
      tools.push({
        action: e.action,
        description: String(e.def.description ?? '').slice(0, 4000),
        inputSchema: schemaForRegistry(e.def.inputSchema),
        risk: 'medium',
        redact: [],
      });
    }
    for (const u of options.upstreams) {
      for (const verb of ['resources_subscribe', 'resources_unsubscribe']) {
        const action = `${u.name}.${verb}`;
        if (fromConfig.has(action)) continue;
        tools.push({
          action,
          description: `resources/${verb.slice('resources_'.length)} on upstream ${u.name}`,
          inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] },
          risk: 'low',
          redact: [],
        });
      }
    }
    const key = JSON.stringify(tools);
    if (key === published) return;
    published = key;
    deps.setGatewayTools(tools);
  }

  function isVisible(e: CatalogEntry): boolean {
    return e.status === 'approved' && byExposed.get(e.exposed) === e;
  }

  function callerUser(caller: Caller): string | null {
    // A verified credential that names the user wins; otherwise the server's own mapping.
    if (caller.onBehalfOf !== undefined) return caller.onBehalfOf;
    const map = options.onBehalfOf ?? {};
    return map[caller.keyId] ?? (caller.subject ? map[caller.subject] : undefined) ?? null;
  }

  // ---------------------------------------------------------------- upstream connections

  async function connect(
    u: UpstreamConfig,
    clientCaps: ClientCapabilities,
    onEvent: UpstreamEvents,
  ): Promise<Conn> {
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
    };
    client.fallbackNotificationHandler = async (n) => onEvent.notification(conn, n);
    client.fallbackRequestHandler = async (r, extra) => onEvent.request(conn, r, extra.signal);
    client.onclose = () => {
      conn.direct.failAll(`upstream ${u.name} closed the connection`);
      onEvent.closed(conn);
    };
    await client.connect(transport, { timeout: connectTimeoutMs });
    conn.direct.attach();
    conn.caps = client.getServerCapabilities() ?? {};
    conn.instructions = client.getInstructions();
    return conn;
  }

  interface UpstreamEvents {
    notification(conn: Conn, n: Notification): Promise<void>;
    request(conn: Conn, r: JSONRPCRequest, signal: AbortSignal): Promise<Record<string, unknown>>;
    closed(conn: Conn): void;
  }

  async function listAll(conn: Conn, method: string, field: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = (await conn.client.request({ method, params: cursor ? { cursor } : {} }, ResultSchema, {
        timeout: callTimeoutMs,
      })) as Record<string, unknown>;
      const items = Array.isArray(r[field]) ? (r[field] as Record<string, unknown>[]) : [];
      out.push(...items);
      cursor = typeof r.nextCursor === 'string' ? r.nextCursor : undefined;
      if (!cursor) break;
    }
    return out;
  }

  // ---------------------------------------------------------------- one downstream session

  async function openSession(
    caller: Caller,
    clientCaps: ClientCapabilities,
    sessionLabel: () => string | undefined,
  ) {
    // SECURITY: only agent credentials speak MCP; the agent id and its user come from the credential and config.
    if (caller.role !== 'agent' || !caller.subject)
      throw new MandateError('forbidden', 'the MCP gateway needs an agent API key');
    const agent = caller.subject;
    const onBehalfOf = callerUser(caller);
    const conns = new Map<string, Conn>();
    /** `tools/call` requests answered on the hot path, by request id, for cancellation. */
    const fastCalls = new Map<string, AbortController>();
    let server: Server | undefined;
    let closing = false;

    const latest = (conn: Conn): RequestId | undefined => conn.inflight[conn.inflight.length - 1];
    const events: UpstreamEvents = {
      async notification(conn, n) {
        if (!server) return;
        if (n.method === 'notifications/tools/list_changed') {
          // Re-check pins now: a changed definition is quarantined before any client sees it.
          try {
            await absorb(conn.cfg, await listAll(conn, 'tools/list', 'tools'));
          } catch (err) {
            logger.warn('re-listing tools after list_changed failed', {
              server: conn.cfg.name,
              error: (err as Error).message,
            });
          }
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

    async function reconnect(u: UpstreamConfig, attempt: number): Promise<void> {
      const delay = Math.min(30_000, 250 * 2 ** attempt);
      await new Promise((r) => setTimeout(r, delay).unref());
      if (closing) return;
      try {
        conns.set(u.name, await connect(u, clientCaps, events));
        logger.info('upstream reconnected', { server: u.name, attempt });
      } catch (err) {
        logger.warn('upstream reconnect failed', { server: u.name, attempt, error: (err as Error).message });
        void reconnect(u, attempt + 1);
      }
    }

    const close = async () => {
      closing = true;
      openSessions.delete(close);
      for (const ac of fastCalls.values()) ac.abort('the session closed');
      await Promise.allSettled([...conns.values()].map((c) => c.client.close()));
      conns.clear();
      await server?.close().catch(() => undefined);
    };
    openSessions.add(close);

    try {
      const settled = await Promise.allSettled(options.upstreams.map((u) => connect(u, clientCaps, events)));
      settled.forEach((s, i) => {
        const u = options.upstreams[i]!;
        if (s.status === 'fulfilled') conns.set(u.name, s.value);
        else {
          logger.error('upstream unavailable', { server: u.name, error: (s.reason as Error)?.message });
          void reconnect(u, 0);
        }
      });
    } catch (err) {
      await close();
      throw err;
    }

    const caps: ServerCapabilities = { tools: { listChanged: true } };
    const instructions: string[] = [];
    for (const c of conns.values()) {
      if (c.caps.resources) caps.resources = { ...(caps.resources ?? {}), ...c.caps.resources };
      if (c.caps.prompts) caps.prompts = { ...(caps.prompts ?? {}), ...c.caps.prompts };
      if (c.caps.logging) caps.logging = {};
      if (c.caps.completions) caps.completions = {};
      if (c.instructions) instructions.push(c.instructions);
    }
    server = new Server(
      { name: 'mandate-gateway', version: '0.1.0' },
      { capabilities: caps, ...(instructions.length ? { instructions: instructions.join('\n\n') } : {}) },
    );
    server.removeRequestHandler('logging/setLevel');
    const srv = server;

    const withCap = (cap: keyof ServerCapabilities) => [...conns.values()].filter((c) => c.caps[cap]);
    const uriOwner = new Map<string, string>();
    const promptOwner = new Map<string, { conn: string; name: string }>();

    const forward = async (
      conn: Conn,
      method: string,
      params: Record<string, unknown> | undefined,
      id: RequestId,
      signal: AbortSignal,
    ) => {
      conn.inflight.push(id);
      try {
        return (await conn.client.request({ method, params } as never, ResultSchema, {
          signal,
          timeout: callTimeoutMs,
        })) as Record<string, unknown>;
      } finally {
        conn.inflight.splice(conn.inflight.indexOf(id), 1);
      }
    };

    const routeUri = (uri: string): Conn => {
      const owner = uriOwner.get(uri);
      const byOwner = owner ? conns.get(owner) : undefined;
      if (byOwner) return byOwner;
      const candidates = withCap('resources');
      if (candidates.length === 1) return candidates[0]!;
      throw new McpError(
        ErrorCode.InvalidParams,
        `no upstream is known to serve ${uri}; list resources first`,
      );
    };

    async function listTools(): Promise<Record<string, unknown>> {
      const tools: Record<string, unknown>[] = [];
      // Only tools this agent could ever be allowed to call (its own roles and attributes, by partial
      // evaluation), never a quarantined one. Hiding is a courtesy: every call is decided anyway.
      const policy = deps.policies();
      const self = await deps.store.getAgent(agent);
      const selfEntity = self && self.status === 'active' ? agentEntity(self) : null;
      const mayCall = (action: string) => {
        if (!policy || !selfEntity) return false;
        const key = `${policy.version}\0${JSON.stringify(selfEntity)}\0${action}`;
        let hit = permitCache.get(key);
        if (hit === undefined) {
          hit = policy.couldPermit(selfEntity, action, CONTEXT_KEYS);
          if (permitCache.size > 10_000) permitCache.clear();
          permitCache.set(key, hit);
        }
        return hit;
      };
      for (const conn of conns.values()) {
        if (!conn.caps.tools) continue;
        await absorb(conn.cfg, await listAll(conn, 'tools/list', 'tools'));
        // The catalogue as it is now (another listing of this upstream may have landed meanwhile).
        for (const e of catalog.values())
          if (e.upstream.name === conn.cfg.name && isVisible(e) && mayCall(e.action))
            tools.push({ ...e.raw, name: e.exposed });
      }
      return { tools };
    }

    async function decide(
      action: string,
      args: Record<string, unknown>,
      approvalId: string | null,
    ): Promise<DecisionOutcome> {
      const label = sessionLabel();
      return deps.decisions.decide(
        {
          agent,
          onBehalfOf,
          action,
          args,
          approvalId,
          ...(label ? { sessionId: label } : {}),
        },
        caller,
      );
    }

    /**
     * Asks the client's user (the user this agent acts for) to confirm a `@approval("self")` call,
     * showing the summary rendered from the real args, and records the answer as their vote.
     */
    async function confirmByElicitation(
      approvalId: string,
      requestId: RequestId,
      signal: AbortSignal,
    ): Promise<'confirmed' | 'declined' | 'unanswered'> {
      const a = await deps.approvals.get(approvalId);
      if (!a || a.status !== 'pending' || onBehalfOf === null) return 'unanswered';
      let answer: { action: string; content?: Record<string, unknown> };
      try {
        answer = await srv.request(
          {
            method: 'elicitation/create',
            params: {
              message: `${agent} asks you (${onBehalfOf}) to confirm: ${a.summary}`,
              requestedSchema: {
                type: 'object',
                properties: { confirm: { type: 'boolean', title: 'Confirm', description: a.summary } },
                required: ['confirm'],
              },
            },
          },
          ElicitResultSchema,
          { relatedRequestId: requestId, signal, timeout: callTimeoutMs },
        );
      } catch (err) {
        logger.warn('confirmation by elicitation failed', { approvalId, error: describe(err) });
        return 'unanswered';
      }
      const yes = answer.action === 'accept' && answer.content?.confirm === true;
      try {
        await deps.approvals.vote(
          approvalId,
          { id: onBehalfOf, roles: [] },
          yes ? 'approve' : 'deny',
          `${yes ? 'confirmed' : answer.action} by the user through MCP elicitation`,
          null,
        );
      } catch (err) {
        logger.warn('recording the confirmation failed', { approvalId, error: describe(err) });
        return 'unanswered';
      }
      return yes ? 'confirmed' : 'declined';
    }

    async function callTool(
      params: Record<string, unknown>,
      id: RequestId,
      signal: AbortSignal,
      sendProgress: ((p: Record<string, unknown>) => Promise<void>) | null,
    ) {
      const name = typeof params.name === 'string' ? params.name : '';
      const rawArgs = params.arguments ?? {};
      if (!rawArgs || typeof rawArgs !== 'object' || Array.isArray(rawArgs)) {
        throw new McpError(ErrorCode.InvalidParams, 'tools/call arguments must be an object');
      }
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      let entry = byExposed.get(name);
      if (!entry) {
        await listTools().catch(() => undefined);
        entry = byExposed.get(name);
      }
      const action = entry?.action ?? name;
      if (!ACTION_NAME.test(action)) return errorResult(`unknown tool ${name.slice(0, 100)}`, null);
      const approvalId = typeof meta[META_APPROVAL] === 'string' ? (meta[META_APPROVAL] as string) : null;

      let outcome: DecisionOutcome;
      try {
        outcome = await decide(action, rawArgs as Record<string, unknown>, approvalId);
      } catch (err) {
        // SECURITY: fail closed — no decision (bad args, wrong agent, audit down) means no call.
        return errorResult(`Mandate could not decide this call: ${describe(err)}`, refusalId(err));
      }
      let d = outcome.decision;
      // SECURITY: a quarantined, unknown or clashing tool is never forwarded, whatever the decision
      // says. The catalogue may have been re-listed while we decided: judge the tool as it stands now.
      const current = entry ? byExposed.get(entry.exposed) : undefined;
      if (!entry || !current || current.action !== entry.action || current.status !== 'approved') {
        return errorResult(
          entry
            ? `tool ${name} is quarantined: its definition is new or changed and awaits an admin's approval (mandate tools approve ${entry.action})`
            : `unknown tool ${name}`,
          d.decisionId,
        );
      }
      entry = current;
      if (d.effect === 'approval_required' && d.approval) {
        const hold = entry.upstream.holdForApprovalMs?.[entry.tool] ?? holdDefault;
        if (hold > 0) {
          const resolved = await deps.approvals.wait(d.approval.id, hold, signal);
          if (resolved && resolved.status === 'approved') {
            try {
              outcome = await decide(action, outcome.args, d.approval.id);
            } catch (err) {
              return errorResult(`Mandate could not decide this call: ${describe(err)}`, d.decisionId);
            }
            d = outcome.decision;
          } else if (resolved && resolved.status !== 'pending') {
            return errorResult(
              `approval ${resolved.id} was ${resolved.status}; the call was not made`,
              d.decisionId,
            );
          }
        }
      }
      if (
        d.effect === 'approval_required' &&
        d.approval?.role === SELF_CONFIRMATION &&
        onBehalfOf !== null &&
        clientCaps.elicitation
      ) {
        // The policy asks the user acted for to confirm this exact call, and the client can ask them.
        const pendingId = d.approval.id;
        const confirmed = await confirmByElicitation(pendingId, id, signal);
        if (confirmed === 'declined')
          return errorResult(`the user declined this call (approval ${pendingId})`, d.decisionId);
        if (confirmed === 'confirmed') {
          try {
            outcome = await decide(action, outcome.args, pendingId);
          } catch (err) {
            return errorResult(`Mandate could not decide this call: ${describe(err)}`, d.decisionId);
          }
          d = outcome.decision;
        }
      }
      if (d.effect === 'approval_required') {
        const a = d.approval!;
        return errorResult(
          `approval required: this exact call was sent to a ${a.role} for approval (approval ${a.id}, expires ${a.expiresAt}). ` +
            `Once approved, call the tool again with the same arguments and _meta {"${META_APPROVAL}": "${a.id}"}. ` +
            `Reasons: ${reasonText(d)}`,
          d.decisionId,
          { [META_APPROVAL]: a.id },
        );
      }
      if (d.effect !== 'allow') {
        // SECURITY: deny — the upstream is never contacted.
        return errorResult(`denied by Mandate: ${reasonText(d)}`, d.decisionId);
      }
      const conn = conns.get(entry.upstream.name);
      if (!conn) return errorResult(`upstream ${entry.upstream.name} is unavailable`, d.decisionId);
      const upMeta: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(meta))
        if (!k.startsWith('mandate/') && k !== 'progressToken') upMeta[k] = v;
      const upParams: Record<string, unknown> = { ...params, name: entry.tool, arguments: outcome.args };
      if (Object.keys(upMeta).length > 0) upParams._meta = upMeta;
      else delete upParams._meta;
      conn.inflight.push(id);
      try {
        // SECURITY: what was checked is what runs — exactly the decided args go upstream.
        const result = await conn.direct.call('tools/call', upParams, {
          signal,
          timeoutMs: callTimeoutMs,
          ...(sendProgress ? { onprogress: (p) => void sendProgress(p) } : {}),
        });
        return {
          ...result,
          _meta: { ...((result._meta as Record<string, unknown>) ?? {}), [META_DECISION]: d.decisionId },
        };
      } catch (err) {
        if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
          logger.warn('upstream call timed out', {
            server: conn.cfg.name,
            tool: entry.tool,
            decisionId: d.decisionId,
          });
          return errorResult(
            `upstream ${conn.cfg.name} did not answer ${entry.tool} within ${callTimeoutMs} ms; the call was cancelled`,
            d.decisionId,
          );
        }
        if (err instanceof McpError)
          throw new McpError(err.code, err.message, {
            ...(isRecord(err.data) ? err.data : {}),
            [META_DECISION]: d.decisionId,
          });
        throw err;
      } finally {
        conn.inflight.splice(conn.inflight.indexOf(id), 1);
      }
    }

    async function governed(
      conn: Conn,
      verb: 'resources_subscribe' | 'resources_unsubscribe',
      params: Record<string, unknown>,
      id: RequestId,
      signal: AbortSignal,
    ) {
      const uri = typeof params.uri === 'string' ? params.uri : '';
      let outcome: DecisionOutcome;
      try {
        outcome = await decide(`${conn.cfg.name}.${verb}`, { uri }, null);
      } catch (err) {
        throw new McpError(
          ErrorCode.InvalidRequest,
          `Mandate could not decide this request: ${describe(err)}`,
        );
      }
      const d = outcome.decision;
      if (d.effect !== 'allow') {
        throw new McpError(ErrorCode.InvalidRequest, `denied by Mandate: ${reasonText(d)}`, {
          [META_DECISION]: d.decisionId,
        });
      }
      const r = await forward(
        conn,
        verb === 'resources_subscribe' ? 'resources/subscribe' : 'resources/unsubscribe',
        { ...params, uri },
        id,
        signal,
      );
      return {
        ...r,
        _meta: { ...((r._meta as Record<string, unknown>) ?? {}), [META_DECISION]: d.decisionId },
      };
    }

    srv.fallbackRequestHandler = async (request, extra) => {
      const params = (request.params ?? {}) as Record<string, unknown>;
      const id = extra.requestId;
      const signal = extra.signal;
      switch (request.method) {
        case 'tools/list':
          return listTools() as never;
        case 'tools/call': {
          const sendProgress = progressSender(params, (n) => extra.sendNotification(n as never));
          return callTool(params, id, signal, sendProgress) as never;
        }
        case 'resources/list':
        case 'resources/templates/list': {
          const field = request.method === 'resources/list' ? 'resources' : 'resourceTemplates';
          const list = withCap('resources');
          if (list.length === 1) {
            const r = await forward(list[0]!, request.method, params, id, signal);
            if (Array.isArray(r[field]))
              for (const x of r[field] as { uri?: string }[])
                if (x.uri) uriOwner.set(x.uri, list[0]!.cfg.name);
            return r as never;
          }
          const items: Record<string, unknown>[] = [];
          for (const c of list) {
            for (const x of await listAll(c, request.method, field)) {
              if (typeof x.uri === 'string') uriOwner.set(x.uri, c.cfg.name);
              items.push(x);
            }
          }
          return { [field]: items } as never;
        }
        case 'resources/read':
          return forward(routeUri(String(params.uri ?? '')), request.method, params, id, signal) as never;
        case 'resources/subscribe':
        case 'resources/unsubscribe':
          // Side effects on upstream state are decided like tool calls (action `<server>.resources_subscribe`).
          return governed(
            routeUri(String(params.uri ?? '')),
            request.method === 'resources/subscribe' ? 'resources_subscribe' : 'resources_unsubscribe',
            params,
            id,
            signal,
          ) as never;
        case 'prompts/list': {
          const prompts: Record<string, unknown>[] = [];
          const list = withCap('prompts');
          for (const c of list) {
            for (const p of await listAll(c, 'prompts/list', 'prompts')) {
              const exposed = c.cfg.exposeBareNames ? String(p.name) : `${c.cfg.name}.${String(p.name)}`;
              promptOwner.set(exposed, { conn: c.cfg.name, name: String(p.name) });
              prompts.push({ ...p, name: exposed });
            }
          }
          return { prompts } as never;
        }
        case 'prompts/get': {
          const { conn, name } = routePrompt(String(params.name ?? ''));
          return forward(conn, 'prompts/get', { ...params, name }, id, signal) as never;
        }
        case 'completion/complete': {
          const ref = (params.ref ?? {}) as Record<string, unknown>;
          if (ref.type === 'ref/prompt') {
            const { conn, name } = routePrompt(String(ref.name ?? ''));
            return forward(conn, request.method, { ...params, ref: { ...ref, name } }, id, signal) as never;
          }
          return forward(routeUri(String(ref.uri ?? '')), request.method, params, id, signal) as never;
        }
        case 'logging/setLevel': {
          await Promise.all(withCap('logging').map((c) => forward(c, request.method, params, id, signal)));
          return {} as never;
        }
        default:
          // SECURITY: methods the gateway does not know are refused, so nothing slips past the check.
          throw new McpError(
            ErrorCode.MethodNotFound,
            `method ${request.method} is not supported by the Mandate gateway`,
          );
      }
    };

    function routePrompt(exposed: string): { conn: Conn; name: string } {
      const owner = promptOwner.get(exposed);
      if (owner && conns.get(owner.conn)) return { conn: conns.get(owner.conn)!, name: owner.name };
      for (const c of withCap('prompts')) {
        if (c.cfg.exposeBareNames) return { conn: c, name: exposed };
        if (exposed.startsWith(`${c.cfg.name}.`))
          return { conn: c, name: exposed.slice(c.cfg.name.length + 1) };
      }
      throw new McpError(ErrorCode.InvalidParams, `unknown prompt ${exposed.slice(0, 100)}`);
    }

    srv.fallbackNotificationHandler = async (n) => {
      if (n.method === 'notifications/roots/list_changed') {
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
            ?.abort((m.params as Record<string, unknown> | undefined)?.reason ?? 'cancelled by the client');
          return false;
        }
        if (m.method !== 'tools/call' || !('id' in m)) return false;
        void answerCall(t, m.id as RequestId, (m.params ?? {}) as Record<string, unknown>);
        return true;
      };
    }
    async function answerCall(
      t: NodeStreamableHttpServerTransport,
      id: RequestId,
      params: Record<string, unknown>,
    ): Promise<void> {
      const key = callKey(id);
      const ac = new AbortController();
      fastCalls.set(key, ac);
      const sendProgress = progressSender(params, (n) =>
        t.send({ jsonrpc: '2.0', ...n }, { relatedRequestId: id }),
      );
      let response: JSONRPCMessage;
      try {
        const result = await callTool(params, id, ac.signal, sendProgress);
        response = { jsonrpc: '2.0', id, result: result as Record<string, unknown> };
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
        fastCalls.delete(key);
      }
      if (ac.signal.aborted) return;
      await t
        .send(response)
        .catch((err: Error) => logger.debug('tools/call answer not delivered', { error: err.message }));
    }

    return { server: srv, close, attachFastPath };
  }

  // ---------------------------------------------------------------- HTTP

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

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // SECURITY: DNS rebinding — only loopback or configured Host and Origin values reach the gateway.
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin)) {
      return reply(res, 403, -32000, 'forbidden Host or Origin');
    }
    let caller: Caller;
    try {
      caller = await deps.authenticate(req.headers.authorization);
    } catch (err) {
      res.setHeader('www-authenticate', 'Bearer');
      return reply(res, 401, -32001, describe(err));
    }
    if (caller.role !== 'agent') return reply(res, 403, -32001, 'the MCP gateway needs an agent API key');
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = await readBody(req, options.maxBodyBytes ?? 4 * 1024 * 1024);
      } catch (err) {
        const tooLarge = isMandateError(err) && err.code === 'body_too_large';
        // The rest of an oversized body is never read: it must not be parsed as the next request.
        if (tooLarge) res.setHeader('connection', 'close');
        return reply(res, tooLarge ? 413 : 400, -32700, `Parse error: ${describe(err)}`);
      }
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const s = sessions.get(sid);
      // SECURITY: a session id is not a credential — it serves only the key that opened it.
      if (!s || s.caller.keyId !== caller.keyId) return reply(res, 404, -32001, 'Session not found');
      s.lastUsed = deps.clock.now();
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
    // Refuse a malformed initialize before opening upstream connections for it.
    if (!checkPostHeaders(req, res)) return;
    const clientCaps = ((init as { params?: { capabilities?: ClientCapabilities } }).params?.capabilities ??
      {}) as ClientCapabilities;
    const t = new NodeStreamableHttpServerTransport(randomUUID());
    let opened: Awaited<ReturnType<typeof openSession>>;
    try {
      opened = await openSession(caller, clientCaps, () => t.sessionId);
    } catch (err) {
      return reply(res, isMandateError(err) && err.code === 'forbidden' ? 403 : 502, -32000, describe(err));
    }
    // SECURITY: a key cannot pile up sessions (each holds upstream connections): past the cap its
    // least recently used session is closed; that client gets 404 and starts a new one.
    const mine = [...sessions.values()].filter((x) => x.caller.keyId === caller.keyId);
    for (const old of mine.slice(0, Math.max(0, mine.length - maxSessionsPerKey + 1))) {
      logger.info('closing the least recently used MCP session of a key at its cap', {
        sessionId: old.transport.sessionId,
        key: caller.keyId,
      });
      void old.transport.close();
    }
    sessions.set(t.sessionId, { transport: t, caller, lastUsed: deps.clock.now() });
    t.onclose = () => {
      sessions.delete(t.sessionId);
      void opened.close();
    };
    await opened.server.connect(t);
    opened.attachFastPath(t);
    t.handle(req, res, body);
  }

  async function serve(transport: Transport, caller: Caller) {
    const opened = await openSession(
      caller,
      { sampling: {}, elicitation: {}, roots: { listChanged: true } },
      () => transport.sessionId,
    );
    const closed = new Promise<void>((resolve) => {
      opened.server.onclose = () => {
        void opened.close().finally(resolve);
      };
    });
    await opened.server.connect(transport);
    return { closed };
  }

  let discovery: Promise<void> | undefined;
  let stopped = false;

  /** Connects to one upstream, pins and catalogues its tools, and disconnects. */
  async function refreshOne(u: UpstreamConfig): Promise<void> {
    const conn = await connect(
      u,
      {},
      { notification: async () => {}, request: async () => ({}), closed: () => {} },
    );
    try {
      if (conn.caps.tools) await absorb(u, await listAll(conn, 'tools/list', 'tools'));
    } finally {
      await conn.client.close();
    }
  }

  async function refresh(): Promise<void> {
    for (const u of options.upstreams) await refreshOne(u);
    publish();
  }

  return {
    handleHttp,
    serve,
    serveStdio: (caller) => serve(new StdioServerTransport(), caller),
    refresh,
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
        if (!stopped) publish();
      })();
    },
    pins,
    async approve(name, approvedBy, hash) {
      let server: string | undefined;
      let tool: string | undefined;
      const entry = catalog.get(name);
      if (entry) {
        server = entry.upstream.name;
        tool = entry.tool;
      } else {
        for (const u of options.upstreams) {
          const prefix = u.actionPrefix ?? `${u.name}.`;
          if (name.startsWith(prefix)) {
            server = u.name;
            tool = name.slice(prefix.length);
            break;
          }
        }
        if (!server) {
          const dot = name.indexOf('.');
          if (dot > 0) {
            server = name.slice(0, dot);
            tool = name.slice(dot + 1);
          }
        }
      }
      if (!server || !tool) throw new MandateError('not_found', `no upstream tool ${name}`);
      const pin = await pins.approve(server, tool, approvedBy, hash);
      const e = [...catalog.values()].find((x) => x.upstream.name === server && x.tool === tool);
      if (e && e.status === 'quarantined' && definitionMatches(e, pin)) {
        e.status = 'approved';
        publish();
      }
      return pin;
    },
    async close() {
      stopped = true;
      clearInterval(idleSweep);
      await discovery;
      await Promise.allSettled([...openSessions].map((c) => c()));
      sessions.clear();
    },
  };
}

function definitionMatches(e: CatalogEntry, pin: ToolPin): boolean {
  return JSON.stringify(e.def) === JSON.stringify(pin.definition);
}

/** Upstream schemas are JSON Schema 2020-12; the registry's validator takes them without the dialect marker. */
function schemaForRegistry(schema: unknown): Record<string, unknown> {
  if (!isRecord(schema)) return { type: 'object' };
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

/**
 * How a call's progress reaches its client: re-keyed to the progress token the client gave in
 * `_meta`, or nowhere (null) when it gave none.
 */
function progressSender(
  params: Record<string, unknown>,
  send: (n: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void>,
): ((progress: Record<string, unknown>) => Promise<void>) | null {
  const token = (params._meta as Record<string, unknown> | undefined)?.progressToken;
  if (token === undefined) return null;
  return (p) => send({ method: 'notifications/progress', params: { ...p, progressToken: token } });
}

function errorResult(text: string, decisionId: string | null, extraMeta: Record<string, unknown> = {}) {
  return {
    content: [{ type: 'text', text: decisionId ? `${text} (decision ${decisionId})` : text }],
    isError: true,
    _meta: { ...(decisionId ? { [META_DECISION]: decisionId } : {}), ...extraMeta },
  };
}

function reasonText(d: Decision): string {
  // One forbid that denies both the agent and its user is one reason to the model, not two.
  const parts = new Set([
    ...d.reasons.map((r) => (r.reason ? `${r.policyId}: ${r.reason}` : r.policyId)),
    ...d.errors.map((e) => `${e.code}: ${e.message}`),
  ]);
  return parts.size ? [...parts].join('; ') : 'no policy permits this call';
}

/** The decision id a refused request was recorded under (invalid args, wrong agent), if any. */
function refusalId(err: unknown): string | null {
  return isMandateError(err) ? (err.decisionId ?? null) : null;
}

function describe(err: unknown): string {
  if (isMandateError(err)) return `${err.code}: ${err.message}`;
  return 'internal error';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function isInitialize(m: unknown): boolean {
  return isRecord(m) && m.method === 'initialize';
}

/** Reads and parses a `/mcp` body the way Mandate reads all input: strict UTF-8, duplicate keys rejected. */
async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const bytes = await readBodyBytes(req, max);
  return bytes.length === 0 ? undefined : parseJsonStrict(decodeUtf8Strict(bytes));
}
