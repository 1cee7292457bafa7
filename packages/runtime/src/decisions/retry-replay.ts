import type { Decision, DecisionRequest } from '@mandate/protocol';
import type { GrantService } from '../grants/index.js';
import type { Store } from '../storage/port.js';

/**
 * SECURITY: whether a recorded `allow` may be given again for a retry with the same
 * Idempotency-Key. Revocation is immediate (DESIGN.md): an agent or user suspended, or the grant
 * (or one up its chain) revoked or expired since, is denied on the next request, a retry included —
 * the recorded allow was replayed for an hour. A deny or an approval request replays as recorded
 * (nothing runs on it).
 */
export async function replayStillHolds(
  deps: { store: Pick<Store, 'getAgent' | 'getUser'>; grants: Pick<GrantService, 'isLive'> },
  request: DecisionRequest,
  recorded: Pick<Decision, 'effect' | 'grantId'>,
): Promise<boolean> {
  if (recorded.effect !== 'allow') return true;
  const agent = await deps.store.getAgent(request.agent);
  if (agent?.status !== 'active') return false;
  if (request.onBehalfOf) {
    const user = await deps.store.getUser(request.onBehalfOf);
    if (user?.status !== 'active') return false;
  }
  return recorded.grantId ? deps.grants.isLive(recorded.grantId) : true;
}
