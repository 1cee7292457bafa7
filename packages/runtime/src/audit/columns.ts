import type { AuditEvent } from '@mandate/protocol';
import type { AuditFilter, Store, StoredAuditRecord } from '../storage/index.js';
import { checkColumns } from './verify.js';
import type { Finding } from './verify-checkpoints.js';

/** A record found by its query columns, and the event it hashed. */
export interface HeldRecord {
  rec: StoredAuditRecord;
  event: AuditEvent;
}

/** Where a record whose columns disagree with its hashed event is reported (the node's `auditTampered`). */
export type TamperReport = (finding: Finding) => void | Promise<void>;

/** Records per read when {@link findHeld} pages past records it leaves out. */
const FIND_PAGE = 20;

/**
 * Holds records found by their query columns to their hashed events. SECURITY: a store filters by
 * the columns, which a DB admin can edit without breaking a hash (decision Y's `decision_id` set
 * to X, an allow's `effect` set to deny); a record whose columns disagree with what was hashed is
 * not what was asked for. It is left out, and the first one is reported (once per call) as the
 * node's finding; every record kept matches the filter by its event, not only by its columns.
 */
export async function holdToEvents(
  rows: readonly StoredAuditRecord[],
  report?: TamperReport,
): Promise<HeldRecord[]> {
  const held: HeldRecord[] = [];
  let finding: Finding | null = null;
  for (const rec of rows) {
    const event = parseEvent(rec);
    const wrong = event ? checkColumns(rec, event) : unreadable(rec);
    if (event && !wrong) held.push({ rec, event });
    else finding ??= wrong;
  }
  if (finding) await report?.(finding);
  return held;
}

/**
 * The first record the store finds by `filter` whose hashed event agrees with its columns, or
 * null. Records left out are reported (the first, once) and paged past: a record pointed at the
 * filter does not hide a genuine one after it.
 */
export async function findHeld(
  store: Pick<Store, 'queryAudit'>,
  filter: Omit<AuditFilter, 'limit'>,
  report?: TamperReport,
): Promise<HeldRecord | null> {
  const once = reportOnce(report);
  let page: Omit<AuditFilter, 'limit'> = filter;
  for (;;) {
    const rows = await store.queryAudit({ ...page, limit: FIND_PAGE });
    const [first] = await holdToEvents(rows, once);
    if (first) return first;
    const last = rows.at(-1);
    if (rows.length < FIND_PAGE || !last) return null;
    page = filter.order === 'desc' ? { ...filter, beforeSeq: last.seq } : { ...filter, afterSeq: last.seq };
  }
}

/** `report`, called for the first finding only: one lookup over several pages or queries reports once. */
export function reportOnce(report?: TamperReport): TamperReport {
  let reported = false;
  return async (finding) => {
    if (reported) return;
    reported = true;
    await report?.(finding);
  };
}

function parseEvent(rec: StoredAuditRecord): AuditEvent | null {
  try {
    const parsed: unknown = JSON.parse(rec.eventText);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as AuditEvent)
      : null;
  } catch {
    return null;
  }
}

function unreadable(rec: StoredAuditRecord): Finding {
  return {
    seq: rec.seq,
    problem: 'index_mismatch',
    message: `record ${rec.seq}: event text is not a JSON object (written by something other than Mandate?)`,
  };
}
