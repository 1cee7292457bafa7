import type {
  Agent,
  AuditEvent,
  Decision,
  DecisionError,
  DecisionReason,
  DecisionRequest,
  Effect,
  Resource,
  User,
} from '@mandate/protocol';
import { MandateError, isMandateError, newId, setOwn, type Clock, type Logger } from '../kernel/index.js';
import type { CompiledPolicySet, PolicyEntity, PolicyEvaluation } from '../policy/port.js';
import { schemaDeclares, type ResourceRef, type ToolRegistry } from '../tools/index.js';
import { toApprovalRef, type ApprovalService, type CallBinding } from '../approvals/index.js';
import type { GrantService } from '../grants/index.js';
import type { GrantRecord, Store } from '../storage/port.js';
import type { RefusalRecorder } from '../audit/index.js';
import type { PolicyTime } from './time.js';
import { argsForPolicy } from './typed-args.js';
import { inSpan, startSpan } from '../telemetry/index.js';
import { redactText, type Redactor } from '../audit/redact.js';
import {
  combineEvaluations,
  comparingRedaction,
  evaluateInputs,
  recordInputs,
  type InputsRedaction,
  type KeptAside,
  type PolicyInputs,
  type PolicyOutcome,
} from './policy-inputs.js';
import type { UsageMeter, UsageReservation } from '../usage/index.js';
import type { PersonalData } from '../audit/personal.js';

/** Who is asking, as established by the transport from a verified credential (never from the body). */
export interface Caller {
  role: 'agent' | 'user' | 'approver' | 'admin';
  /** Agent id for role agent, user id for user/approver, null for admin. */
  subject: string | null;
  keyId: string;
  /** For an agent: the user its credential says it acts for (a verified JWT claim), if any. */
  onBehalfOf?: string;
  /** Set when the credential was a dashboard session cookie (ADR 0022), not a bearer token. */
  viaSession?: true;
}

export interface DecisionServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  policies: () => CompiledPolicySet | null;
  tools: () => ToolRegistry;
  /** Durable append; resolves only once the event is committed. */
  audit: (event: AuditEvent) => Promise<unknown>;
  approvals: ApprovalService;
  grants: GrantService;
  /** The args redactor; with `tracking` (createRedactor's) the recorded inputs reuse the args copy. */
  redact: ((args: Record<string, unknown>, extraPaths?: string[]) => Record<string, unknown>) &
    Partial<Pick<Redactor, 'tracking'>>;
  digest: (args: Record<string, unknown>) => string;
  time: (nowMs: number) => PolicyTime;
  /** Observes every decision (metrics). */
  observe?: (effect: Effect, latencyMs: number) => void;
  /** Per-key and per-agent rate limits, checked before any policy work; throws `rate_limited`. */
  rateLimit?: (caller: Caller, agent: string) => void;
  /** Where refused requests (wrong agent, invalid args) go on the record, each under a decision id. */
  refusals?: Pick<RefusalRecorder, 'refused'>;
  /**
   * Hands every decision the policies saw to the shadow set, after it is recorded. Must only
   * enqueue (never block, never throw into the answer): see decisions/shadow.ts.
   */
  shadow?: (seen: DecisionSeen) => void;
  /** Usage counters (budgets and rates), reserved before the policies run, kept only on allow. */
  usage?: UsageMeter;
  /** Personal fields kept beside the chain, erasable (`audit.personal`); absent: none kept. */
  personal?: Pick<PersonalData, 'keep' | 'fields'>;
}

/** A decision that reached the policy engine, as the shadow set re-decides it. */
export interface DecisionSeen {
  decisionId: string;
  action: string;
  policyVersion: string;
  inputs: PolicyInputs;
  outcome: PolicyOutcome;
}

/** Refusals of the request itself, before any decision: recorded as `request.refused`, answered 400/403. */
const REFUSED_CODES: ReadonlySet<string> = new Set([
  'forbidden',
  'agent_mismatch',
  'bad_request',
  'invalid_args',
  'invalid_number',
]);

/** The outcome of `decide`, plus what the gateway and SDK need to run exactly what was decided. */
export interface DecisionOutcome {
  decision: Decision;
  /** The args that were decided on (parsed once, validated); the gateway forwards exactly these. */
  args: Record<string, unknown>;
  /** A dry run that ended in approval_required: who would have been asked. */
  wouldRequest?: { role: string; quorum: number };
}

/** What a door knows about the call beyond the request itself, and binds an approval to. */
export interface DecideOptions {
  /**
   * The resource the caller says the call is about (the AuthZEN door's `resource`). Unless it is
   * exactly the resource the tool registry derives from the args (`Tool::<action>` when the tool
   * declares none), the call is denied with `resource_mismatch` — recorded like any decision.
   */
  expectResource?: { type: string; id: string };
  /**
   * The pinned definition hash of the MCP upstream tool that will run the call (the gateway):
   * an approval asked for under one definition is refused under another (ADR 0017).
   */
  toolHash?: string | null;
  /**
   * Decide without side effects on approvals (`mandate check` by default): an approval that would
   * be needed is not requested (the outcome says which role it would go to) and none is consumed.
   * The decision is still recorded, marked `dryRun`.
   */
  dryRun?: boolean;
}

/** The gateway's name for the same options. */
export type CallContext = DecideOptions;

/** The decision path, the same for every door. Transports call `decide`; it never returns allow without a committed audit record. */
export interface DecisionService {
  decide(request: DecisionRequest, caller: Caller, options?: DecideOptions): Promise<DecisionOutcome>;
}

const DEFAULT_DENY = 'mandate.default_deny';

/** Every top-level key the decision path may put in the Cedar context (docs/policies.md). */
export const CONTEXT_KEYS = ['args', 'time', 'intent', 'onBehalfOf', 'agent', 'grant', 'usage'] as const;

export function createDecisionService(deps: DecisionServiceDeps): DecisionService {
  const { store, clock, logger } = deps;

  // One span per decision (a no-op unless OpenTelemetry is configured), children for the store,
  // the policy engine and the audit commit.
  const service: DecisionService = {
    decide: (req, caller, options) =>
      inSpan(
        'mandate.decision',
        { 'mandate.agent': req.agent, 'mandate.action': req.action },
        async (span) => {
          const out = await decideInSpan(req, caller, options);
          span.setAttributes({
            'mandate.effect': out.decision.effect,
            'mandate.decision_id': out.decision.decisionId,
            'mandate.policy_version': out.decision.policyVersion ?? '',
          });
          return out;
        },
      ),
  };
  // Every door (HTTP, MCP, embedded SDK) gets the id under which a refused request was recorded.
  const refusing: DecisionService = {
    async decide(req, caller, options) {
      try {
        return await service.decide(req, caller, options);
      } catch (err) {
        if (!deps.refusals || !isMandateError(err) || !REFUSED_CODES.has(err.code)) throw err;
        const decisionId = newId('dec', clock.now());
        await deps.refusals.refused({
          code: err.code,
          reason: err.message,
          route: 'decision',
          caller,
          decisionId,
          agent: req.agent,
          action: req.action,
        });
        throw new MandateError(err.code, err.message, { details: err.details, decisionId, cause: err });
      }
    },
  };
  return refusing;

  async function decideInSpan(
    req: DecisionRequest,
    caller: Caller,
    call: DecideOptions = {},
  ): Promise<DecisionOutcome> {
    // SECURITY: identity comes from the credential — an agent key decides only for its own agent.
    if (caller.role === 'agent') {
      if (caller.subject !== req.agent) {
        throw new MandateError(
          'agent_mismatch',
          `this credential belongs to agent ${caller.subject}, not ${req.agent}`,
        );
      }
    } else if (caller.role !== 'admin') {
      throw new MandateError('forbidden', `role ${caller.role} cannot ask for decisions`);
    }
    // SECURITY: a credential that names the user an agent acts for decides only for that user.
    if (caller.onBehalfOf !== undefined && req.onBehalfOf !== caller.onBehalfOf) {
      throw new MandateError(
        'forbidden',
        `this credential acts for user ${caller.onBehalfOf}, not ${req.onBehalfOf ?? 'no user'}`,
      );
    }

    // Over its rate limit, a caller is refused before anything is looked up or evaluated.
    deps.rateLimit?.(caller, req.agent);
    const started = performance.now();
    const now = clock.now();
    const decisionId = newId('dec', now);
    const policy = deps.policies();
    const tools = deps.tools();
    const tool = tools.get(req.action);
    // SECURITY: declared path args are canonicalised before anything reads them: the canonical form
    // is validated, decided on, audited, bound to an approval and forwarded (`outcome.args`).
    const args = tool?.paths ? await tools.canonicalArgs(req.action, req.args) : req.args;

    // Validation errors are the caller's bug: a 400 naming the path, not a decision.
    if (tool) tools.validateArgs(req.action, args);
    const resourceRef = tool ? tools.resourceOf(req.action, args) : null;
    // What the engine reads: args typed by the schema (decimal where declared; 400 for a number the
    // declared type cannot hold exactly).
    const policyArgs = policy && tool ? argsForPolicy(args, policy.argsType(req.action)) : args;

    // Personal data kept beside the chain for this call's user stays out of every hashed record of
    // it: the decision's args copy and recorded inputs, the approval request's summary.
    const keeps = req.onBehalfOf ? (deps.personal?.fields ?? []) : [];
    const keptAside: KeptAside = {
      args: keeps.includes('args'),
      userAttributes: keeps.includes('userDisplayName') ? ['displayName'] : [],
    };
    // The redacted copy serves the approval (if any) and the audit event, and (when the policies
    // saw the args unconverted) the recorded policy inputs with the paths it replaced: computed once.
    let argsRedaction: { copy: Record<string, unknown>; changed: string[] | null } | undefined;
    const redacted = () => (argsRedaction ??= redactArgs()).copy;
    function redactArgs(): { copy: Record<string, unknown>; changed: string[] | null } {
      if (deps.redact.tracking) {
        const changed: string[] = [];
        try {
          return { copy: deps.redact.tracking(args, tool?.redact, 'context.args', changed), changed };
        } catch {
          // Args the comparison cannot serialise: the copy as ever, and the recorded inputs fail
          // (audit_unavailable) where they always did.
        }
      }
      return { copy: deps.redact(args, tool?.redact), changed: null };
    }
    // The intent's redaction serves the event's `intent` and the recorded inputs: computed once.
    let intentRedacted: string | undefined;
    const redactedIntent = (text: string) =>
      text === req.intent ? (intentRedacted ??= redactText(text)) : redactText(text);
    const inputsRedaction: InputsRedaction = {
      record(value, path, changed) {
        if (value === args && path === 'context.args') {
          const known = (argsRedaction ??= redactArgs());
          if (known.changed) {
            changed.push(...known.changed);
            return known.copy;
          }
        }
        if (deps.redact.tracking) return deps.redact.tracking(value, tool?.redact, path, changed);
        return comparingRedaction((v) => deps.redact(v, tool?.redact)).record(value, path, changed);
      },
      text: redactedIntent,
    };
    const errors: DecisionError[] = [];
    let reasons: DecisionReason[] = [];
    let effect: Effect = 'deny';
    let grant: GrantRecord | null = null;
    let grantChain: string[] = [];
    let approvalRef: Decision['approval'];
    let approvalId: string | null = null;
    let wouldRequest: DecisionOutcome['wouldRequest'];
    // What the policies saw and answered: recorded for replay, handed to the shadow set (ADR 0025).
    let seen: { inputs: PolicyInputs; outcome: PolicyOutcome } | null = null;
    let reservation: UsageReservation | null = null;

    try {
      const outcome = await evaluate();
      effect = outcome;
    } catch (err) {
      // SECURITY: fail closed — any fault on the path (store down, engine failure) is a deny with a stable code.
      effect = 'deny';
      if (isMandateError(err) && err.code !== 'internal') {
        errors.push({ code: err.code, message: err.message });
      } else {
        logger.error('decision path failed', { decisionId, error: (err as Error).message });
        errors.push({ code: 'internal', message: 'internal error while deciding; denied' });
      }
    }

    async function evaluate(): Promise<Effect> {
      if (!policy) {
        errors.push({ code: 'no_active_policy', message: 'no policy set is active' });
        return 'deny';
      }
      if (!tool) {
        errors.push({ code: 'unknown_action', message: `no tool is registered for action ${req.action}` });
        return 'deny';
      }
      const expected = call.expectResource;
      if (expected) {
        const derived = resourceRef ?? { type: 'Tool', id: req.action };
        // SECURITY: the caller's idea of the resource never replaces the one the args identify.
        if (expected.type !== derived.type || expected.id !== String(derived.id)) {
          errors.push({
            code: 'resource_mismatch',
            message: `the request names ${expected.type}::${expected.id} but the args identify ${derived.type}::${derived.id}`,
          });
          return 'deny';
        }
      }
      const [agent, user, stored] = await inSpan('mandate.store.read', {}, () =>
        Promise.all([
          store.getAgent(req.agent),
          req.onBehalfOf ? store.getUser(req.onBehalfOf) : Promise.resolve(null),
          resourceRef ? store.getResource(resourceRef.type, resourceRef.id) : Promise.resolve(null),
        ]),
      );
      // A path resource need not be in the entity store: it is the file the canonical path names.
      const resource: Resource | null =
        stored ??
        (resourceRef?.folders
          ? { type: resourceRef.type, id: resourceRef.id, attributes: {}, tags: [] }
          : null);
      if (!agent) {
        errors.push({ code: 'unknown_agent', message: `no agent ${req.agent}` });
        return 'deny';
      }
      if (agent.status !== 'active') {
        errors.push({ code: 'agent_suspended', message: `agent ${agent.id} is suspended` });
        return 'deny';
      }
      if (req.onBehalfOf && !user) {
        errors.push({ code: 'unknown_user', message: `no user ${req.onBehalfOf}` });
        return 'deny';
      }
      if (user && user.status !== 'active') {
        errors.push({ code: 'user_suspended', message: `user ${user.id} is suspended` });
        return 'deny';
      }
      if (resourceRef && !resource) {
        errors.push({ code: 'unknown_resource', message: `no ${resourceRef.type} ${resourceRef.id}` });
        return 'deny';
      }

      // Delegation: acting for a user needs a live grant from that user that covers this call.
      if (user) {
        const check = await deps.grants.check({
          agent: agent.id,
          user,
          action: req.action,
          args,
          resource,
          declares: (path) => schemaDeclares(tool.inputSchema, path),
        });
        if (!check.ok) {
          errors.push({ code: check.code, message: check.message });
          return 'deny';
        }
        grant = check.grant;
        grantChain = check.chain;
      }

      const resourceUid = resourceRef
        ? { type: resourceRef.type, id: resourceRef.id }
        : { type: 'Tool', id: req.action };
      const entities: PolicyEntity[] = [agentEntity(agent)];
      if (user) entities.push(userEntity(user));
      entities.push(resource ? resourceEntity(resource) : { uid: resourceUid, attrs: {}, parents: [] });
      if (resourceRef?.folders) addFolders(entities, resourceRef);
      const context: Record<string, unknown> = { args: policyArgs, time: deps.time(now) };
      if (req.intent) context.intent = req.intent;
      if (user) context.onBehalfOf = { __entity: { type: 'User', id: user.id } };
      if (grant) {
        context.grant = {
          id: grant.id,
          ageSeconds: Math.max(0, Math.floor((now - Date.parse(grant.createdAt)) / 1000)),
          expiresInSeconds: Math.max(0, Math.floor((Date.parse(grant.expiresAt) - now) / 1000)),
        };
      }

      // Budgets and rates: the call's charge is reserved before the policies read the counters.
      reservation =
        (await deps.usage?.reserve({
          action: req.action,
          agent: agent.id,
          user: user?.id ?? null,
          args,
          now,
          dryRun: call.dryRun === true,
        })) ?? null;
      if (reservation) context.usage = reservation.context;

      const policySpan = startSpan('mandate.policy.evaluate', { 'mandate.policy_version': policy.version });
      const inputs: PolicyInputs = {
        agent: agent.id,
        user: user?.id ?? null,
        resource: resourceUid,
        context,
        entities,
      };
      // The agent, then (an agent never gets more than its user) the user for the same call.
      const [agentEval, userEval] = evaluateInputs(policy, req.action, inputs);
      policySpan.end();
      seen = { inputs, outcome: combineEvaluations(policy, req.action, [agentEval, userEval]) };
      const evals: [PolicyEvaluation, 'agent' | 'user'][] = [[agentEval, 'agent']];
      if (userEval) evals.push([userEval, 'user']);
      for (const [e, who] of evals) {
        for (const pe of e.errors) {
          errors.push({
            code: 'policy_error',
            policyId: pe.policyId,
            message: `${who} policy ${pe.policyId}: ${pe.message}`,
          });
        }
      }
      const denied = evals.filter(([e]) => e.effect === 'deny');
      if (denied.length > 0 && !declares(policy, req.action)) {
        // The engine denies an action its schema does not declare without evaluating anything:
        // say that, not "no policy permits" (a policy may well name it).
        errors.push({
          code: 'unknown_action',
          message: `action ${req.action} is not declared in the Cedar schema of policy ${policy.version}`,
        });
        return 'deny';
      }
      if (denied.length > 0) {
        reasons = denied.flatMap(([e, who]) =>
          e.satisfied.length > 0
            ? e.satisfied.map((s) => reason(s.policyId, s.reason, who))
            : e.errors.length > 0
              ? []
              : [
                  reason(
                    DEFAULT_DENY,
                    `no policy permits ${who === 'agent' ? `agent ${agent.id}` : `user ${user?.id}`} to ${req.action}`,
                    who,
                  ),
                ],
        );
        return 'deny';
      }
      reasons = evals.flatMap(([e, who]) => e.satisfied.map((s) => reason(s.policyId, s.reason, who)));
      const needs = evals.map(([e]) => e.approval).filter((a) => a !== undefined);
      if (needs.length === 0) return 'allow';

      // Approval needed: the requirement of the agent's evaluation first, then the user's (deterministic).
      const requirement = needs[0]!;
      const binding: CallBinding = {
        agent: agent.id,
        user: user?.id ?? null,
        action: req.action,
        args,
        resource: resourceRef ? `${resourceRef.type}::${resourceRef.id}` : null,
        policyVersion: policy.version,
        toolHash: call.toolHash ?? null,
      };
      if (call.dryRun) {
        if (req.approvalId) {
          errors.push({ code: 'bad_request', message: 'a dry run does not consume approvals' });
          return 'deny';
        }
        wouldRequest = { role: requirement.role, quorum: requirement.quorum };
        return 'approval_required';
      }
      if (req.approvalId) {
        approvalId = req.approvalId;
        const consumed = await deps.approvals.consume(req.approvalId, binding, decisionId);
        if (!consumed.ok) {
          errors.push({ code: consumed.code, message: consumed.message });
          return 'deny';
        }
        if (consumed.approval.role !== requirement.role || consumed.approval.quorum < requirement.quorum) {
          errors.push({
            code: 'approval_mismatch',
            message: 'the approval was routed to another role or quorum',
          });
          return 'deny';
        }
        approvalRef = toApprovalRef(consumed.approval);
        return 'allow';
      }
      // SECURITY: the approver's screen and the audit chain see redacted values only — the summary is
      // rendered from the redacted args, so a secret named by the template never reaches the chain.
      const redactedArgs = redacted();
      const approval = await deps.approvals.request({
        ...binding,
        decisionId,
        role: requirement.role,
        quorum: requirement.quorum,
        summary: tools.summarize(req.action, redactedArgs),
        ...(keptAside.args ? { summaryOffRecord: true } : {}),
        redactedArgs,
        policy: {
          id: requirement.policyId,
          reason:
            evals.flatMap(([e]) => e.satisfied).find((p) => p.policyId === requirement.policyId)?.reason ??
            null,
        },
      });
      approvalId = approval.id;
      approvalRef = toApprovalRef(approval);
      return 'approval_required';
    }

    const usage = reservation as UsageReservation | null;
    // Anything but allow charges nothing: the reservation goes back before the answer.
    if (effect !== 'allow') await usage?.settle(effect);
    const latencyMs = performance.now() - started;
    const decision: Decision = {
      decisionId,
      effect,
      reasons,
      errors,
      policyVersion: policy?.version ?? null,
      resource: resourceRef ? { type: resourceRef.type, id: resourceRef.id } : null,
    };
    if (approvalRef) decision.approval = approvalRef;
    const usedGrant = grant as GrantRecord | null;
    if (usedGrant) decision.grantId = usedGrant.id;

    const policySaw = seen as { inputs: PolicyInputs; outcome: PolicyOutcome } | null;
    // SECURITY: audit before act — the answer leaves only after this event is durably committed.
    try {
      // The personal fields the deployment keeps go beside the chain, never into it (docs/audit.md "Erasure").
      const personal = req.onBehalfOf
        ? ((await deps.personal?.keep({ ref: decisionId, userId: req.onBehalfOf, args: redacted() })) ?? null)
        : null;
      await inSpan('mandate.audit.commit', {}, () =>
        deps.audit({
          type: 'decision',
          time: new Date(now).toISOString(),
          nodeId: deps.nodeId,
          decisionId,
          agent: req.agent,
          ...(req.onBehalfOf ? { user: req.onBehalfOf } : {}),
          action: req.action,
          ...(resourceRef ? { resource: `${resourceRef.type}::${resourceRef.id}` } : {}),
          effect,
          data: {
            argsDigest: deps.digest(args),
            ...(personal?.fields.includes('args') ? {} : { args: redacted() }),
            ...(personal ? { personal } : {}),
            reasons,
            errors,
            policyVersion: decision.policyVersion,
            // SECURITY: the chain is forever — a token or card number narrated in the intent is
            // redacted like one in the args before it is hashed.
            intent: typeof req.intent === 'string' ? redactedIntent(req.intent) : null,
            approvalId,
            grantId: usedGrant?.id ?? null,
            grantChain,
            // The pinned definition of the MCP upstream tool the gateway runs the call on, if any.
            ...(call.toolHash ? { toolHash: call.toolHash } : {}),
            sessionId: req.sessionId ?? null,
            traceId: req.traceId ?? null,
            caller: caller.keyId,
            latencyUs: Math.round(latencyMs * 1000),
            ...(call.dryRun ? { dryRun: true } : {}),
            // Null: decided before any policy was asked (the same under every set).
            policyInputs:
              policySaw && policy
                ? recordInputs(
                    policySaw.inputs,
                    policySaw.outcome,
                    inputsRedaction,
                    policy.attributeNames,
                    keptAside,
                  )
                : null,
            // The counter values the policies were given (docs/policies.md "Budgets and rates").
            ...(usage ? { usage: usage.readings } : {}),
          },
        }),
      );
    } catch (err) {
      // Not recorded, so not allowed: the call's charge goes back.
      await usage?.settle('deny');
      logger.error('audit append failed; answering with an error, never allow', {
        decisionId,
        error: (err as Error).message,
      });
      if (isMandateError(err) && err.code === 'overloaded') throw err;
      throw new MandateError(
        'audit_unavailable',
        'the decision could not be recorded; nothing is allowed without a record',
        {
          cause: err,
        },
      );
    }
    deps.observe?.(effect, performance.now() - started);
    if (policySaw && policy && deps.shadow) {
      // Off the answer's path: the shadow only enqueues, and nothing it does reaches the answer.
      try {
        deps.shadow({ decisionId, action: req.action, policyVersion: policy.version, ...policySaw });
      } catch (err) {
        logger.warn('shadow evaluation not queued', { decisionId, error: (err as Error).message });
      }
    }
    return wouldRequest ? { decision, args, wouldRequest } : { decision, args };
  }
}

const declaredActions = new WeakMap<CompiledPolicySet, ReadonlySet<string>>();

/** Does the set's schema declare this action? Asked only on a deny, cached per set. */
function declares(policy: CompiledPolicySet, action: string): boolean {
  let set = declaredActions.get(policy);
  if (!set) {
    set = new Set(policy.actions);
    declaredActions.set(policy, set);
  }
  return set.has(action);
}

function reason(policyId: string, text: string | undefined, principal: 'agent' | 'user'): DecisionReason {
  return text === undefined ? { policyId, principal } : { policyId, reason: text, principal };
}

/**
 * A path resource's folders become its ancestors: the resource (last entity) gets its folder as
 * parent, each folder the next one up, so `resource in Dir::"/srv/sandbox"` holds exactly for
 * paths under that folder, whatever their spelling prefix (`/srv/sandbox-evil/x` is not under it).
 */
function addFolders(entities: PolicyEntity[], ref: ResourceRef): void {
  const { type, ids } = ref.folders!;
  if (ids.length === 0) return;
  const resource = entities[entities.length - 1]!;
  resource.parents = [...resource.parents, { type, id: ids[0]! }];
  ids.forEach((id, k) => {
    const up = ids[k + 1];
    entities.push({ uid: { type, id }, attrs: {}, parents: up === undefined ? [] : [{ type, id: up }] });
  });
}

/** Cedar view of an agent: `Agent::"id"` with roles as a set, status, owner and its attributes. */
export function agentEntity(a: Agent): PolicyEntity {
  const attrs = copyAttributes(a.attributes);
  attrs.roles = a.roles;
  attrs.status = a.status;
  if (a.owner !== undefined) attrs.owner = a.owner;
  return { uid: { type: 'Agent', id: a.id }, attrs, parents: [] };
}

/** Cedar view of a user: `User::"id"` with roles as a set and its attributes (tenant, department …). */
export function userEntity(u: User): PolicyEntity {
  const attrs = copyAttributes(u.attributes);
  attrs.roles = u.roles;
  attrs.status = u.status;
  return { uid: { type: 'User', id: u.id }, attrs, parents: [] };
}

/** Cedar view of a resource: its attributes plus `tags` as a set. */
export function resourceEntity(r: Resource): PolicyEntity {
  const attrs = copyAttributes(r.attributes);
  attrs.tags = r.tags;
  return { uid: { type: r.type, id: r.id }, attrs, parents: [] };
}

/**
 * `{ ...attributes }`: the own enumerable keys in order, a `__proto__` key kept a key (as a spread
 * defines it). Built key by key because V8 copies a spread of a parsed or cloned object into a
 * literal with more keys tens of times slower, on every decision.
 */
function copyAttributes(src: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (src === undefined || src === null) return out;
  for (const k of Object.keys(src)) setOwn(out, k, src[k]);
  return out;
}
