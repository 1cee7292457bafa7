import type { Decision, DecisionRequest } from '@mandate/protocol';
import type { GrantService } from '../grants/index.js';

/**
 * SECURITY: whether a recorded `allow` may be given again for a retry with the same
 * Idempotency-Key. Revocation is immediate and any forbid denies (DESIGN.md), so the call is
 * decided again as a check — a dry run, not recorded, under the rate limits and the policy
 * freshness bound — and the recorded allow is given again only if that check still allows it
 * (with its approval: a call that brought one may now ask for it, since the recorded answer
 * consumed it). A suspension, a revoked grant, an entity or role changed, another policy set, a
 * time-of-day forbid that began since, a tool's schema changed: the retry is decided afresh —
 * recorded, and denied — and an approval the first answer consumed stays spent. A deny or an
 * approval request replays as recorded (nothing runs on it).
 */
export async function replayStillHolds(
  deps: { grants: Pick<GrantService, 'isLive'> },
  request: DecisionRequest,
  recorded: Pick<Decision, 'effect' | 'grantId'>,
  check: (request: DecisionRequest) => Promise<Pick<Decision, 'effect'>>,
): Promise<boolean> {
  if (recorded.effect !== 'allow') return true;
  if (recorded.grantId && !(await deps.grants.isLive(recorded.grantId))) return false;
  const { approvalId, ...withoutApproval } = request;
  const now = await check(withoutApproval);
  return approvalId ? now.effect !== 'deny' : now.effect === 'allow';
}
