import type { Effect } from '@mandate/protocol';
import { changedPaths, redactText } from '../audit/redact.js';
import { setOwn } from '../kernel/index.js';
import { routeApproval } from '../policy/approval-route.js';
import type { CompiledPolicySet, EntityRef, PolicyEntity, PolicyEvaluation } from '../policy/port.js';

/**
 * What one decision handed the policy engine, exactly: the principal agent (and the user it acted
 * for), the resource, the Cedar context (args as typed, time, intent, onBehalfOf, grant) and the
 * entity slice. Enough to decide the same request again against another policy set: the shadow
 * set (live, unredacted) and replay (from the audit record, redacted; ADR 0025).
 */
export interface PolicyInputs {
  agent: string;
  user: string | null;
  resource: EntityRef;
  context: Record<string, unknown>;
  entities: PolicyEntity[];
}

/** The policy-level answer of a set: before any approval is requested or consumed. */
export interface PolicyOutcome {
  effect: Effect;
  /** The determining policies (sorted): forbids on a forbid, permits on allow/approval, the default deny otherwise. */
  policies: string[];
}

/**
 * The inputs as recorded in a decision audit event (`data.policyInputs`), with the policy-level
 * outcome the active set gave them. Values the redactor replaced are listed in `redacted` (paths
 * like `context.args.card.number`): a replay cannot know them, so such a decision is reported as
 * unreplayable rather than guessed.
 */
export interface RecordedPolicyInputs extends PolicyInputs {
  outcome: PolicyOutcome;
  redacted: string[];
  /**
   * Entity attribute names left off the record because no policy of the active set reads them
   * (personal data the policies do not need stays off the chain). A candidate that reads one of
   * them cannot be replayed faithfully on this decision.
   */
  omitted: string[];
}

export const DEFAULT_DENY_ID = 'mandate.default_deny';
/** The determining "policy" when the set's schema does not declare the action. */
export const UNDECLARED_ACTION_ID = 'mandate.undeclared_action';

/** Evaluates the inputs against a set as the decision path does: the agent, then the user it acts for. */
export function evaluateInputs(
  set: CompiledPolicySet,
  action: string,
  inputs: PolicyInputs,
): [PolicyEvaluation, PolicyEvaluation | null] {
  const agentEval = set.evaluate({
    principal: { type: 'Agent', id: inputs.agent },
    action,
    resource: inputs.resource,
    context: inputs.context,
    entities: inputs.entities,
  });
  if (inputs.user === null) return [agentEval, null];
  // The same as `{ ...inputs.context, agent }`; V8 runs a spread followed by more keys several
  // times slower than a spread alone and one assignment.
  const userContext: Record<string, unknown> = { ...inputs.context };
  userContext.agent = { __entity: { type: 'Agent', id: inputs.agent } };
  const userEval = set.evaluate({
    principal: { type: 'User', id: inputs.user },
    action,
    resource: inputs.resource,
    context: userContext,
    entities: inputs.entities,
  });
  return [agentEval, userEval];
}

/**
 * The policy-level outcome of the agent's and the user's evaluations, with the decision path's
 * semantics: any deny (a forbid, an error, nothing permitting) denies; otherwise an approval
 * requirement of either makes it approval_required; otherwise allow.
 */
export function combineEvaluations(
  set: CompiledPolicySet,
  action: string,
  evals: readonly (PolicyEvaluation | null)[],
): PolicyOutcome {
  const present = evals.filter((e): e is PolicyEvaluation => e !== null);
  const ids = (list: readonly PolicyEvaluation[]) =>
    [...new Set(list.flatMap((e) => e.satisfied.map((s) => s.policyId)))].sort();
  const denying = present.filter((e) => e.effect === 'deny');
  if (denying.length > 0) {
    if (!set.actions.includes(action)) return { effect: 'deny', policies: [UNDECLARED_ACTION_ID] };
    const forbids = ids(denying);
    const errored = denying.flatMap((e) => e.errors.map((x) => x.policyId));
    const policies = forbids.length > 0 ? forbids : errored.length > 0 ? [...new Set(errored)].sort() : [];
    return { effect: 'deny', policies: policies.length > 0 ? policies : [DEFAULT_DENY_ID] };
  }
  // As the live decision settles it (approval-step.ts `oneApprovalFor`): the agent's and the
  // user's approvals asking different roles cannot be met by one approval — a deny, naming them.
  // Replay and shadow reported approval_required where the call was denied.
  const asked = present.flatMap((e) => (e.approval ? [e.approval] : []));
  if (asked.length > 0 && !routeApproval(asked).ok)
    return { effect: 'deny', policies: [...new Set(asked.map((a) => a.policyId))].sort() };
  const effect = asked.length > 0 ? 'approval_required' : 'allow';
  return { effect, policies: ids(present) };
}

/** Decides recorded (or live) inputs against a set: the policy-level outcome only. */
export function decideInputs(set: CompiledPolicySet, action: string, inputs: PolicyInputs): PolicyOutcome {
  return combineEvaluations(set, action, evaluateInputs(set, action, inputs));
}

/**
 * How {@link recordInputs} redacts: a record (the args, an entity's attributes) as the event's
 * `args` copy is redacted, pushing onto `changed` the path (under `path`) of every value replaced
 * by a different one; and free text (the intent). The decision path hands one that reuses what
 * it already redacted for the event ({@link Redactor.tracking}, the intent's redaction);
 * {@link comparingRedaction} makes one from a plain redactor.
 */
export interface InputsRedaction {
  record(value: Record<string, unknown>, path: string, changed: string[]): Record<string, unknown>;
  text(value: string): string;
}

/** Redaction by a plain redactor, the changed paths found by comparing input and copy. */
export function comparingRedaction(
  redact: (value: Record<string, unknown>) => Record<string, unknown>,
): InputsRedaction {
  return {
    record(value, path, changed) {
      const out = redact(value);
      changedPaths(value, out, path, changed);
      return out;
    },
    text: redactText,
  };
}

/**
 * The form kept in the hashed audit event. SECURITY: the args, the intent and the entity
 * attributes go through the same redactor as the event's `args` copy (configured paths, secret
 * key names, secret-shaped values), so the chain holds no secret the redacted copy would not; an
 * entity attribute no policy of the active set reads (`reads`) is left off (only its name is kept).
 */
export function recordInputs(
  inputs: PolicyInputs,
  outcome: PolicyOutcome,
  redact: InputsRedaction | ((value: Record<string, unknown>) => Record<string, unknown>),
  reads: ReadonlySet<string>,
  aside: KeptAside = {},
): RecordedPolicyInputs {
  const redaction = typeof redact === 'function' ? comparingRedaction(redact) : redact;
  const redacted: string[] = [];
  const omitted = new Set<string>();
  const context: Record<string, unknown> = { ...inputs.context };
  if (aside.args && context.args !== undefined) {
    // SECURITY: erasable — args kept beside the chain (`audit.personal`) must not also be in it.
    context.args = KEPT_ASIDE;
    redacted.push('context.args');
  } else if (isRecord(context.args)) {
    context.args = redaction.record(context.args, 'context.args', redacted);
  }
  if (aside.usage && context.usage !== undefined) {
    context.usage = USAGE_HIDDEN;
    redacted.push('context.usage');
  }
  if (typeof context.intent === 'string') {
    context.intent = redaction.text(context.intent);
    if (context.intent !== inputs.context.intent) redacted.push('context.intent');
  }
  const asideUser = aside.userAttributes?.length ? aside.userAttributes : null;
  const entities = inputs.entities.map((e) => {
    const read: Record<string, unknown> = {};
    const personal = asideUser !== null && e.uid.type === 'User' && e.uid.id === inputs.user;
    for (const [k, v] of Object.entries(e.attrs)) {
      if (reads.has(k) && !(personal && asideUser.includes(k))) setOwn(read, k, v);
      else omitted.add(k);
    }
    const attrs = redaction.record(read, `entities.${e.uid.type}::${e.uid.id}`, redacted);
    return { uid: e.uid, attrs, parents: e.parents };
  });
  return {
    agent: inputs.agent,
    user: inputs.user,
    resource: inputs.resource,
    context,
    entities,
    outcome,
    redacted,
    omitted: [...omitted].sort(),
  };
}

/** What stands in the record for args kept beside the chain. */
export const KEPT_ASIDE = '[KEPT ASIDE]';
/** What stands in the record for counter values that would give away a hidden arg. */
export const USAGE_HIDDEN = '[REDACTED]';

/**
 * Personal data the deployment keeps beside the chain, erasable (`audit.personal`, docs/audit.md
 * "Erasure"): left off the recorded inputs too — the args (listed in `redacted`) and the named
 * attributes of the user the call was made for (listed in `omitted`).
 */
export interface KeptAside {
  args?: boolean;
  userAttributes?: readonly string[];
  /**
   * The counters' values (`context.usage`) are left off: one of them sums an arg this record
   * hides, and the difference of two readings is that arg's value.
   */
  usage?: boolean;
}

/** Reads `data.policyInputs` of a decision event back; null when absent or not of the recorded shape. */
export function readRecordedInputs(value: unknown): RecordedPolicyInputs | null {
  if (!isRecord(value)) return null;
  const { agent, user, resource, context, entities, outcome, redacted, omitted } = value;
  if (
    typeof agent !== 'string' ||
    !(user === null || typeof user === 'string') ||
    !isRecord(resource) ||
    !isRecord(context) ||
    !Array.isArray(entities) ||
    !isRecord(outcome) ||
    !Array.isArray(redacted) ||
    !Array.isArray(omitted)
  )
    return null;
  return value as unknown as RecordedPolicyInputs;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
