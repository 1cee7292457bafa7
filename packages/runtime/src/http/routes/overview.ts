import { requireRole } from '../auth.js';
import type { RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { WINDOW_MINUTES, countDecisions } from './overview-counts.js';

/** Most pending approvals counted. */
const MAX_PENDING = 1_000;

/** `GET /v1/overview` (admin): the dashboard's first screen, from bounded reads of the store. */
export function registerOverviewRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/overview', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const counts = await countDecisions(deps.store, deps.clock.now(), deps.auditTampered);
    const [pending, pins, activePolicyVersion, head, [last]] = await Promise.all([
      deps.store.listApprovals({ status: 'pending', limit: MAX_PENDING }),
      deps.store.listToolPins(),
      deps.store.getActivePolicyVersion(),
      deps.store.auditHead(),
      deps.store.listCheckpoints({ order: 'desc', limit: 1 }),
    ]);
    const integrity = deps.auditIntegrity?.();
    return {
      window: {
        from: counts.from,
        minutes: WINDOW_MINUTES,
        truncated: counts.truncated,
        completeFrom: counts.completeFrom,
      },
      decisionsPerMinute: counts.decisionsPerMinute,
      pendingApprovals: pending.length,
      quarantinedTools: pins.filter((p) => p.status === 'quarantined').length,
      policyErrors: counts.policyErrors,
      activePolicyVersion,
      audit: {
        headSeq: head.seq,
        lastCheckpoint: last ? { seq: last.seq, time: last.time } : null,
        lastVerified: integrity
          ? {
              seq: integrity.verifiedSeq,
              status: integrity.ok ? 'ok' : 'tampered',
              // Records before the checkpoint the check started from, not verified yet (ADR 0035).
              historyUnverified: integrity.anchorSeq - integrity.historySeq,
            }
          : null,
      },
    };
  });
}
