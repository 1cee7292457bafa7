import type { ApprovalRequirement } from './port.js';

/** {@link routeApproval}'s answer: the one approval that meets every requirement, or the two that cannot share one. */
export type ApprovalRoute =
  | { ok: true; requirement: ApprovalRequirement }
  | { ok: false; first: ApprovalRequirement; other: ApprovalRequirement };

/**
 * SECURITY: the one approval that meets every requirement of the `@approval` permits a call
 * satisfied, whatever their ids or order. The same role: that role with the highest quorum (the
 * lowest policy id among equals, so the answer is deterministic). Different roles — `self` and a
 * role too — cannot be one approval: no route, the call is denied (`approval_conflict`) and the
 * policy author makes the permits' conditions exclusive. Picking one by policy id let an agent
 * steer its own call: an optional arg that satisfied a second permit, `@approval("self")` under a
 * lower id, moved a refund two CFOs had to approve to the user's own click (a probe). The decision
 * path applies it across the agent's and the user's evaluations (`oneApprovalFor`), and replay and
 * shadow evaluation to their policy-level outcome (`combineEvaluations`).
 */
export function routeApproval(needs: readonly ApprovalRequirement[]): ApprovalRoute {
  const first = needs[0];
  if (first === undefined) throw new Error('routeApproval needs at least one requirement');
  const other = needs.find((n) => n.role !== first.role);
  if (other !== undefined) return { ok: false, first, other };
  return { ok: true, requirement: needs.reduce((best, n) => (n.quorum > best.quorum ? n : best), first) };
}
