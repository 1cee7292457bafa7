import type { AuditCheckpoint, AuditProblem } from '@mandate/protocol';
import { canonicalize } from '../kernel/index.js';
import type { AuditHead, Store } from '../storage/index.js';
import { verifySignature } from './keys.js';

/** One problem found by verify, at the first record it concerns. */
export interface Finding {
  seq: number;
  problem: AuditProblem;
  message: string;
}

/** What the checkpoint checks know of the chain once it was scanned. */
export interface ScannedChain {
  /** True when every record linked and hashed correctly up to the end. */
  complete: boolean;
  lastSeq: number;
  /** The hash of a record whose seq a checkpoint or an expected head names (undefined past a bad record). */
  hashAt: (seq: number) => string | undefined;
}

/**
 * The store's checkpoints and copies kept elsewhere, as one list: a copy identical to one already
 * listed (the same signed checkpoint in the database and in the mirror file) is checked once.
 */
export function mergeCheckpoints(
  stored: readonly AuditCheckpoint[],
  extra: readonly AuditCheckpoint[],
): AuditCheckpoint[] {
  const seen = new Set(stored.map((cp) => canonicalize(cp)));
  const out = [...stored];
  for (const cp of extra) {
    const id = canonicalize(cp);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(cp);
  }
  return out;
}

/** Checks each checkpoint's signature (trusted keys only) and that it agrees with the chain. */
export function checkCheckpoints(
  checkpoints: readonly AuditCheckpoint[],
  publicKeys: Record<string, string>,
  chain: ScannedChain,
): Finding | null {
  const sorted = [...checkpoints].sort((a, b) => a.seq - b.seq);
  let lastGood = 0;
  for (const cp of sorted) {
    const pem = Object.hasOwn(publicKeys, cp.keyId) ? publicKeys[cp.keyId] : undefined;
    if (pem === undefined) {
      return {
        seq: cp.seq,
        problem: 'checkpoint_signature',
        message: `checkpoint at record ${cp.seq} (${cp.time}): signed by unknown key ${JSON.stringify(cp.keyId)}`,
      };
    }
    const signed = canonicalize({ seq: cp.seq, hash: cp.hash, time: cp.time, keyId: cp.keyId });
    if (!verifySignature(pem, signed, cp.signature)) {
      return {
        seq: cp.seq,
        problem: 'checkpoint_signature',
        message: `checkpoint at record ${cp.seq} (${cp.time}): signature is not valid for key ${cp.keyId} (forged or edited?)`,
      };
    }
    if (chain.complete && cp.seq > chain.lastSeq) {
      const from = chain.lastSeq + 1;
      return {
        seq: from,
        problem: 'truncated',
        message: `${span(from, cp.seq)}: missing, the log ends at record ${chain.lastSeq} but a checkpoint signed at ${cp.time} covers record ${cp.seq} (truncated?)`,
      };
    }
    const stored = chain.hashAt(cp.seq);
    if (stored === undefined) continue; // beyond the first bad record: that one is reported instead
    if (stored !== cp.hash) {
      return {
        seq: cp.seq,
        problem: 'checkpoint_mismatch',
        message: `record ${cp.seq}: does not match the checkpoint signed at ${cp.time}; records after ${lastGood} up to ${cp.seq} were rewritten`,
      };
    }
    lastGood = cp.seq;
  }
  return null;
}

/** Checks the heads an auditor kept: each must still be in the chain, with the same hash. */
export function checkHeads(heads: readonly AuditHead[], chain: ScannedChain): Finding | null {
  for (const h of [...heads].sort((a, b) => a.seq - b.seq)) {
    if (chain.complete && h.seq > chain.lastSeq) {
      const from = chain.lastSeq + 1;
      return {
        seq: from,
        problem: 'truncated',
        message: `${span(from, h.seq)}: missing, the log ends at record ${chain.lastSeq} but the expected head is record ${h.seq} (truncated?)`,
      };
    }
    const stored = chain.hashAt(h.seq);
    if (stored === undefined) continue;
    if (stored !== h.hash) {
      return {
        seq: h.seq,
        problem: 'head_mismatch',
        message: `record ${h.seq}: its hash is not the expected head ${h.hash}; the chain was rewritten up to here`,
      };
    }
  }
  return null;
}

/**
 * SECURITY: signatures protect only the checkpoints still there. Deleting them (with the tail, or
 * after rewriting every record with recomputed hashes) left a chain that verified; the writer
 * keeps a cadence, so a stretch longer than `maxGap` with no valid checkpoint — before the first,
 * between two, or after the last — is evidence that checkpoints were removed.
 * Call only with checkpoints whose signatures were checked and a chain that scanned whole.
 */
export function checkCadence(
  checkpoints: readonly AuditCheckpoint[],
  maxGap: number,
  lastSeq: number,
): Finding | null {
  const seqs = [...new Set(checkpoints.map((cp) => cp.seq).filter((s) => s <= lastSeq))].sort(
    (a, b) => a - b,
  );
  let prev = 0;
  for (const seq of seqs) {
    if (seq - prev > maxGap) {
      return {
        seq: prev + maxGap + 1,
        problem: 'checkpoint_missing',
        message: `${span(prev + 1, seq)}: ${seq - prev} records without a signed checkpoint ${prev === 0 ? 'before the first one' : `after the one at record ${prev}`}, at most ${maxGap} expected (checkpoints deleted?)`,
      };
    }
    prev = seq;
  }
  if (lastSeq - prev > maxGap) {
    return {
      seq: prev + maxGap + 1,
      problem: 'checkpoint_missing',
      message:
        prev === 0
          ? `${span(1, lastSeq)}: ${lastSeq} records and no signed checkpoint, at most ${maxGap} expected before the first (checkpoints deleted?)`
          : `${span(prev + 1, lastSeq)}: ${lastSeq - prev} records past the last signed checkpoint (record ${prev}), at most ${maxGap} expected (checkpoints deleted, or the tail cut and rewritten?)`,
    };
  }
  return null;
}

/** "record 7" or "records 7–9". */
export function span(from: number, to: number): string {
  return from === to ? `record ${from}` : `records ${from}–${to}`;
}

/**
 * The newest checkpoint signed with one of `keyIds` (at or below `toSeq` when given), its
 * signature not checked yet; null when there is none. One indexed read per key (ADR 0035).
 */
export async function newestCheckpointOf(
  source: Pick<Store, 'listCheckpoints'>,
  keyIds: readonly string[],
  toSeq?: number,
): Promise<AuditCheckpoint | null> {
  const newest = await Promise.all(
    keyIds.map((keyId) =>
      source.listCheckpoints({ keyId, ...(toSeq === undefined ? {} : { toSeq }), order: 'desc', limit: 1 }),
    ),
  );
  // A source may return more than asked: the highest seq of a key asked for, in range, wins.
  return newest
    .flat()
    .filter((cp) => keyIds.includes(cp.keyId) && (toSeq === undefined || cp.seq <= toSeq))
    .reduce<AuditCheckpoint | null>((best, cp) => (best && best.seq >= cp.seq ? best : cp), null);
}
