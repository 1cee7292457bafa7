import { requireRole } from '../auth.js';
import type { RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/** The window of the overview, in minutes. */
const WINDOW_MINUTES = 60;
/** Most decision records read for one overview: beyond it the counts say `truncated`. */
const MAX_RECORDS = 20_000;
const PAGE = 5_000;
/** Most pending approvals counted. */
const MAX_PENDING = 1_000;

type Effect = 'allow' | 'deny' | 'approval_required';

/** `GET /v1/overview` (admin): the dashboard's first screen, from bounded reads of the store. */
export function registerOverviewRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/overview', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const now = deps.clock.now();
    const firstMinute = Math.floor(now / 60_000) * 60_000 - (WINDOW_MINUTES - 1) * 60_000;
    const buckets = Array.from({ length: WINDOW_MINUTES }, (_, i) => ({
      minute: new Date(firstMinute + i * 60_000).toISOString(),
      allow: 0,
      deny: 0,
      approval_required: 0,
    }));
    let policyErrors = 0;
    let read = 0;
    let beforeSeq: number | undefined;
    let truncated = false;
    /** Counts are complete from this time on: the window's start, or the oldest record read when truncated. */
    let completeFrom = new Date(firstMinute).toISOString();
    const from = completeFrom;
    // Newest first: on a busy node the cap cuts off the oldest minutes, never the current ones.
    for (;;) {
      const page = await deps.store.queryAudit({
        type: 'decision',
        from,
        order: 'desc',
        limit: PAGE,
        ...(beforeSeq === undefined ? {} : { beforeSeq }),
      });
      for (const rec of page) {
        const i = Math.floor((Date.parse(rec.columns.time) - firstMinute) / 60_000);
        const effect = rec.columns.effect as Effect | null;
        if (i >= 0 && i < WINDOW_MINUTES && effect && effect in buckets[i]!) buckets[i]![effect]++;
        // Only records that mention the code are parsed.
        if (rec.eventText.includes('"policy_error"')) {
          const errors = (JSON.parse(rec.eventText) as { data?: { errors?: { code?: string }[] } }).data
            ?.errors;
          if (errors?.some((e) => e.code === 'policy_error')) policyErrors++;
        }
      }
      read += page.length;
      if (page.length < PAGE) break;
      if (read >= MAX_RECORDS) {
        truncated = true;
        completeFrom = page.at(-1)!.columns.time;
        break;
      }
      beforeSeq = page.at(-1)!.seq;
    }
    const [pending, pins, activePolicyVersion, head, [last]] = await Promise.all([
      deps.store.listApprovals({ status: 'pending', limit: MAX_PENDING }),
      deps.store.listToolPins(),
      deps.store.getActivePolicyVersion(),
      deps.store.auditHead(),
      deps.store.listCheckpoints({ order: 'desc', limit: 1 }),
    ]);
    const integrity = deps.auditIntegrity?.();
    return {
      window: { from, minutes: WINDOW_MINUTES, truncated, completeFrom },
      decisionsPerMinute: buckets,
      pendingApprovals: pending.length,
      quarantinedTools: pins.filter((p) => p.status === 'quarantined').length,
      policyErrors,
      activePolicyVersion,
      audit: {
        headSeq: head.seq,
        lastCheckpoint: last ? { seq: last.seq, time: last.time } : null,
        lastVerified: integrity
          ? { seq: integrity.verifiedSeq, status: integrity.ok ? 'ok' : 'tampered' }
          : null,
      },
    };
  });
}
