/**
 * The approval a policy asks for: a dry run says who would be asked; a call that brings an
 * approval consumes it, bound to exactly this call; any other call requests one.
 */
import type { Effect } from '@mandate/protocol';
import type { ApprovalRequirement } from '../policy/port.js';
import { routeApproval } from '../policy/approval-route.js';
import { SELF_CONFIRMATION, toApprovalRef, type CallBinding } from '../approvals/index.js';
import type { Findings, Parties, PreparedCall, PrincipalEvaluation } from './call.js';
import type { DecisionServiceDeps } from './types.js';

export interface ApprovalNeed {
  parties: Parties;
  evals: PrincipalEvaluation[];
  /** The version of the set that asked: an approval binds to it. */
  policyVersion: string;
  /** What both evaluations ask for ({@link oneApprovalFor}). */
  requirement: ApprovalRequirement;
}

/**
 * SECURITY: the one approval that satisfies what the agent's and the user's evaluations both ask
 * for, or null (the call is denied, `approval_conflict` recorded). Each principal's evaluation
 * must hold, so both requirements must be met: the agent's alone was taken, and a call whose user
 * policy asked two finance managers (or the user's own confirmation) ran on one finance manager's
 * approval, with the user's approval policy listed among the allow's reasons (a probe). The same
 * role: the higher quorum (that policy's id on the approval). Different roles cannot be one
 * approval: deny, saying which policies disagree, rather than pick one.
 */
export function oneApprovalFor(
  needs: readonly ApprovalRequirement[],
  found: Findings,
): ApprovalRequirement | null {
  const route = routeApproval(needs);
  if (!route.ok) {
    const { first, other } = route;
    found.errors.push({
      code: 'approval_conflict',
      message: `policy ${first.policyId} asks for an approval by ${first.role} and policy ${other.policyId} by ${other.role}: one call is approved by one role, so it cannot run (make the agent's and the user's policies for it ask the same role)`,
    });
    return null;
  }
  // The strictest, the agent's first among equals (deterministic).
  return route.requirement;
}

export async function settleApproval(
  deps: DecisionServiceDeps,
  call: PreparedCall,
  found: Findings,
  { parties: { agent, user }, evals, policyVersion, requirement }: ApprovalNeed,
): Promise<Effect> {
  const { req, resourceRef } = call;
  const binding: CallBinding = {
    agent: agent.id,
    user: user?.id ?? null,
    action: req.action,
    args: call.args,
    resource: resourceRef ? `${resourceRef.type}::${resourceRef.id}` : null,
    policyVersion,
    toolHash: call.options.toolHash ?? null,
  };
  // A confirmation by "the user the agent acts for" of a call made for no user: nobody could ever
  // vote on it (it would sit in no inbox until it expired), so the call is denied now, saying why (a dry run says so too).
  if (requirement.role === SELF_CONFIRMATION && !user) {
    found.errors.push({
      code: 'unknown_user',
      message: `policy ${requirement.policyId} asks the user the agent acts for to confirm this call (@approval("self")), and it acts for no user`,
    });
    return 'deny';
  }
  if (call.options.dryRun) {
    if (req.approvalId) {
      found.errors.push({ code: 'bad_request', message: 'a dry run does not consume approvals' });
      return 'deny';
    }
    found.wouldRequest = { role: requirement.role, quorum: requirement.quorum };
    return 'approval_required';
  }
  if (req.approvalId) {
    found.approvalId = req.approvalId;
    // SECURITY: the role and quorum this call needs now are checked by `consume` before it spends
    // the approval: a call denied for needing another role leaves it unused (and unrecorded as used).
    const consumed = await deps.approvals.consume(req.approvalId, binding, call.decisionId, {
      role: requirement.role,
      quorum: requirement.quorum,
    });
    if (!consumed.ok) {
      found.errors.push({ code: consumed.code, message: consumed.message });
      return 'deny';
    }
    found.approval = toApprovalRef(consumed.approval);
    return 'allow';
  }
  // SECURITY: the approver's screen and the audit chain see redacted values only — the summary is
  // rendered from the redacted args, so a secret named by the template never reaches the chain.
  const redactedArgs = call.redaction.args();
  const approval = await deps.approvals.request({
    ...binding,
    decisionId: call.decisionId,
    role: requirement.role,
    quorum: requirement.quorum,
    summary: call.tools.summarize(req.action, redactedArgs),
    ...(call.keptAside.args ? { summaryOffRecord: true } : {}),
    redactedArgs,
    policy: {
      id: requirement.policyId,
      reason:
        evals.flatMap(([e]) => e.satisfied).find((p) => p.policyId === requirement.policyId)?.reason ?? null,
    },
  });
  found.approvalId = approval.id;
  found.approval = toApprovalRef(approval);
  return 'approval_required';
}
