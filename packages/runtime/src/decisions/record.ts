/**
 * The decision's audit event: what was asked, by whom, what the policies saw and answered, and
 * why — redacted before it is hashed into the chain, personal fields kept beside it.
 */
import type { AuditEvent, Decision, Effect } from '@mandate/protocol';
import type { PersonalRef } from '../audit/personal.js';
import { recordInputs } from './policy-inputs.js';
import type { Findings, PreparedCall } from './call.js';
import type { Caller, DecisionServiceDeps } from './types.js';
import type { UsageReading } from '../usage/index.js';

export interface DecisionFacts {
  decision: Decision;
  caller: Caller;
  latencyMs: number;
  /** The personal fields kept beside the chain for this decision, or null. */
  personal: PersonalRef | null;
}

/** A resource as a decision's record names it (`Type::id`); the gateway's outcome record names it the same. */
export function recordedResource(ref: { type: string; id: string }): string {
  return `${ref.type}::${ref.id}`;
}

export function decisionEvent(
  deps: Pick<DecisionServiceDeps, 'nodeId' | 'digest'>,
  call: PreparedCall,
  found: Findings,
  { decision, caller, latencyMs, personal }: DecisionFacts,
): AuditEvent {
  const { req, resourceRef, policy, options, redaction } = call;
  const effect: Effect = decision.effect;
  const seen = found.seen;
  const usage = found.reservation;
  // SECURITY: a counter summing an arg this record hides (redacted, or kept beside the chain)
  // would give it away: two readings differ by it (a probe read a redacted, erased amount so).
  const recordedArgs = personal?.fields.includes('args') ? null : redaction.args();
  const hideUsage =
    usage !== null &&
    usage !== undefined &&
    usage.sums.some((path) => recordedArgs === null || !sameAt(recordedArgs, call.args, path));
  return {
    type: 'decision',
    time: new Date(call.now).toISOString(),
    nodeId: deps.nodeId,
    decisionId: call.decisionId,
    agent: req.agent,
    ...(req.onBehalfOf ? { user: req.onBehalfOf } : {}),
    action: req.action,
    ...(resourceRef ? { resource: recordedResource(resourceRef) } : {}),
    effect,
    data: {
      argsDigest: deps.digest(call.args),
      ...(personal?.fields.includes('args') ? {} : { args: redaction.args() }),
      ...(personal ? { personal } : {}),
      reasons: found.reasons,
      errors: found.errors,
      policyVersion: decision.policyVersion,
      // SECURITY: the chain is forever — a token or card number narrated in the intent is
      // redacted like one in the args before it is hashed.
      intent: typeof req.intent === 'string' ? redaction.text(req.intent) : null,
      approvalId: found.approvalId,
      grantId: found.grant?.id ?? null,
      grantChain: found.grantChain,
      // The pinned definition of the MCP upstream tool the gateway runs the call on, if any.
      ...(options.toolHash ? { toolHash: options.toolHash } : {}),
      // The MCP upstream server it goes to, when the gateway decided it.
      ...(options.upstream ? { upstream: options.upstream } : {}),
      sessionId: req.sessionId ?? null,
      traceId: req.traceId ?? null,
      caller: caller.keyId,
      latencyUs: Math.round(latencyMs * 1000),
      ...(options.dryRun ? { dryRun: true } : {}),
      // Null: decided before any policy was asked (the same under every set).
      policyInputs:
        seen && policy
          ? recordInputs(seen.inputs, seen.outcome, redaction.inputs, policy.attributeNames, {
              ...call.keptAside,
              ...(hideUsage ? { usage: true } : {}),
            })
          : null,
      // The counter values the policies were given (docs/policies.md "Budgets and rates").
      ...(usage ? { usage: hideUsage ? hiddenReadings(usage.readings) : usage.readings } : {}),
    },
  };
}

/** Whether `a` and `b` hold the same value at the dotted `path` (what a usage counter sums). */
function sameAt(a: Record<string, unknown>, b: Record<string, unknown>, path: string): boolean {
  const at = (v: unknown) => {
    for (const part of path.split('.')) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  };
  return at(a) === at(b);
}

/** The readings with their values left off (the window stays): they would give away a hidden arg. */
function hiddenReadings(
  readings: Record<string, UsageReading>,
): Record<string, { windowStart: string; hidden: true }> {
  return Object.fromEntries(
    Object.entries(readings).map(([name, r]) => [
      name,
      { windowStart: r.windowStart, hidden: true as const },
    ]),
  );
}
