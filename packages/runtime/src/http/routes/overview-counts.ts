import { yieldToLoop } from '../../kernel/index.js';
import type { Store } from '../../storage/port.js';
import { holdToEvents, reportOnce, type TamperReport } from '../../audit/columns.js';

/** The window of the overview, in minutes. */
export const WINDOW_MINUTES = 60;
/** Most decision records read for one overview: beyond it the counts say `truncated`. */
export const MAX_RECORDS = 20_000;
/** Records read at a time: one read is one synchronous block on SQLite. */
const PAGE = 1_000;

type Effect = 'allow' | 'deny' | 'approval_required';

export interface MinuteCounts {
  minute: string;
  allow: number;
  deny: number;
  approval_required: number;
}

export interface DecisionCounts {
  /** The window's first minute. */
  from: string;
  /** Counts are complete from this time on: the window's start, or the oldest record read when truncated. */
  completeFrom: string;
  truncated: boolean;
  decisionsPerMinute: MinuteCounts[];
  /** Decisions in the window whose errors include a `policy_error`. */
  policyErrors: number;
}

/**
 * The decisions of the last hour per minute and effect, from at most `MAX_RECORDS` records read
 * newest first: on a busy node the cap cuts off the oldest minutes, never the current ones.
 *
 * SECURITY: counted by the hashed events, not by the query columns the records were found by: an
 * allow whose `effect` column a DB admin set to deny (or a record indexed as another type) is not
 * counted as what its column says; it is left out and reported through `tampered` (the node's
 * finding). One JSON parse per record (a few µs), beside a page read that costs far more.
 */
export async function countDecisions(
  store: Pick<Store, 'queryAudit'>,
  now: number,
  tampered?: TamperReport,
): Promise<DecisionCounts> {
  const firstMinute = Math.floor(now / 60_000) * 60_000 - (WINDOW_MINUTES - 1) * 60_000;
  const buckets: MinuteCounts[] = Array.from({ length: WINDOW_MINUTES }, (_, i) => ({
    minute: new Date(firstMinute + i * 60_000).toISOString(),
    allow: 0,
    deny: 0,
    approval_required: 0,
  }));
  const report = reportOnce(tampered);
  let policyErrors = 0;
  let read = 0;
  let beforeSeq: number | undefined;
  let truncated = false;
  const from = new Date(firstMinute).toISOString();
  let completeFrom = from;
  for (;;) {
    const page = await store.queryAudit({
      type: 'decision',
      from,
      order: 'desc',
      limit: PAGE,
      ...(beforeSeq === undefined ? {} : { beforeSeq }),
    });
    const held = await holdToEvents(page, report);
    for (const { event } of held) {
      const i = Math.floor((Date.parse(event.time) - firstMinute) / 60_000);
      const effect = event.effect as Effect | undefined;
      if (i >= 0 && i < WINDOW_MINUTES && effect && effect in buckets[i]!) buckets[i]![effect]++;
      const errors = (event.data as { errors?: { code?: string }[] } | undefined)?.errors;
      if (Array.isArray(errors) && errors.some((e) => e?.code === 'policy_error')) policyErrors++;
    }
    read += page.length;
    if (page.length < PAGE) break;
    if (read >= MAX_RECORDS) {
      truncated = true;
      // The oldest record counted: a record left out says nothing trustworthy about its time.
      completeFrom = held.at(-1)?.event.time ?? page.at(-1)!.columns.time;
      break;
    }
    beforeSeq = page.at(-1)!.seq;
    // PERF: read beside the node's decisions; SQLite reads resolve without I/O, so without a turn
    // of the loop 20,000 records would hold every request until counted (ADR 0033).
    await yieldToLoop();
  }
  return { from, completeFrom, truncated, decisionsPerMinute: buckets, policyErrors };
}
