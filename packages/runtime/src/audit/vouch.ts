/**
 * Whether the node can vouch for one record it is about to show: linked, record by record, to a
 * hash it trusts. SECURITY: the tail check verified a record once, when it was appended; a record
 * edited since — its hash recomputed and the next record relinked to it, the break left further
 * on, below the tail check's cursor — was shown "verified" with the edited content (a probe turned
 * a refund of 400 into 40). What is shown is what is checked, each time it is shown.
 */
import type { AuditEvent } from '@mandate/protocol';
import type { StoredAuditRecord } from '../storage/port.js';
import { recordHash } from './chain.js';
import { checkColumns, type AuditSource } from './verify.js';
import { checkCheckpoints, type Finding } from './verify-checkpoints.js';

/** A record the node trusts the hash of: verified in memory, or named by a checkpoint of its keys. */
export interface TrustedHash {
  seq: number;
  hash: string;
}

export type Vouch = { status: 'verified' } | { status: 'tampered'; finding: Finding } | { status: 'pending' };

/** Most records walked to reach a trusted hash; farther than that, the record is not vouched for. */
export const MAX_VOUCH_WALK = 5000;

export async function vouchFor(
  source: AuditSource,
  rec: StoredAuditRecord,
  trust: { publicKeys: Record<string, string>; hashes: readonly TrustedHash[] },
  maxWalk = MAX_VOUCH_WALK,
): Promise<Vouch> {
  const tampered = (seq: number, message: string): Vouch => ({
    status: 'tampered',
    finding: { seq, problem: 'hash_mismatch', message },
  });
  if (recordHash(rec.seq, rec.prevHash, rec.eventText) !== rec.hash)
    return tampered(rec.seq, `record ${rec.seq} does not hash to its stored hash: it was edited`);
  // SECURITY: the record was found by its query columns; a genuine record whose decision id column
  // was pointed at another decision was shown as that decision, "verified" (a probe).
  let event: AuditEvent;
  try {
    event = JSON.parse(rec.eventText) as AuditEvent;
  } catch {
    return {
      status: 'tampered',
      finding: { seq: rec.seq, problem: 'index_mismatch', message: `record ${rec.seq} is not JSON` },
    };
  }
  const columns = checkColumns(rec, event);
  if (columns) return { status: 'tampered', finding: columns };
  // The nearest trusted hash at or after the record: the node's own memory, or a signed checkpoint.
  // PERF: the nearest few only (idle checkpoints pile up at one seq: a probe's 40,000 froze the
  // node for seconds per view), the first validly signed one of them.
  const nearest = (await source.listCheckpoints({ fromSeq: rec.seq, toSeq: rec.seq + maxWalk, limit: 16 }))
    .filter((cp) => cp.seq >= rec.seq && Object.hasOwn(trust.publicKeys, cp.keyId))
    .sort((a, b) => a.seq - b.seq)
    .slice(0, 16);
  const valid = nearest.find(
    (cp) =>
      checkCheckpoints([cp], trust.publicKeys, {
        complete: false,
        lastSeq: cp.seq,
        hashAt: () => cp.hash,
      }) === null,
  );
  const signed = valid ? [{ seq: valid.seq, hash: valid.hash }] : [];
  const target = [...trust.hashes, ...signed]
    .filter((t) => t.seq >= rec.seq && t.seq - rec.seq <= maxWalk)
    .reduce<TrustedHash | null>((best, t) => (best && best.seq <= t.seq ? best : t), null);
  if (!target) return { status: 'pending' };
  let prev = rec;
  while (prev.seq < target.seq) {
    const page = await source.readAudit(prev.seq, Math.min(200, target.seq - prev.seq));
    if (page.length === 0)
      return tampered(
        prev.seq + 1,
        `record ${prev.seq + 1} is missing, though the node verified the chain past it`,
      );
    for (const r of page) {
      if (r.seq !== prev.seq + 1 || r.prevHash !== prev.hash)
        return tampered(
          r.seq,
          `record ${r.seq} does not link to record ${prev.seq}: the chain was rewritten`,
        );
      if (recordHash(r.seq, r.prevHash, r.eventText) !== r.hash)
        return tampered(r.seq, `record ${r.seq} does not hash to its stored hash: it was edited`);
      prev = r;
      if (prev.seq === target.seq) break;
    }
  }
  return prev.hash === target.hash
    ? { status: 'verified' }
    : tampered(
        target.seq,
        `record ${target.seq} is not the one the node verified (or signed): the chain was rewritten`,
      );
}
