import type { Decision, DecisionRequest } from '@mandate/protocol';
import type { GrantService } from '../grants/index.js';

/**
 * SECURITY: whether a recorded `allow` may be given again for a retry with the same
 * Idempotency-Key. Revocation is immediate and any forbid denies (DESIGN.md), so the call is
 * decided again as a check — a dry run without its approval, not recorded, under the rate limits
 * and the policy freshness bound — and the recorded allow is given again only if the check allows
 * it, or, when the recorded allow consumed an approval, only if the check asks for that very
 * approval: the same role, no larger quorum, the same policy version (a new version voids an
 * approval). An `approvalId` the call merely carried counts for nothing (a plain permit allows and
 * never reads it). Otherwise the retry is decided afresh — recorded, and denied — and an approval
 * the first answer consumed stays spent. A deny or an approval request replays as recorded.
 */
export async function replayStillHolds(
  deps: { grants: Pick<GrantService, 'isLive'> },
  request: DecisionRequest,
  recorded: Pick<Decision, 'effect' | 'grantId' | 'approval' | 'policyVersion'>,
  check: (request: DecisionRequest) => Promise<ReplayCheck>,
): Promise<boolean> {
  if (recorded.effect !== 'allow') return true;
  if (recorded.grantId && !(await deps.grants.isLive(recorded.grantId))) return false;
  const { approvalId: _carried, ...withoutApproval } = request;
  const now = await check(withoutApproval);
  if (now.effect === 'allow') return true;
  const consumed = recorded.approval;
  return (
    consumed !== undefined &&
    now.effect === 'approval_required' &&
    now.wouldRequest !== undefined &&
    now.wouldRequest.role === consumed.role &&
    now.wouldRequest.quorum <= consumed.quorum &&
    now.policyVersion !== null &&
    now.policyVersion === recorded.policyVersion
  );
}

/** What a replay's check decided: its effect, its policy version, and whom it would ask. */
export interface ReplayCheck {
  effect: Decision['effect'];
  policyVersion: string | null;
  wouldRequest?: { role: string; quorum: number };
}
