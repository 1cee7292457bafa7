import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Store, StoredAuditRecord } from '../storage/index.js';
import { newestCheckpointOf, type Finding } from './verify-checkpoints.js';

/**
 * Domain tag of a batch seal: distinct from every other MAC Mandate computes under the key
 * directory's keys, so a value of one can never be replayed as the other.
 */
const SEAL_DOMAIN = 'mandate.audit.seal.v1';

/**
 * The writers' seal over the batches they append (ADR 0038). The chain and the signed checkpoints
 * say nothing about who appended a record: a database admin who added one after the head — in the
 * name of another node, or of a CLI deciding in-process — had it covered by the node's next
 * checkpoint (a probe). Every writer of a deployment holds the seal key (`audit-seal.key` in the
 * key directory); the admin does not. A node signs a checkpoint only over records each covered by
 * a valid seal (or written by itself), so an inserted record is its finding instead.
 */
export interface RecordSealer {
  /** The seal of the batch `from`..`to` whose last record hashes to `lastHash`: `<from>:<hex>`. */
  seal(from: number, to: number, lastHash: string): string;
  /** Whether `seal`, found on record `to` (hash `lastHash`), is a valid seal of this key; its first seq, or null. */
  open(seal: string, to: number, lastHash: string): number | null;
}

export function createRecordSealer(key: Uint8Array): RecordSealer {
  const mac = (from: number, to: number, lastHash: string) =>
    createHmac('sha256', key).update(`${SEAL_DOMAIN}\0${from}\0${to}\0${lastHash}`).digest();
  return {
    seal: (from, to, lastHash) => `${from}:${mac(from, to, lastHash).toString('hex')}`,
    open(seal, to, lastHash) {
      const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(seal);
      if (!m) return null;
      const from = Number(m[1]);
      if (!Number.isSafeInteger(from) || from > to) return null;
      const given = Buffer.from(m[2]!, 'hex');
      return timingSafeEqual(given, mac(from, to, lastHash)) ? from : null;
    },
  };
}

/**
 * Follows records in seq order, after a record the caller already vouches for (a signed head, a
 * verified tail): each must be covered by a valid seal on a later record whose batch starts at or
 * before it. A seal whose batch starts after the first record not yet covered leaves that record to
 * no writer — inserted before the batch — and a record with no seal after it, at the end, is one
 * nobody sealed (inserted at the head). Legitimate batches are whole transactions, so the head is
 * always a sealed record.
 */
export interface SealWalk {
  /** The next record; a finding when a seal on it is not valid or leaves records before it uncovered. */
  next(r: StoredAuditRecord): Finding | null;
  /** At the end of the records: a finding when some after the last seal are covered by none. */
  end(): Finding | null;
}

export function createSealWalk(sealer: RecordSealer): SealWalk {
  /** The first record not covered yet (0: none pending). */
  let pending = 0;
  return {
    next(r) {
      if (pending === 0) pending = r.seq;
      if (r.seal === undefined) return null;
      const from = sealer.open(r.seal, r.seq, r.hash);
      if (from === null) {
        return {
          seq: r.seq,
          problem: 'unsealed',
          message: `record ${r.seq}: its batch seal is not one of this deployment's writers (inserted or rewritten?)`,
        };
      }
      if (from > pending) {
        return {
          seq: pending,
          problem: 'unsealed',
          message: `record ${pending}: no writer of this deployment sealed it (inserted?)`,
        };
      }
      pending = 0;
      return null;
    },
    end() {
      if (pending === 0) return null;
      return {
        seq: pending,
        problem: 'unsealed',
        message: `record ${pending}: no writer of this deployment sealed it (inserted at the head?)`,
      };
    },
  };
}

/**
 * Holds the records after `afterSeq` (the record of a verified checkpoint) to the seals, up to the
 * head: the first record no seal covers, or null.
 */
async function checkSealedAfter(
  source: Pick<Store, 'readAudit'>,
  sealer: RecordSealer,
  afterSeq: number,
  pageSize = 500,
): Promise<Finding | null> {
  const walk = createSealWalk(sealer);
  let last = afterSeq;
  for (;;) {
    const page = await source.readAudit(last, pageSize);
    for (const r of page) {
      const f = walk.next(r);
      if (f) return f;
      last = r.seq;
    }
    if (page.length < pageSize) return walk.end();
  }
}

/**
 * The records after the newest checkpoint of a trusted key at or below `head` (one a verify just
 * checked), held to the seals: what `mandate audit verify` and the bundle export add, with the key
 * directory's seal key, to what the checkpoints prove. The first record no seal covers, or null.
 */
export async function checkSealedTail(
  source: Pick<Store, 'readAudit' | 'listCheckpoints'>,
  sealer: RecordSealer,
  trustedKeyIds: readonly string[],
  head: { seq: number },
): Promise<Finding | null> {
  const newest = await newestCheckpointOf(source, trustedKeyIds, head.seq);
  return checkSealedAfter(source, sealer, newest?.seq ?? 0);
}
