import type { Decision, DecisionRequest } from '@mandate/protocol';
import type { GrantService } from '../grants/index.js';
import type { Store } from '../storage/port.js';

/**
 * SECURITY: whether a recorded `allow` may be given again for a retry with the same
 * Idempotency-Key. Revocation is immediate and any forbid denies (DESIGN.md), so a recorded allow
 * is given again only while nothing it rested on can have changed: the same policy set is active,
 * the store's cache epoch has not moved since it was decided (any write to agents, users,
 * resources, grants or API keys moves it: a tag such as `legal_hold`, a role taken away, a grant
 * revoked), and the agent, the user and the grant chain are still live (a suspension or an expiry
 * moves no epoch). Otherwise the retry is decided afresh — recorded, and maybe denied; an approval
 * the first answer consumed is spent. A deny or an approval request replays as recorded (nothing
 * runs on it).
 */
export async function replayStillHolds(
  deps: { store: Pick<Store, 'getAgent' | 'getUser'>; grants: Pick<GrantService, 'isLive'> },
  request: DecisionRequest,
  recorded: Pick<Decision, 'effect' | 'grantId' | 'policyVersion'>,
  since: { epoch: number | undefined; epochNow: number; activeVersion: string | null },
): Promise<boolean> {
  if (recorded.effect !== 'allow') return true;
  if (since.epoch === undefined || since.epoch !== since.epochNow) return false;
  if (recorded.policyVersion === null || recorded.policyVersion !== since.activeVersion) return false;
  const agent = await deps.store.getAgent(request.agent);
  if (agent?.status !== 'active') return false;
  if (request.onBehalfOf) {
    const user = await deps.store.getUser(request.onBehalfOf);
    if (user?.status !== 'active') return false;
  }
  return recorded.grantId ? deps.grants.isLive(recorded.grantId) : true;
}
