import { holdToEvents, reportOnce, type TamperReport } from '../audit/columns.js';
import type { Store } from '../storage/port.js';
import { groupFlips, type Flip, type FlipGroup } from './flips.js';
import type { PolicyOutcome } from './policy-inputs.js';

/** At most this many divergence events are read for one report (it says when it stopped). */
export const SHADOW_REPORT_MAX_EVENTS = 100_000;

export interface ShadowReport {
  /** The shadow version the report covers (null: every version recorded). */
  shadowVersion: string | null;
  since: string | null;
  divergences: number;
  /** True when more events matched than one report reads. */
  truncated: boolean;
  groups: FlipGroup[];
}

/**
 * Summarises the `policy.shadow_divergence` events on the record: which calls would flip, by action
 * and determining policies, with example decision ids. Read from the shared trail, so it covers
 * every node.
 */
export async function shadowReport(
  store: Store,
  opts: {
    since?: string;
    shadowVersion: string | null;
    maxEvents?: number;
    /** Where a record found through an edited query column is reported (it is left out). */
    tampered?: TamperReport;
  },
): Promise<ShadowReport> {
  const max = opts.maxEvents ?? SHADOW_REPORT_MAX_EVENTS;
  const flips: Flip[] = [];
  let afterSeq: number | undefined;
  let read = 0;
  let truncated = false;
  // SECURITY: held to the hashed events, as in replay (the type and time are editable columns).
  const tampered = reportOnce(opts.tampered);
  for (;;) {
    const page = await store.queryAudit({
      type: 'policy.shadow_divergence',
      ...(opts.since ? { from: opts.since } : {}),
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      limit: 500,
    });
    for (const { event } of await holdToEvents(page, tampered)) {
      if (read >= max) {
        truncated = true;
        break;
      }
      read++;
      const ev = event as unknown as {
        decisionId?: string;
        action?: string;
        data: { shadowVersion?: string; active?: PolicyOutcome; shadow?: PolicyOutcome };
      };
      if (opts.shadowVersion !== null && ev.data.shadowVersion !== opts.shadowVersion) continue;
      if (!ev.data.active || !ev.data.shadow) continue;
      flips.push({
        decisionId: ev.decisionId ?? '',
        action: ev.action ?? '',
        before: ev.data.active,
        after: ev.data.shadow,
      });
    }
    if (truncated || page.length < 500) break;
    afterSeq = page[page.length - 1]!.seq;
  }
  return {
    shadowVersion: opts.shadowVersion,
    since: opts.since ?? null,
    divergences: flips.length,
    truncated,
    groups: groupFlips(flips),
  };
}
