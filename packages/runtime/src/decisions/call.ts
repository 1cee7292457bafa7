/**
 * A call as the decision path prepares it before any policy is asked — the args canonicalised,
 * validated and typed, the resource identified — and what the path finds out about it as it goes.
 */
import type {
  Agent,
  Decision,
  DecisionError,
  DecisionReason,
  DecisionRequest,
  Resource,
  Tool,
  User,
} from '@mandate/protocol';
import { newId } from '../kernel/index.js';
import type { CompiledPolicySet, PolicyEvaluation } from '../policy/port.js';
import type { ResourceRef, ToolRegistry } from '../tools/index.js';
import type { GrantRecord } from '../storage/port.js';
import type { UsageReservation } from '../usage/index.js';
import { argsForPolicy } from './typed-args.js';
import { decidedArgs } from './args-keys.js';
import { callRedaction, type CallRedaction } from './call-redaction.js';
import type { KeptAside, PolicyInputs, PolicyOutcome } from './policy-inputs.js';
import type { DecideOptions, DecisionOutcome, DecisionServiceDeps } from './types.js';

/** A call ready for the policies: read once, before any lookup. */
export interface PreparedCall {
  req: DecisionRequest;
  options: DecideOptions;
  decisionId: string;
  /** The decision's time (ms): the event's time, the policies' `context.time`, the grant's age. */
  now: number;
  /** The active policy set, taken once: the whole decision uses this one. */
  policy: CompiledPolicySet | null;
  tools: ToolRegistry;
  tool: Tool | undefined;
  /**
   * The args decided on: keys in canonical order at every depth (args-keys.ts), canonical where the
   * tool declares paths, valid for its schema.
   */
  args: Record<string, unknown>;
  resourceRef: ResourceRef | null;
  /** The args as the engine reads them: typed by the schema (decimal where declared). */
  policyArgs: Record<string, unknown>;
  /** Personal fields kept beside the chain for this call's user, out of every hashed record of it. */
  keptAside: KeptAside;
  redaction: CallRedaction;
}

/** The parties of a call, looked up and found active. */
export interface Parties {
  agent: Agent;
  user: User | null;
  resource: Resource | null;
}

/** One principal's evaluation: the agent's, then (an agent never gets more than its user) the user's. */
export type PrincipalEvaluation = [PolicyEvaluation, 'agent' | 'user'];

/**
 * What the path establishes besides the effect, read by the answer and the audit record. Filled in
 * as the path goes, so a fault half-way still records (and undoes) what came before it.
 */
export interface Findings {
  errors: DecisionError[];
  reasons: DecisionReason[];
  grant: GrantRecord | null;
  grantChain: string[];
  approval?: Decision['approval'];
  approvalId: string | null;
  /** A dry run that ended in approval_required: who would have been asked. */
  wouldRequest?: DecisionOutcome['wouldRequest'];
  /** What the policies saw and answered: recorded for replay, handed to the shadow set (ADR 0025). */
  seen: { inputs: PolicyInputs; outcome: PolicyOutcome } | null;
  /** The call's charge on the usage counters, reserved before the policies ran. */
  reservation: UsageReservation | null;
}

export function noFindings(): Findings {
  return {
    errors: [],
    reasons: [],
    grant: null,
    grantChain: [],
    approvalId: null,
    seen: null,
    reservation: null,
  };
}

/**
 * Prepares the call. Throws (a refusal of the request, answered 400, not a decision) when the
 * args are invalid for the tool's schema or a number cannot be held exactly by its declared type.
 */
export async function prepareCall(
  deps: DecisionServiceDeps,
  req: DecisionRequest,
  options: DecideOptions,
): Promise<PreparedCall> {
  const now = deps.clock.now();
  const decisionId = newId('dec', now);
  const policy = deps.policies();
  const tools = deps.tools();
  const tool = tools.get(req.action);
  // SECURITY: one order and one spelling of keys (args-keys.ts): keys sorted at every depth as the
  // call hash sorts them, keys that differ only in case refused — what is hashed is what runs.
  const keyed = decidedArgs(req.args, {
    schema: tool?.inputSchema,
    type: policy && tool ? policy.argsType(req.action) : undefined,
  });
  // SECURITY: declared path args are canonicalised before anything reads them: the canonical form
  // is validated, decided on, audited, bound to an approval and forwarded (`outcome.args`).
  const args = tool?.paths ? await tools.canonicalArgs(req.action, keyed) : keyed;

  // Validation errors are the caller's bug: a 400 naming the path, not a decision.
  if (tool) tools.validateArgs(req.action, args);
  const resourceRef = tool ? tools.resourceOf(req.action, args) : null;
  // What the engine reads: args typed by the schema (decimal where declared; 400 for a value the
  // declared type cannot hold). An action without a tool is denied before any policy is read.
  const policyArgs = policy && tool ? argsForPolicy(args, policy.argsType(req.action)) : args;

  // Personal data kept beside the chain for this call's user stays out of every hashed record of
  // it: the decision's args copy and recorded inputs, the approval request's summary.
  const keeps = req.onBehalfOf ? (deps.personal?.fields ?? []) : [];
  const keptAside: KeptAside = {
    args: keeps.includes('args'),
    userAttributes: keeps.includes('userDisplayName') ? ['displayName'] : [],
  };
  return {
    req,
    options,
    decisionId,
    now,
    policy,
    tools,
    tool,
    args,
    resourceRef,
    policyArgs,
    keptAside,
    redaction: callRedaction(deps.redact, args, tool?.redact, req.intent),
  };
}
