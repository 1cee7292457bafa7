import { MandateApiError, type SdkErrorCode } from '../errors.js';
import type {
  Approval,
  AuditEvent,
  AuditPage,
  AuditVerifyResult,
  DecisionAnswer,
  DecisionOutcomeReport,
  DecisionRecord,
  EntitiesDocument,
  Grant,
  OutcomeRecorded,
  PolicySource,
  PolicyValidation,
  PolicyVersion,
  Tool,
} from '../wire.js';
import { decisionBody, requireDecidedArgs } from './request.js';
import { createTracker, type Tracker } from './tracker.js';
import type { CallOptions, MandateClient } from './types.js';

/** Options of a client that runs the decision path in this process (`@mandate/runtime`, loaded on demand). */
export interface EmbeddedOptions {
  /** The `mandate.config.json` to run: policies, tools, entities, keys, store. */
  configFile?: string;
  /** Overrides the config's `store`: `sqlite:<path>`, `postgres://…` or `memory`. */
  store?: string;
  /** Folder relative paths resolve against when there is no config file; default the process's. */
  cwd?: string;
  /** Log level of the embedded runtime (it logs JSON lines to stderr); default the config's. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

// --- The part of `@mandate/runtime`'s public entry this file uses, typed structurally so that the
// --- SDK's published types do not depend on the runtime package (test/wire-types.ts checks it).

interface Caller {
  role: 'agent' | 'user' | 'approver' | 'admin';
  subject: string | null;
  keyId: string;
}
interface SafeParser<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}
interface StoredAuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
  eventText: string;
}
interface RuntimeStore {
  getUser(id: string): Promise<{ id: string; roles: string[]; attributes: Record<string, unknown> } | null>;
  queryAudit(filter: Record<string, unknown> & { limit: number }): Promise<StoredAuditRecord[]>;
  listEntities(): Promise<EntitiesDocument>;
}
type Record_ = (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
interface RuntimeMandate {
  store: RuntimeStore;
  clock: { now(): number };
  record: Record_;
  publicKeys: Record<string, string>;
  engine: { validate(source: PolicySource): PolicyValidation };
  policies: {
    active(): { version: string } | null;
    get(version: string): Promise<{ policies: Record<string, string>; schema: string } | null>;
    activate(source: PolicySource, origin: string): Promise<{ version: string; changed: boolean }>;
    versions(): Promise<PolicyVersion[]>;
  };
  tools(): { list(): Tool[] };
  /** Refused attempts on the record (ADR 0018), as the HTTP door records them. */
  refusals: {
    refused(r: { code: string; reason: string; route: string; caller: Caller }): Promise<void>;
  };
  decisions: {
    decide(
      request: unknown,
      caller: Caller,
    ): Promise<{ decision: Omit<DecisionAnswer, 'args'>; args: Record<string, unknown> }>;
  };
  approvals: {
    get(id: string): Promise<Approval | null>;
    list(filter: { status?: string; roles?: string[]; agent?: string; limit?: number }): Promise<Approval[]>;
    wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval | null>;
    vote(
      id: string,
      approver: {
        id: string;
        roles: readonly string[];
        publicKeyPem?: string | null;
        via?: 'user' | 'approver' | 'mcp-elicitation';
        keyId?: string;
      },
      verdict: 'approve' | 'deny',
      comment: string | null,
      signature: string | null,
    ): Promise<Approval>;
  };
  grants: {
    create(
      input: Record<string, unknown>,
      by: { kind: 'user'; id: string } | { kind: 'admin'; keyId: string } | { kind: 'agent'; id: string },
    ): Promise<Grant>;
    get(id: string): Promise<Grant | null>;
    list(filter: { user?: string; agent?: string; includeRevoked?: boolean }): Promise<Grant[]>;
    revoke(id: string, by: string): Promise<string[]>;
  };
  close(): Promise<void>;
}
/** The runtime module as the SDK uses it. */
export interface EmbeddedRuntimeModule {
  loadConfig(
    overrides: { configFile?: string; store?: string; logLevel?: EmbeddedOptions['logLevel'] },
    env: Record<string, string | undefined>,
    cwd?: string,
  ): { config: { server: { maxJsonDepth: number } } };
  createMandate(loaded: never): Promise<unknown>;
  authenticate(store: never, header: string | undefined): Promise<Caller>;
  reportOutcome(
    deps: never,
    caller: Caller,
    decisionId: string,
    report: DecisionOutcomeReport,
  ): Promise<OutcomeRecorded>;
  verifyAudit(store: never, opts: { publicKeys: Record<string, string> }): Promise<AuditVerifyResult>;
  updateEntities(deps: never, doc: EntitiesDocument, attribution: { by: string }): Promise<void>;
  parseDuration(text: string): number;
  parseJsonStrict(text: string, options?: { maxDepth?: number }): unknown;
  DecisionRequestSchema: SafeParser<unknown>;
  DecisionOutcomeReportSchema: SafeParser<DecisionOutcomeReport>;
  EntitiesDocumentSchema: SafeParser<EntitiesDocument>;
  SELF_CONFIRMATION: string;
}

/** One in-process Mandate, shared by a client and its `withApiKey` siblings. */
interface Runtime {
  rt: EmbeddedRuntimeModule;
  m: RuntimeMandate;
  maxJsonDepth: number;
}

/** The specifier is a variable so that bundlers and `tsc` leave the optional runtime alone. */
const RUNTIME_MODULE = '@mandate/runtime';

/**
 * A client running Mandate in this process: the same decision path, store and audit chain as
 * `mandate serve`, without a server. `@mandate/runtime` is imported on first use.
 */
export function createEmbeddedClient(
  options: EmbeddedOptions,
  apiKey: string,
  load: () => Promise<EmbeddedRuntimeModule> = () => import(RUNTIME_MODULE) as Promise<EmbeddedRuntimeModule>,
): MandateClient {
  let started: Promise<Runtime> | null = null;
  const runtime = () =>
    (started ??= (async () => {
      let rt: EmbeddedRuntimeModule;
      try {
        rt = await load();
      } catch (cause) {
        throw new MandateApiError(
          'internal',
          'embedded mode needs @mandate/runtime: npm install @mandate/runtime',
          { cause },
        );
      }
      const loaded = rt.loadConfig(
        {
          ...(options.configFile ? { configFile: options.configFile } : {}),
          ...(options.store ? { store: options.store } : {}),
          ...(options.logLevel ? { logLevel: options.logLevel } : {}),
        },
        // The SDK reads no environment: what the runtime sees is what the options say.
        {},
        options.cwd,
      );
      const m = (await rt.createMandate(loaded as never)) as RuntimeMandate;
      return { rt, m, maxJsonDepth: loaded.config.server.maxJsonDepth };
    })());
  // Closing waits for background work, then shuts the runtime down (if it ever started).
  const tracker = createTracker(async () => {
    const r = started ? await started.catch(() => null) : null;
    await r?.m.close();
  });
  return embeddedClient(runtime, apiKey, tracker);
}

function embeddedClient(runtime: () => Promise<Runtime>, apiKey: string, tracker: Tracker): MandateClient {
  /** Runs one call as this client's credential, with runtime errors turned into SDK errors. */
  async function call<T>(
    options: CallOptions | undefined,
    fn: (r: Runtime, caller: Caller) => Promise<T>,
  ): Promise<T> {
    if (options?.signal?.aborted) throw new MandateApiError('aborted', 'the call was cancelled');
    try {
      const r = await runtime();
      const caller = await r.rt.authenticate(r.m.store as never, `Bearer ${apiKey}`);
      return await fn(r, caller);
    } catch (err) {
      throw translate(err);
    }
  }
  const need = (caller: Caller, ...roles: Caller['role'][]) => {
    if (!roles.includes(caller.role)) {
      throw new MandateApiError(
        'forbidden',
        `this call needs role ${roles.join(' or ')}; the key has role ${caller.role}`,
      );
    }
  };
  const parse = <T>(schema: SafeParser<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    const first = r.error.issues[0];
    throw new MandateApiError(
      'bad_request',
      `${first?.path.join('.') || '(body)'}: ${first?.message ?? 'invalid'}`,
    );
  };
  const approverOf = async (r: Runtime, caller: Caller) => {
    const user = caller.subject ? await r.m.store.getUser(caller.subject) : null;
    if (!user) throw new MandateApiError('forbidden', 'this credential is not linked to a known user');
    const key = user.attributes.approvalPublicKey;
    // As the HTTP door does: a `user` key holds no approver role, and its vote is the person's own
    // word (`via: 'user'`), the one credential `@approval("self")` takes.
    // `self` is never a role held (it names the user acted for): no entity role of that name sees
    // or votes on another user's `@approval("self")`.
    return {
      id: user.id,
      roles: caller.role === 'approver' ? user.roles.filter((r) => r !== 'self') : [],
      publicKeyPem: typeof key === 'string' ? key : null,
      via: caller.role === 'user' ? ('user' as const) : ('approver' as const),
      keyId: caller.keyId,
    };
  };
  const visible = async (r: Runtime, caller: Caller, a: Approval | null): Promise<Approval> => {
    const ok =
      a !== null &&
      (caller.role === 'admin' ||
        (caller.role === 'agent' && a.agent === caller.subject) ||
        (caller.role === 'approver' && (await approverOf(r, caller)).roles.includes(a.role)) ||
        (caller.role === 'user' && a.user === caller.subject));
    if (!ok) throw new MandateApiError('not_found', 'no such approval');
    return a;
  };

  const client: MandateClient = {
    mode: 'embedded',
    decide: (input, options) =>
      call(options, async (r, caller) => {
        need(caller, 'agent', 'admin');
        // The same bytes a remote client sends, through the same strict parser and schema as the
        // HTTP door: duplicate keys, depth and number range are refused here exactly as there.
        let request: unknown;
        try {
          const body = r.rt.parseJsonStrict(decisionBody(input), { maxDepth: r.maxJsonDepth });
          request = parse(r.rt.DecisionRequestSchema, body);
        } catch (err) {
          // SECURITY: refused input is a refused attempt on the record, as POST /v1/decisions records it.
          const e = translate(err);
          await r.m.refusals.refused({ code: e.code, reason: e.message, route: EMBEDDED_DECIDE, caller });
          throw e;
        }
        const { decision, args } = await r.m.decisions.decide(request, caller);
        return requireDecidedArgs({ ...decision, args });
      }),
    getDecision: (decisionId, options) =>
      call(options, async (r, caller) => {
        need(caller, 'agent', 'admin');
        const [rec] = await r.m.store.queryAudit({ decisionId, type: 'decision', limit: 1 });
        const event = rec ? (JSON.parse(rec.eventText) as AuditEvent) : null;
        if (!rec || !event || (caller.role === 'agent' && event.agent !== caller.subject)) {
          throw new MandateApiError('not_found', `no decision ${decisionId}`);
        }
        const d = event.data;
        return {
          decisionId: event.decisionId!,
          effect: event.effect!,
          reasons: d.reasons,
          errors: d.errors,
          policyVersion: d.policyVersion,
          agent: event.agent!,
          user: event.user ?? null,
          action: event.action!,
          resource: event.resource ?? null,
          time: event.time,
          approvalId: d.approvalId ?? null,
          grantId: d.grantId ?? null,
          audit: { seq: rec.seq, hash: rec.hash },
        } as DecisionRecord;
      }),
    reportOutcome: (decisionId, report, options) =>
      call(options, (r, caller) =>
        r.rt.reportOutcome(
          { store: r.m.store, clock: r.m.clock, record: r.m.record } as never,
          caller,
          decisionId,
          parse(r.rt.DecisionOutcomeReportSchema, report),
        ),
      ),

    approvals: {
      list: (filter, options) =>
        call(options, async (r, caller) => {
          const f: { status?: string; roles?: string[]; agent?: string; limit?: number } = {
            limit: Math.min(Math.max(filter?.limit ?? 100, 1), 1000),
          };
          if (filter?.status) f.status = filter.status;
          if (caller.role === 'approver') f.roles = (await approverOf(r, caller)).roles;
          if (caller.role === 'agent') f.agent = caller.subject!;
          if (caller.role === 'user') {
            f.roles = [r.rt.SELF_CONFIRMATION];
            return (await r.m.approvals.list(f)).filter((a) => a.user === caller.subject);
          }
          return r.m.approvals.list(f);
        }),
      get: (approvalId, options) =>
        call(options, async (r, caller) => visible(r, caller, await r.m.approvals.get(approvalId))),
      wait: (approvalId, options) =>
        call(options, async (r, caller) => {
          const a = await visible(r, caller, await r.m.approvals.get(approvalId));
          if (a.status !== 'pending') return a;
          const waited = await r.m.approvals.wait(approvalId, options?.timeoutMs ?? 60_000, options?.signal);
          return visible(r, caller, waited);
        }),
      approve: (approvalId, vote, options) =>
        call(options, async (r, caller) => {
          need(caller, 'approver', 'user');
          return r.m.approvals.vote(
            approvalId,
            await approverOf(r, caller),
            'approve',
            vote?.comment ?? null,
            vote?.signature ?? null,
          );
        }),
      deny: (approvalId, vote, options) =>
        call(options, async (r, caller) => {
          need(caller, 'approver', 'user');
          return r.m.approvals.vote(
            approvalId,
            await approverOf(r, caller),
            'deny',
            vote?.comment ?? null,
            vote?.signature ?? null,
          );
        }),
    },

    grants: {
      create: (grant, options) =>
        call(options, async (r, caller) => {
          need(caller, 'user', 'admin', 'agent');
          let user = grant.user;
          if (caller.role === 'user') {
            if (user && user !== caller.subject)
              throw new MandateApiError('forbidden', 'a user grants only their own rights');
            user = caller.subject!;
          }
          if (caller.role === 'agent') {
            if (!grant.parentId)
              throw new MandateApiError('forbidden', 'an agent can only pass on a grant it holds (parentId)');
            const parent = await r.m.grants.get(grant.parentId);
            if (!parent) throw new MandateApiError('not_found', `no grant ${grant.parentId}`);
            user = parent.user;
          }
          if (!user)
            throw new MandateApiError(
              'bad_request',
              'user: required when an admin creates a grant for a user',
            );
          const expiresAt =
            grant.expiresAt ??
            new Date(
              r.m.clock.now() + (grant.expiresIn ? r.rt.parseDuration(grant.expiresIn) : 24 * 3600e3),
            ).toISOString();
          const by =
            caller.role === 'admin'
              ? ({ kind: 'admin', keyId: caller.keyId } as const)
              : caller.role === 'agent'
                ? ({ kind: 'agent', id: caller.subject! } as const)
                : ({ kind: 'user', id: caller.subject! } as const);
          return r.m.grants.create(
            {
              user,
              agent: grant.agent,
              actions: grant.actions,
              resources: grant.resources ?? [],
              resourceAttributes: grant.resourceAttributes ?? {},
              limits: grant.limits ?? [],
              expiresAt,
              parentId: grant.parentId ?? null,
            },
            by,
          );
        }),
      list: (filter, options) =>
        call(options, async (r, caller) => {
          const f: { user?: string; agent?: string; includeRevoked?: boolean } = {
            includeRevoked: filter?.includeRevoked === true,
          };
          if (filter?.user) f.user = filter.user;
          if (filter?.agent) f.agent = filter.agent;
          if (caller.role === 'user') f.user = caller.subject!;
          else if (caller.role === 'agent') f.agent = caller.subject!;
          else need(caller, 'admin');
          return r.m.grants.list(f);
        }),
      revoke: (grantId, options) =>
        call(options, async (r, caller) => {
          need(caller, 'user', 'admin');
          const g = await r.m.grants.get(grantId);
          if (!g || (caller.role === 'user' && g.user !== caller.subject))
            throw new MandateApiError('not_found', `no grant ${grantId}`);
          const by = caller.role === 'admin' ? `admin:${caller.keyId}` : `user:${caller.subject}`;
          return { revoked: await r.m.grants.revoke(g.id, by) };
        }),
    },

    audit: {
      query: (filter, options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          const { limit: wanted, cursor, ...rest } = filter ?? {};
          const limit = Math.min(Math.max(wanted ?? 100, 1), 1000);
          if (cursor !== undefined && !/^\d+$/.test(cursor))
            throw new MandateApiError('bad_request', 'invalid cursor');
          const f: Record<string, unknown> & { limit: number } = { limit: limit + 1 };
          for (const [k, v] of Object.entries(rest))
            if (v !== undefined) f[k] = k === 'from' || k === 'to' ? new Date(v).toISOString() : v;
          if (cursor !== undefined) f.afterSeq = Number(cursor);
          const rows = await r.m.store.queryAudit(f);
          const page = rows.slice(0, limit);
          return {
            items: page.map((x) => ({
              seq: x.seq,
              prevHash: x.prevHash,
              hash: x.hash,
              event: JSON.parse(x.eventText) as AuditEvent,
            })),
            nextCursor: rows.length > limit ? String(page.at(-1)!.seq) : null,
          } satisfies AuditPage;
        }),
      verify: (options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          return r.rt.verifyAudit(r.m.store as never, { publicKeys: r.m.publicKeys });
        }),
    },

    policies: {
      get: (options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          const active = r.m.policies.active();
          if (!active) throw new MandateApiError('no_active_policy', 'no policy set is active');
          const stored = await r.m.policies.get(active.version);
          return { version: active.version, policies: stored?.policies ?? {}, schema: stored?.schema ?? '' };
        }),
      put: (source, options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          return r.m.policies.activate(source, `sdk:${caller.keyId}`);
        }),
      validate: (source, options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          return r.m.engine.validate(source);
        }),
      versions: (options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          return r.m.policies.versions();
        }),
    },

    entities: {
      get: (options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          return r.m.store.listEntities();
        }),
      put: (update, options) =>
        call(options, async (r, caller) => {
          need(caller, 'admin');
          const doc = parse(r.rt.EntitiesDocumentSchema, update);
          await r.rt.updateEntities({ store: r.m.store, record: r.m.record } as never, doc, {
            by: caller.keyId,
          });
          return { agents: doc.agents.length, users: doc.users.length, resources: doc.resources.length };
        }),
    },

    tools: {
      list: (options) => call(options, async (r) => r.m.tools().list()),
    },

    withApiKey: (key) => embeddedClient(runtime, key, tracker),
    track: tracker.track,
    close: tracker.drain,
  };
  return client;
}

/** A runtime error (MandateError) keeps its stable code; anything else is `internal`. */
/** The route an embedded client's refused decision request is recorded under. */
const EMBEDDED_DECIDE = 'embedded decide';

function translate(err: unknown): MandateApiError {
  if (err instanceof MandateApiError) return err;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; details?: unknown };
  if (e && e.name === 'MandateError' && typeof e.code === 'string') {
    return new MandateApiError(e.code as SdkErrorCode, String(e.message), {
      cause: err,
      ...(e.details !== undefined ? { details: e.details } : {}),
    });
  }
  return new MandateApiError('internal', 'the embedded runtime failed', { cause: err });
}
