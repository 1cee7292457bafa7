import type { AuditCheckpoint, AuditEvent, AuditProblem, AuditVerifyResult } from '@mandate/protocol';
import { canonicalize, createPacer } from '../kernel/index.js';
import {
  GENESIS_HASH,
  type AuditHead,
  type CheckpointRange,
  type StoredAuditRecord,
} from '../storage/index.js';
import { auditColumns, recordHash } from './chain.js';
import {
  checkCadence,
  checkCheckpoints,
  checkHeads,
  mergeCheckpoints,
  span,
  type Finding,
} from './verify-checkpoints.js';

/** What verify reads: a store, or an evidence bundle read from a file (no database at all). */
export interface AuditSource {
  /** Records with seq greater than `afterSeq`, in seq order, at most `limit`. */
  readAudit(afterSeq: number, limit: number): Promise<StoredAuditRecord[]>;
  /**
   * Signed checkpoints in the order written. The range only spares reading the rest: a source may
   * return more than it asks for, so every caller still filters what it needs.
   */
  listCheckpoints(range?: CheckpointRange): Promise<AuditCheckpoint[]>;
}

/** Options of {@link verifyAudit}. */
export interface VerifyAuditOptions {
  /** Trusted checkpoint keys by key id (PEM). A checkpoint signed by any other key fails. */
  publicKeys: Record<string, string>;
  /** Records read per `readAudit` call. Default 1,000. */
  batchSize?: number;
  /** Called after each page with the number of records checked so far. */
  onProgress?: (checked: number) => void;
  /**
   * The checkpoint cadence: most records allowed before the first signed checkpoint, between two,
   * and after the last one. A longer stretch fails with `checkpoint_missing` (checkpoints deleted
   * to hide a rewrite or a cut tail). Omitted: not checked.
   */
  maxGap?: number;
  /** Checkpoints kept outside the database (the mirror file, a bundle): checked like the store's own. */
  checkpoints?: readonly AuditCheckpoint[];
  /** Heads an auditor kept (`seq` and `hash`): the chain must still hold exactly that record. */
  expectHeads?: readonly AuditHead[];
  /** Say how recent the evidence is: `newestCheckpoint` in the result (`audit verify`, bundles). */
  reportNewestCheckpoint?: boolean;
}

/** A signed checkpoint as verify reports it: the record it names, when, and by which key. */
export interface CheckpointStamp {
  seq: number;
  time: string;
  keyId: string;
}

/** What {@link verifyAudit} found, and when the chain verifies, its newest signed checkpoint. */
export type VerifiedAudit = AuditVerifyResult & {
  /**
   * The checkpoint naming the highest record, the latest signed of those (every checkpoint of a
   * chain that verifies is signed by a trusted key). How recent the evidence is: a chain cut back
   * to an earlier checkpoint still verifies, but its newest checkpoint is old. Only when asked
   * (`reportNewestCheckpoint`); absent when the chain or its checkpoints do not verify, or it has none.
   */
  newestCheckpoint?: CheckpointStamp;
};

/**
 * How many recent hashes verify remembers to name an inserted record: when a record links back
 * past its predecessor, the records in between are the ones that do not belong.
 */
const LOOKBACK = 1024;

/** Where verify starts reading: below any seq a row could carry, so rows numbered 0 or less are seen. */
export const BELOW_FIRST_RECORD = Number.MIN_SAFE_INTEGER;

const COLUMN_NAMES = ['type', 'time', 'agent', 'user', 'action', 'effect', 'decisionId'] as const;

/**
 * Recomputes the whole chain in seq order and checks every signed checkpoint against it.
 * Reports the first bad record and what is wrong with it: a missing seq (deleted), a link that
 * does not hold (deleted, inserted, reordered or rewritten), content that does not match its
 * hash (edited), a query column that disagrees with the hashed event (edited column), a
 * checkpoint that is not validly signed by a trusted key, that disagrees with the chain
 * (rewritten), or that names a record past the end (truncated).
 */
export async function verifyAudit(store: AuditSource, opts: VerifyAuditOptions): Promise<VerifiedAudit> {
  const batchSize = opts.batchSize ?? 1000;
  const checkpoints = mergeCheckpoints(await store.listCheckpoints(), opts.checkpoints ?? []);
  const heads = opts.expectHeads ?? [];
  const checkpointSeqs = new Set([...checkpoints.map((cp) => cp.seq), ...heads.map((h) => h.seq)]);
  const hashAtCheckpoint = new Map<number, string>();
  const recent = new Map<string, number>();
  const recentOrder: string[] = [];

  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let records = 0;
  let recordFinding: Finding | null = null;

  // PERF: a node verifies on the loop that serves its decisions; reads that resolve without I/O
  // would hold every request until the whole chain is done, so the loop gets a turn between slices.
  const pacer = createPacer();
  scan: for (;;) {
    // SECURITY: the first page starts below record 1, so a row numbered 0 or less is read and
    // reported (`out_of_order`: the log starts at record 1). Read from 0 it was invisible to every
    // verifier while `GET /v1/audit` and a decision's lookup served it as a real record (a probe).
    const page = await store.readAudit(records === 0 ? BELOW_FIRST_RECORD : prevSeq, batchSize);
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i++) {
      if (pacer.due()) await pacer.yield();
      const r = page[i]!;
      recordFinding = checkRecord(r, prevSeq, prevHash, page, i, recent);
      if (recordFinding) break scan;
      records += 1;
      prevSeq = r.seq;
      prevHash = r.hash;
      if (checkpointSeqs.has(r.seq)) hashAtCheckpoint.set(r.seq, r.hash);
      recent.set(r.hash, r.seq);
      recentOrder.push(r.hash);
      if (recentOrder.length > LOOKBACK) recent.delete(recentOrder.shift()!);
    }
    opts.onProgress?.(records);
    await pacer.yield();
  }
  if (recordFinding) opts.onProgress?.(records);

  const chain = {
    complete: recordFinding === null,
    lastSeq: prevSeq,
    hashAt: (seq: number) => (seq === 0 ? GENESIS_HASH : hashAtCheckpoint.get(seq)),
  };
  const checkpointFinding = earliest(
    earliest(checkCheckpoints(checkpoints, opts.publicKeys, chain), checkHeads(heads, chain)),
    // Only a whole, well-linked chain is measured against the cadence; a broken one is reported as such.
    opts.maxGap !== undefined && chain.complete ? checkCadence(checkpoints, opts.maxGap, prevSeq) : null,
  );

  const result: VerifiedAudit = {
    ok: recordFinding === null && checkpointFinding === null,
    records,
    checkpoints: checkpoints.length,
    head: records > 0 ? { seq: prevSeq, hash: prevHash } : null,
  };
  const newest = result.ok && opts.reportNewestCheckpoint ? newestCheckpoint(checkpoints) : null;
  if (newest) result.newestCheckpoint = newest;
  // The earliest problem is the one to report: a checkpoint that disagrees at seq 10 says more
  // about where tampering began than a broken link found later at seq 500.
  const first = earliest(recordFinding, checkpointFinding);
  if (first) result.firstBad = first;
  return result;
}

/** The checkpoint naming the highest record, the latest signed of those. */
function newestCheckpoint(checkpoints: readonly AuditCheckpoint[]): CheckpointStamp | null {
  let best: AuditCheckpoint | null = null;
  for (const cp of checkpoints)
    if (!best || cp.seq > best.seq || (cp.seq === best.seq && Date.parse(cp.time) > Date.parse(best.time)))
      best = cp;
  return best && { seq: best.seq, time: best.time, keyId: best.keyId };
}

/** A verify result that may also fail on how recent its newest checkpoint is ({@link requireSignedAfter}). */
export type VerifyResult = Omit<VerifiedAudit, 'firstBad'> & {
  firstBad?: { seq: number; problem: AuditProblem | 'checkpoint_stale'; message: string };
};

/**
 * Fails a verified chain (`checkpoint_stale`) unless a checkpoint of a trusted key signed at or
 * after `after` (an ISO time) covers its last record.
 *
 * SECURITY: a chain is evidence as far as it goes. Whoever hands over a bundle can keep the header,
 * the records up to an earlier checkpoint and the checkpoints up to it, and it verifies: a prefix of
 * the chain is a chain. The node signs its head every `checkpointIntervalMs` even when idle, so an
 * auditor who asks for a checkpoint signed after a time they know the node was running gets the
 * whole chain as of then, or this finding.
 */
export function requireSignedAfter(result: VerifiedAudit, after: string): VerifyResult {
  if (!result.ok) return result;
  const end = result.head?.seq ?? 0;
  const newest = result.newestCheckpoint;
  const covers = newest !== undefined && newest.seq >= end && end > 0;
  if (covers && Date.parse(newest.time) >= Date.parse(after)) return result;
  const signed = newest ? `record ${newest.seq}, signed at ${newest.time}` : 'none';
  return {
    ...result,
    ok: false,
    firstBad: covers
      ? {
          seq: end + 1,
          problem: 'checkpoint_stale',
          message: `the newest checkpoint of a trusted key (${signed}) is older than ${after}: records the chain had after it may have been left out (a prefix of the chain verifies too)`,
        }
      : {
          seq: (newest?.seq ?? 0) + 1,
          problem: 'checkpoint_stale',
          message: `no checkpoint of a trusted key covers the last record (${end === 0 ? 'the chain is empty' : `record ${end}`}; the newest: ${signed}), so none signed at or after ${after} does`,
        },
  };
}

/** The finding at the lower seq (the first when equal), or whichever exists. */
function earliest(a: Finding | null, b: Finding | null): Finding | null {
  if (a && b) return b.seq < a.seq ? b : a;
  return a ?? b;
}

/**
 * Checks one record against the one before it (`prevSeq`, `prevHash`): its place, its link, its
 * hash, its canonical text and its query columns. `page` and `recent` only help name the records
 * that do not belong when the link fails. Shared with the node's continuous tail check.
 */
export function checkRecord(
  r: StoredAuditRecord,
  prevSeq: number,
  prevHash: string,
  page: readonly StoredAuditRecord[],
  index: number,
  recent: ReadonlyMap<string, number>,
): Finding | null {
  const expected = prevSeq + 1;
  if (!Number.isSafeInteger(r.seq) || r.seq < expected) {
    return {
      seq: Number.isSafeInteger(r.seq) ? r.seq : expected,
      problem: 'out_of_order',
      message:
        prevSeq === 0
          ? `record ${String(r.seq)}: the log must start at record 1`
          : `record ${String(r.seq)}: comes after record ${prevSeq}; sequence numbers must increase (inserted or reordered?)`,
    };
  }
  if (r.seq > expected) {
    // A store that returns rows out of seq order shows the missing seq later in the same page.
    for (let j = index + 1; j < page.length; j++) {
      if (page[j]!.seq === expected) {
        return {
          seq: expected,
          problem: 'out_of_order',
          message: `record ${expected}: appears after record ${r.seq} (reordered?)`,
        };
      }
    }
    return {
      seq: expected,
      problem: 'sequence_gap',
      message: `${span(expected, r.seq - 1)}: missing, the log goes from record ${prevSeq} to ${r.seq} (deleted?)`,
    };
  }
  if (r.prevHash !== prevHash) {
    if (prevSeq === 0) {
      return {
        seq: r.seq,
        problem: 'chain_broken',
        message: `record ${r.seq}: the first record does not start from the genesis hash (records before it were removed?)`,
      };
    }
    const linksTo = recent.get(r.prevHash);
    if (linksTo !== undefined && linksTo < prevSeq) {
      // It links to an earlier record, so everything between that one and it was put in later.
      const from = linksTo + 1;
      return {
        seq: from,
        problem: 'chain_broken',
        message: `${span(from, prevSeq)}: not part of the chain, record ${r.seq} links past ${from === prevSeq ? 'it' : 'them'} to record ${linksTo} (inserted?)`,
      };
    }
    return {
      seq: r.seq,
      problem: 'chain_broken',
      message: `record ${r.seq}: does not link to record ${prevSeq} (a record deleted or reordered here, or record ${prevSeq} rewritten?)`,
    };
  }
  if (recordHash(r.seq, r.prevHash, r.eventText) !== r.hash) {
    return {
      seq: r.seq,
      problem: 'hash_mismatch',
      message: `record ${r.seq}: stored hash does not match its content (edited?)`,
    };
  }
  return checkText(r);
}

/** Checks that a record's text is a canonical JSON object, and then its query columns. */
function checkText(r: StoredAuditRecord): Finding | null {
  let event: AuditEvent;
  try {
    const parsed: unknown = JSON.parse(r.eventText);
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      Array.isArray(parsed) ||
      canonicalize(parsed) !== r.eventText
    ) {
      throw new Error('not canonical');
    }
    event = parsed as AuditEvent;
  } catch {
    return {
      seq: r.seq,
      problem: 'index_mismatch',
      message: `record ${r.seq}: event text is not a canonical JSON object (written by something other than Mandate?)`,
    };
  }
  return checkColumns(r, event);
}

/**
 * Checks that a record's query columns are what its hashed event (`event`, parsed from its text)
 * says. SECURITY: lookups go by the columns (a decision by its id, `GET /v1/audit` filters); a
 * record found through a column edited to point at it is not what was asked for, and whatever
 * shows it must not vouch for it (a probe had decision X's view show another decision, "verified").
 */
export function checkColumns(r: StoredAuditRecord, event: AuditEvent): Finding | null {
  const expectedColumns = auditColumns(event);
  for (const name of COLUMN_NAMES) {
    if (r.columns[name] !== expectedColumns[name]) {
      return {
        seq: r.seq,
        problem: 'index_mismatch',
        message: `record ${r.seq}: column "${name}" does not match the hashed event (edited column?)`,
      };
    }
  }
  return null;
}
