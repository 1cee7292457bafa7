import { GENESIS_HASH, type AuditHead, type Store, type StoredAuditRecord } from '../storage/port.js';

/**
 * Where a reader of the chain stands (a sink, the alert evaluator): the last record it took, by
 * seq and hash. `hash` is null for a cursor saved before migration 097 until its next advance (its
 * continuity cannot be checked until then); seq 0 stands on the genesis.
 */
export interface ChainPoint {
  seq: number;
  hash: string | null;
}

/** A point the reader can resume from: a record that still is what it was when taken. */
export interface TrustedPoint {
  seq: number;
  hash: string;
  /** Why it is trusted: a record this process delivered, an old checkpoint, or the genesis. */
  basis: 'delivered' | 'checkpoint' | 'genesis';
}

/** Batch ends a reader remembers, newest last: the places it can rewind to without the database. */
export const MARKS_KEPT = 64;

/** Most checkpoints, newest first, looked at to find where a rewritten chain still is the old one. */
const CHECKPOINTS_LOOKED_AT = 1000;

/**
 * The point of a reader standing on `seq` with no record read yet: the genesis at 0, else the
 * stored hash (null when the cursor predates it).
 */
export const startingPoint = (seq: number, hash: string | null | undefined): ChainPoint => ({
  seq,
  hash: hash ?? (seq === 0 ? GENESIS_HASH : null),
});

/**
 * Why the chain no longer holds the record the reader stands on, or null when it does (as far as
 * this cheap check sees): the head below it, or the head at it with another hash. Only the head
 * the caller read anyway is used: no query.
 */
export function headBreak(at: ChainPoint, head: AuditHead): string | null {
  if (head.seq < at.seq) return `the chain now ends at seq ${head.seq}, below the cursor`;
  if (head.seq === at.seq && at.hash !== null && head.hash !== at.hash)
    return `the record at seq ${at.seq} has another hash`;
  return null;
}

/** The hash of record `seq` as the store holds it now (the genesis at 0), or null when it is gone. */
export async function hashAt(store: Store, seq: number): Promise<string | null> {
  if (seq === 0) return GENESIS_HASH;
  const [r] = await store.readAudit(seq - 1, 1);
  return r && r.seq === seq ? r.hash : null;
}

/**
 * Why `batch` (read after `at`) does not continue from the record the reader stands on, or null
 * when it does. The normal case is one string comparison; only when the first record does not
 * link is the record at `at.seq` read, so that an edit above the cursor (a record inserted or
 * changed there, the tail check's finding) is delivered as it is instead of rewinding forever.
 */
export async function batchBreak(
  store: Store,
  at: ChainPoint,
  batch: readonly StoredAuditRecord[],
): Promise<string | null> {
  const first = batch[0];
  if (!first || at.hash === null || first.prevHash === at.hash) return null;
  const now = await hashAt(store, at.seq);
  if (now === at.hash) return null;
  return now === null
    ? `the record at seq ${at.seq} is gone`
    : `the record at seq ${at.seq} has another hash`;
}

/**
 * The newest point at or below `limit` (min of the cursor and the head) the reader can trust to be
 * the record it took there, after it found the chain rewritten at or below its cursor:
 *
 * 1. the newest batch end it delivered itself (`marks`) whose record still has that hash — a
 *    rewritten record cannot keep its hash;
 * 2. else the newest checkpoint at or below `limit` whose record still has the checkpointed hash,
 *    among those signed before the newest checkpoint the rewrite broke (one past the head, or
 *    whose record has another hash). A checkpoint signed after the rewrite over a record at a
 *    re-used seq matches too, and must not be trusted: those signed before a broken one cannot be
 *    such. With no broken checkpoint to tell them apart (the checkpoints restored with the
 *    records), none is trusted;
 * 3. else the genesis: everything is delivered again.
 */
export async function trustedPoint(
  store: Store,
  limit: number,
  marks: readonly { seq: number; hash: string }[],
): Promise<TrustedPoint> {
  const seen = new Map<number, string | null>();
  const current = async (seq: number) => {
    if (!seen.has(seq)) seen.set(seq, await hashAt(store, seq));
    return seen.get(seq) ?? null;
  };
  for (let i = marks.length - 1; i >= 0; i--) {
    const m = marks[i]!;
    if (m.seq <= limit && (await current(m.seq)) === m.hash)
      return { seq: m.seq, hash: m.hash, basis: 'delivered' };
  }
  if (limit > 0) {
    // Newest signed first.
    const cps = await store.listCheckpoints({ order: 'desc', limit: CHECKPOINTS_LOOKED_AT });
    const head = (await store.auditHead()).seq;
    let broken = -1;
    for (let i = 0; i < cps.length; i++) {
      const cp = cps[i]!;
      if (cp.seq > head || (await current(cp.seq)) !== cp.hash) {
        broken = i;
        break;
      }
    }
    if (broken >= 0) {
      const older = cps
        .slice(broken + 1)
        .filter((cp) => cp.seq > 0 && cp.seq <= limit)
        .sort((a, b) => b.seq - a.seq);
      for (const cp of older)
        if ((await current(cp.seq)) === cp.hash) return { seq: cp.seq, hash: cp.hash, basis: 'checkpoint' };
    }
  }
  return { seq: 0, hash: GENESIS_HASH, basis: 'genesis' };
}

/** Where a reader goes on after {@link rewindReader}. */
export type Rewound =
  /** Another node moved the stored cursor meanwhile: go on from its point (checked like any other). */
  | { followed: ChainPoint }
  /** The stored cursor was moved back to `to`: deliver (evaluate) again from the record after it. */
  | { to: TrustedPoint; head: AuditHead };

/**
 * Moves a reader standing on `at`, which found the chain rewritten at or below it, back to the
 * newest point it can trust ({@link trustedPoint}), the stored cursor `cursor` by compare-and-set:
 * a node that moved the cursor since wins and is followed instead of rewinding again, so two nodes
 * never fight over it. `marks` loses the batch ends past the point the reader goes on from. One
 * mechanism for the sinks and the alert evaluator; what each reports is theirs.
 */
export async function rewindReader(
  store: Store,
  cursor: string,
  at: ChainPoint,
  marks: { seq: number; hash: string }[],
  when: string,
): Promise<Rewound> {
  const head = await store.auditHead();
  const to = await trustedPoint(store, Math.min(at.seq, head.seq), [
    ...marks,
    ...(at.hash !== null ? [{ seq: at.seq, hash: at.hash }] : []),
  ]);
  if (!(await store.rewindSinkCursor(cursor, to, when, at))) {
    const stored = await store.getSinkCursor(cursor);
    if (stored && (stored.seq !== at.seq || stored.hash !== at.hash)) {
      const followed = startingPoint(stored.seq, stored.hash);
      dropMarksAfter(marks, followed.seq);
      return { followed };
    }
    // No stored cursor (none saved yet): the rewind is this reader's own.
  }
  dropMarksAfter(marks, to.seq);
  return { to, head };
}

function dropMarksAfter(marks: { seq: number; hash: string }[], seq: number): void {
  while (marks.length > 0 && marks[marks.length - 1]!.seq > seq) marks.pop();
}

/** Keeps `point` as the newest batch end, at most {@link MARKS_KEPT}. */
export function pushMark(marks: { seq: number; hash: string }[], point: { seq: number; hash: string }): void {
  marks.push(point);
  if (marks.length > MARKS_KEPT) marks.shift();
}
