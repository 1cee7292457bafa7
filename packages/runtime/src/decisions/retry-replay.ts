import type { Decision, DecisionRequest } from '@mandate/protocol';
import type { ApprovalService } from '../approvals/index.js';
import type { GrantService } from '../grants/index.js';
import type { Store } from '../storage/port.js';
import type { RecordedUsageReader } from '../usage/recheck.js';
import { findHeld } from '../audit/columns.js';

/**
 * SECURITY: whether a recorded `allow` may be given again for a retry with the same
 * Idempotency-Key. Revocation is immediate and any forbid denies (DESIGN.md), so the call is
 * decided again as a check — a dry run without its approval, not recorded, under the rate limits
 * and the policy freshness bound — and the recorded allow is given again only if the check allows
 * it, or, when the recorded allow consumed an approval, only if the check asks for that very
 * approval — the same role, no larger quorum, the same policy version (a new version voids an
 * approval) — and that approval would still be taken now (`stillStands`: its votes still count,
 * nothing activated since it was asked for). An `approvalId` the call merely carried counts for
 * nothing (a plain permit allows and never reads it). Otherwise the retry is decided afresh — recorded, and denied — and an approval
 * the first answer consumed stays spent. A deny or an approval request replays as recorded.
 *
 * The usage counters already hold the recorded allow's own charge (it was kept): the check counts
 * it once, not twice — in the window it was charged in, as its decision event records
 * (`data.usage`) — so a retry of the call that filled a budget is not denied for its own charge,
 * while a budget that others filled since, or a stricter one, still denies it.
 */
export async function replayStillHolds(
  deps: {
    grants: Pick<GrantService, 'isLive'>;
    store: Pick<Store, 'queryAudit'>;
    approvals: Pick<ApprovalService, 'stillStands'>;
  },
  request: DecisionRequest,
  recorded: Pick<Decision, 'decisionId' | 'effect' | 'grantId' | 'approval' | 'policyVersion'>,
  /** Decides `request` again as a dry run, not recorded, its counters read without `recorded`'s charge. */
  check: (request: DecisionRequest, recorded: RecordedUsageReader) => Promise<ReplayCheck>,
): Promise<boolean> {
  if (recorded.effect !== 'allow') return true;
  if (recorded.grantId && !(await deps.grants.isLive(recorded.grantId))) return false;
  const { approvalId: _carried, ...withoutApproval } = request;
  // Read only when the action has counters, held to its hashed event (a record pointed at this
  // decision id in the store is not it); a record not found takes nothing off (fails closed).
  const recordedUsage = async () =>
    (await findHeld(deps.store, { decisionId: recorded.decisionId, type: 'decision' }))?.event.data.usage;
  const now = await check(withoutApproval, recordedUsage);
  if (now.effect === 'allow') return true;
  const consumed = recorded.approval;
  return (
    consumed !== undefined &&
    now.effect === 'approval_required' &&
    now.wouldRequest !== undefined &&
    now.wouldRequest.role === consumed.role &&
    now.wouldRequest.quorum <= consumed.quorum &&
    now.policyVersion !== null &&
    now.policyVersion === recorded.policyVersion &&
    // SECURITY: and that approval would still be taken: its votes still make the quorum and no
    // policy set was activated since it was asked for. The replay gave the allow again after its
    // approver was suspended or lost the role, and after a set B then A again (a probe).
    (await deps.approvals.stillStands(consumed.id))
  );
}

/** What a replay's check decided: its effect, its policy version, and whom it would ask. */
export interface ReplayCheck {
  effect: Decision['effect'];
  policyVersion: string | null;
  wouldRequest?: { role: string; quorum: number };
}
