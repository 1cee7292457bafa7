import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  DecisionRequestSchema,
  EntitiesDocumentSchema,
  type AuditVerifyResult,
  type ErrorBody,
  type ErrorCode,
} from '@mandate/protocol';
import {
  MandateError,
  isMandateError,
  newId,
  parseDuration,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { Caller, DecisionService } from '../decisions/index.js';
import { SELF_CONFIRMATION, type ApprovalService } from '../approvals/index.js';
import type { GrantService } from '../grants/index.js';
import type { PolicyEngine, PolicySetSource } from '../policy/port.js';
import type { PolicyService } from '../policy/service.js';
import type { ToolRegistry } from '../tools/index.js';
import type { AuditFilter, Store } from '../storage/port.js';
import type { AuditEvent } from '@mandate/protocol';
import { HTTP_STATUS } from './errors.js';
import { updateEntities } from '../entities/index.js';
import { readJsonBody } from './body.js';
import { authenticate, requireRole } from './auth.js';
import type { Metrics } from './metrics.js';

/** What the HTTP transport needs; it translates requests into these service calls and nothing more. */
export interface HttpDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  decisions: DecisionService;
  approvals: ApprovalService;
  grants: GrantService;
  policies: PolicyService;
  engine: PolicyEngine;
  tools: () => ToolRegistry;
  metrics: Metrics;
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  verifyAudit: () => Promise<AuditVerifyResult>;
  exportAudit: (
    format: 'jsonl' | 'cef',
    write: (chunk: string) => void | Promise<void>,
    filter: Omit<AuditFilter, 'limit'>,
  ) => Promise<number>;
  auditStats: () => { queued: number; oldestQueuedMs: number; appended: number };
  runPolicyTests: (input: { cases: unknown; source?: PolicySetSource }) => Promise<unknown>;
  options: { maxBodyBytes: number; maxJsonDepth: number; maxInFlight: number };
  /** Aborted when the node shuts down: long-polls return at once and connections are not kept alive. */
  shutdown?: AbortSignal;
  /** Resolves `Authorization` to a caller (API keys, and JWTs when configured); default: API keys only. */
  authenticate?: (header: string | undefined) => Promise<Caller>;
  /** The MCP gateway (src/gateway), present when upstreams are configured: serves `/mcp` and the tool pins. */
  gateway?: {
    handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
    pins: { list(server?: string): Promise<unknown[]> };
    approve(name: string, approvedBy: string, hash?: string): Promise<unknown>;
  };
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  requestId: string;
  caller(): Promise<Caller>;
  body(): Promise<unknown>;
}

type Handler = (ctx: Ctx) => Promise<unknown>;
interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const PolicySourceSchema = z.strictObject({
  policies: z.record(z.string().regex(/^[\w.-]+\.cedar$/, 'policy file names end in .cedar'), z.string()),
  schema: z.string().min(1),
});

const VoteSchema = z.strictObject({
  comment: z.string().max(2000).nullish(),
  signature: z.string().max(512).nullish(),
});

const GrantLimitSchema = z.strictObject({
  action: z.string().max(200).optional(),
  arg: z.string().min(1).max(256),
  op: z.enum(['<=', '<', '>=', '>', '==', '!=']),
  value: z.union([z.number(), z.string(), z.boolean()]),
});

const GrantCreateSchema = z.strictObject({
  user: z.string().min(1).max(256).optional(),
  agent: z.string().min(1).max(256),
  actions: z.array(z.string().max(200)).min(1).max(256),
  resources: z.array(z.string().max(300)).max(1000).optional(),
  resourceAttributes: z.record(z.string(), z.string()).optional(),
  limits: z.array(GrantLimitSchema).max(64).optional(),
  expiresAt: z.string().optional(),
  expiresIn: z
    .string()
    .regex(/^\d+[smhdy]$/, 'expiresIn is a number and a unit: s, m, h, d or y')
    .optional(),
  parentId: z.string().max(256).nullish(),
});

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    const path = first?.path.length ? first.path.join('.') : '(body)';
    throw new MandateError('bad_request', `${path}: ${first?.message ?? 'invalid'}`, {
      details: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}

/** `?limit=`: a whole number clamped to 1..max; anything else is a 400, never NaN handed to a store. */
function queryLimit(q: URLSearchParams, fallback: number, max: number): number {
  const raw = q.get('limit');
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new MandateError('bad_request', 'limit must be a positive whole number');
  return Math.min(Math.max(Number(raw), 1), max);
}

/** Builds the v1 HTTP API as a plain Node request listener (no framework: every byte of the hot path is ours). */
export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes: Route[] = [];
  const route = (method: string, path: string, handler: Handler) => {
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' +
        path.replace(/:(\w+)/g, (_, k: string) => {
          keys.push(k);
          return '([^/]+)';
        }) +
        '$',
    );
    routes.push({ method, pattern, keys, handler });
  };
  let inFlight = 0;
  const authenticateHeader = deps.authenticate ?? ((h: string | undefined) => authenticate(deps.store, h));

  route('GET', '/healthz', async () => ({ status: 'ok' }));
  route('GET', '/readyz', async (ctx) => {
    const active = deps.policies.active();
    let storeOk = true;
    try {
      await deps.store.ping();
    } catch {
      storeOk = false;
    }
    const ready = active !== null && storeOk;
    if (!ready) ctx.res.statusCode = 503;
    return { ready, policyVersion: active?.version ?? null, store: storeOk ? 'ok' : 'unavailable' };
  });
  route('GET', '/metrics', async (ctx) => {
    const s = deps.auditStats();
    const text = deps.metrics.render({
      mandate_audit_queue_events: { help: 'Audit events waiting for their group commit.', value: s.queued },
      mandate_audit_lag_seconds: {
        help: 'Age of the oldest audit event not yet committed.',
        value: s.oldestQueuedMs / 1000,
      },
      mandate_audit_events_appended_total: {
        help: 'Audit events committed by this node.',
        value: s.appended,
      },
      mandate_policy_loaded: {
        help: '1 when a policy set is active.',
        value: deps.policies.active() ? 1 : 0,
      },
    });
    ctx.res.setHeader('content-type', 'text/plain; version=0.0.4');
    return text;
  });

  // Decisions
  route('POST', '/v1/decisions', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'admin');
    const request = parseWith(DecisionRequestSchema, await ctx.body());
    const { decision } = await deps.decisions.decide(request, caller);
    return decision;
  });
  route('GET', '/v1/decisions/:id', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'admin');
    const [rec] = await deps.store.queryAudit({ decisionId: ctx.params.id!, type: 'decision', limit: 1 });
    if (!rec) throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    const event = JSON.parse(rec.eventText) as AuditEvent;
    if (caller.role === 'agent' && event.agent !== caller.subject)
      throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    const d = event.data as Record<string, unknown>;
    return {
      decisionId: event.decisionId,
      effect: event.effect,
      reasons: d.reasons,
      errors: d.errors,
      policyVersion: d.policyVersion,
      agent: event.agent,
      user: event.user ?? null,
      action: event.action,
      resource: event.resource ?? null,
      time: event.time,
      approvalId: d.approvalId ?? null,
      grantId: d.grantId ?? null,
      audit: { seq: rec.seq, hash: rec.hash },
    };
  });

  // Approvals
  const approverOf = async (caller: Caller) => {
    const user = caller.subject ? await deps.store.getUser(caller.subject) : null;
    if (!user) throw new MandateError('forbidden', 'this credential is not linked to a known user');
    const key = user.attributes.approvalPublicKey;
    // A `user` key confirms only calls made on its own behalf (`@approval("self")`): it holds no approver role.
    const roles = caller.role === 'approver' ? user.roles : [];
    return { id: user.id, roles, publicKeyPem: typeof key === 'string' ? key : null };
  };
  route('GET', '/v1/approvals', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'approver', 'admin', 'agent', 'user');
    const status = ctx.url.searchParams.get('status') ?? undefined;
    if (status && !['pending', 'approved', 'denied', 'expired', 'consumed'].includes(status)) {
      throw new MandateError('bad_request', `unknown status ${status}`);
    }
    const filter: Parameters<ApprovalService['list']>[0] = {
      limit: queryLimit(ctx.url.searchParams, 100, 1000),
    };
    if (status) filter.status = status as NonNullable<typeof filter.status>;
    // An approver sees only what is routed to their roles; an agent only its own requests.
    if (caller.role === 'approver') filter.roles = (await approverOf(caller)).roles;
    if (caller.role === 'agent') filter.agent = caller.subject!;
    if (caller.role === 'user') {
      // A user sees the calls waiting for their own confirmation.
      filter.roles = [SELF_CONFIRMATION];
      return { items: (await deps.approvals.list(filter)).filter((a) => a.user === caller.subject) };
    }
    return { items: await deps.approvals.list(filter) };
  });
  route('GET', '/v1/approvals/:id', async (ctx) => {
    const caller = await ctx.caller();
    const id = ctx.params.id!;
    const wait = ctx.url.searchParams.get('wait');
    let a = await deps.approvals.get(id);
    const visible = async () => {
      if (!a) return false;
      if (caller.role === 'admin') return true;
      if (caller.role === 'agent') return a.agent === caller.subject;
      if (caller.role === 'approver') return (await approverOf(caller)).roles.includes(a.role);
      return a.user === caller.subject;
    };
    if (!(await visible())) throw new MandateError('not_found', `no approval ${id}`);
    if (wait && a!.status === 'pending') {
      const ms = Math.min(parseDuration(wait), 60_000);
      const ac = new AbortController();
      ctx.req.once('close', () => ac.abort());
      deps.shutdown?.addEventListener('abort', () => ac.abort(), { once: true });
      a = await deps.approvals.wait(id, ms, ac.signal);
    }
    return a;
  });
  for (const verdict of ['approve', 'deny'] as const) {
    route('POST', `/v1/approvals/:id/${verdict}`, async (ctx) => {
      const caller = await ctx.caller();
      requireRole(caller, 'approver', 'user');
      const raw =
        ctx.req.headers['content-length'] === '0' || !ctx.req.headers['content-type'] ? {} : await ctx.body();
      const body = parseWith(VoteSchema, raw);
      return deps.approvals.vote(
        ctx.params.id!,
        await approverOf(caller),
        verdict,
        body.comment ?? null,
        body.signature ?? null,
      );
    });
  }

  // Grants
  route('POST', '/v1/grants', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'user', 'admin', 'agent');
    const b = parseWith(GrantCreateSchema, await ctx.body());
    let user = b.user;
    if (caller.role === 'user') {
      if (user && user !== caller.subject)
        throw new MandateError('forbidden', 'a user grants only their own rights');
      user = caller.subject!;
    }
    if (caller.role === 'agent') {
      if (!b.parentId)
        throw new MandateError('forbidden', 'an agent can only pass on a grant it holds (parentId)');
      const parent = await deps.grants.get(b.parentId);
      if (!parent) throw new MandateError('not_found', `no grant ${b.parentId}`);
      user = parent.user;
    }
    if (!user)
      throw new MandateError('bad_request', 'user: required when an admin creates a grant for a user');
    const expiresAt =
      b.expiresAt ??
      new Date(deps.clock.now() + (b.expiresIn ? parseDuration(b.expiresIn) : 24 * 3600e3)).toISOString();
    const by =
      caller.role === 'admin'
        ? ({ kind: 'admin', keyId: caller.keyId } as const)
        : caller.role === 'agent'
          ? ({ kind: 'agent', id: caller.subject! } as const)
          : ({ kind: 'user', id: caller.subject! } as const);
    ctx.res.statusCode = 201;
    return deps.grants.create(
      {
        user,
        agent: b.agent,
        actions: b.actions,
        resources: b.resources ?? [],
        resourceAttributes: b.resourceAttributes ?? {},
        limits: b.limits ?? [],
        expiresAt,
        parentId: b.parentId ?? null,
      },
      by,
    );
  });
  route('GET', '/v1/grants', async (ctx) => {
    const caller = await ctx.caller();
    const q = ctx.url.searchParams;
    const filter: Parameters<GrantService['list']>[0] = {
      includeRevoked: q.get('includeRevoked') === 'true',
    };
    if (q.get('user')) filter.user = q.get('user')!;
    if (q.get('agent')) filter.agent = q.get('agent')!;
    if (caller.role === 'user') filter.user = caller.subject!;
    else if (caller.role === 'agent') filter.agent = caller.subject!;
    else requireRole(caller, 'admin', 'user', 'agent');
    return { items: await deps.grants.list(filter) };
  });
  route('DELETE', '/v1/grants/:id', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'user', 'admin');
    const g = await deps.grants.get(ctx.params.id!);
    if (!g || (caller.role === 'user' && g.user !== caller.subject))
      throw new MandateError('not_found', `no grant ${ctx.params.id}`);
    const revoked = await deps.grants.revoke(
      g.id,
      caller.role === 'admin' ? `admin:${caller.keyId}` : `user:${caller.subject}`,
    );
    return { revoked };
  });

  // Policies
  route('GET', '/v1/policies', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const active = deps.policies.active();
    if (!active) throw new MandateError('no_active_policy', 'no policy set is active');
    const stored = await deps.policies.get(active.version);
    return { version: active.version, policies: stored?.policies ?? {}, schema: stored?.schema ?? '' };
  });
  route('PUT', '/v1/policies', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const source = parseWith(PolicySourceSchema, await ctx.body());
    return deps.policies.activate(source, `api:${caller.keyId}`);
  });
  route('POST', '/v1/policies/validate', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const source = parseWith(PolicySourceSchema, await ctx.body());
    return deps.engine.validate(source);
  });
  route('POST', '/v1/policies/test', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const body = parseWith(
      z.strictObject({
        cases: z.array(z.unknown()).min(1).max(10_000),
        policies: PolicySourceSchema.optional(),
      }),
      await ctx.body(),
    );
    return deps.runPolicyTests(
      body.policies ? { cases: body.cases, source: body.policies } : { cases: body.cases },
    );
  });
  route('GET', '/v1/policies/versions', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return { items: await deps.policies.versions() };
  });

  // Entities and tools
  route('PUT', '/v1/entities', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const doc = parseWith(EntitiesDocumentSchema, await ctx.body());
    await updateEntities({ store: deps.store, record: deps.audit }, doc, { by: caller.keyId });
    return { agents: doc.agents.length, users: doc.users.length, resources: doc.resources.length };
  });
  route('GET', '/v1/entities', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return deps.store.listEntities();
  });
  route('GET', '/v1/tools', async (ctx) => {
    await ctx.caller();
    return { items: deps.tools().list() };
  });
  route('GET', '/v1/tools/pins', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return {
      items: deps.gateway
        ? await deps.gateway.pins.list(ctx.url.searchParams.get('server') ?? undefined)
        : [],
    };
  });
  route('POST', '/v1/tools/:name/approve', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const body = parseWith(
      z.strictObject({ hash: z.string().max(200).optional() }),
      (await ctx.body()) ?? {},
    );
    if (!deps.gateway) throw new MandateError('not_found', 'no MCP gateway is configured');
    return deps.gateway.approve(ctx.params.name!, `admin:${caller.keyId}`, body.hash);
  });

  // Audit
  route('GET', '/v1/audit', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const q = ctx.url.searchParams;
    const limit = queryLimit(q, 100, 1000);
    const filter: AuditFilter = { ...auditFilter(q), limit: limit + 1 };
    const cursor = q.get('cursor');
    if (cursor) {
      if (!/^\d+$/.test(cursor)) throw new MandateError('bad_request', 'invalid cursor');
      filter.afterSeq = Number(cursor);
    }
    const rows = await deps.store.queryAudit(filter);
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        seq: r.seq,
        prevHash: r.prevHash,
        hash: r.hash,
        event: JSON.parse(r.eventText),
      })),
      nextCursor: rows.length > limit ? String(page.at(-1)!.seq) : null,
    };
  });
  route('GET', '/v1/audit/verify', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return deps.verifyAudit();
  });
  route('GET', '/v1/audit/export', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const format = ctx.url.searchParams.get('format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'cef')
      throw new MandateError('bad_request', 'format is jsonl or cef');
    const { res } = ctx;
    res.statusCode = 200;
    res.setHeader('content-type', format === 'jsonl' ? 'application/x-ndjson' : 'text/plain; charset=utf-8');
    await deps.exportAudit(
      format,
      (chunk) =>
        new Promise<void>((resolve) => {
          if (res.write(chunk)) resolve();
          else res.once('drain', resolve);
        }),
      auditFilter(ctx.url.searchParams),
    );
    res.end();
    return STREAMED;
  });

  return (req, res) => {
    const requestId = newId('req', deps.clock.now());
    res.setHeader('x-request-id', requestId);
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    if (deps.shutdown?.aborted) res.setHeader('connection', 'close');
    const gateway = deps.gateway;
    const mcp = gateway && (req.url === '/mcp' || req.url?.startsWith('/mcp?'));
    // P3: under overload shed new requests with 503 instead of queueing without bound. A request
    // counts until its answer is done — except an MCP GET stream, which lives as long as its
    // session (the gateway caps sessions per key instead).
    if (!mcp || req.method !== 'GET') {
      inFlight++;
      res.once('close', () => inFlight--);
      if (inFlight > deps.options.maxInFlight) {
        sendError(res, new MandateError('overloaded', 'too many requests in flight; retry later'), requestId);
        return;
      }
    }
    if (mcp) {
      gateway.handleHttp(req, res).catch((err: unknown) => sendError(res, err, requestId));
      return;
    }
    void dispatch(req, res, requestId);
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let matched: Route | undefined;
      let params: Record<string, string> = {};
      let pathMatched = false;
      for (const r of routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        matched = r;
        try {
          params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
        } catch {
          throw new MandateError('bad_request', 'malformed percent-encoding in the path');
        }
        break;
      }
      if (!matched) {
        throw pathMatched
          ? new MandateError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
          : new MandateError('not_found', `no route ${req.method} ${url.pathname}`);
      }
      let caller: Caller | undefined;
      const ctx: Ctx = {
        req,
        res,
        url,
        params,
        requestId,
        caller: async () => (caller ??= await authenticateHeader(req.headers.authorization)),
        body: () => readJsonBody(req, deps.options.maxBodyBytes, deps.options.maxJsonDepth),
      };
      const result = await matched.handler(ctx);
      if (result === STREAMED) return;
      if (typeof result === 'string') {
        send(res, res.statusCode || 200, result, 'text/plain; charset=utf-8');
      } else {
        send(res, res.statusCode || 200, JSON.stringify(result ?? null), 'application/json');
      }
    } catch (err) {
      sendError(res, err, requestId);
    }
  }

  function send(res: ServerResponse, status: number, body: string, type: string) {
    deps.metrics.observeHttp(status);
    if (res.headersSent) {
      res.end();
      return;
    }
    res.statusCode = status;
    res.setHeader('content-type', type);
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  }

  function sendError(res: ServerResponse, err: unknown, requestId: string) {
    let code: ErrorCode = 'internal';
    let message = 'internal error';
    let details: unknown;
    if (isMandateError(err)) {
      code = err.code;
      message = err.message;
      details = err.details;
    } else {
      // P7: internals stay in the log, never in the answer.
      deps.logger.error('request failed', {
        requestId,
        error: (err as Error)?.message,
        stack: (err as Error)?.stack,
      });
    }
    const body: ErrorBody = { error: { code, message, requestId } };
    if (details !== undefined) body.error.details = details;
    const status = HTTP_STATUS[code];
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A body we stopped reading half-way must not be parsed as the next request on this connection.
    if (code === 'body_too_large') res.setHeader('connection', 'close');
    res.statusCode = status;
    send(res, status, JSON.stringify(body), 'application/json');
  }
}

const STREAMED = Symbol('streamed');

function auditFilter(q: URLSearchParams): Omit<AuditFilter, 'limit'> {
  const f: Omit<AuditFilter, 'limit'> = {};
  for (const k of ['agent', 'user', 'action', 'effect', 'type', 'decisionId'] as const) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  for (const k of ['from', 'to'] as const) {
    const v = q.get(k);
    if (v) {
      if (Number.isNaN(Date.parse(v))) throw new MandateError('bad_request', `${k} must be an ISO time`);
      f[k] = new Date(v).toISOString();
    }
  }
  return f;
}

/** Creates the Node HTTP server; keep-alive tuned for agents that call in bursts. */
export function createHttpServer(deps: HttpDeps): Server {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000 }, createHttpHandler(deps));
  server.headersTimeout = 66_000;
  return server;
}
