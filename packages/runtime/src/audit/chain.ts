import type { AuditEvent } from '@mandate/protocol';
import { canonicalize, sha256Hex } from '../kernel/index.js';
import type { AuditHead, StoredAuditRecord } from '../storage/index.js';
import type { RecordSealer } from './seal.js';

/**
 * Domain tag of the record hash. Versioned so a future format can never produce a hash that
 * verifies under this one, and distinct from every other hash Mandate computes (call hashes,
 * policy versions) so a value from one can never be replayed as the other.
 */
export const AUDIT_HASH_DOMAIN = 'mandate.audit.v1';

/**
 * The hash of one record: `sha256("mandate.audit.v1\0" + seq + "\0" + prevHash + "\0" + eventText)`.
 * The seq is inside the hash so that moving a record to another position (reorder, renumber)
 * changes its hash even when its neighbours' links are rewritten to match.
 */
export function recordHash(seq: number, prevHash: string, eventText: string): string {
  return sha256Hex(`${AUDIT_HASH_DOMAIN}\0${seq}\0${prevHash}\0${eventText}`);
}

/** The query columns of a record, derived from its event; verify recomputes them to catch edited columns. */
export function auditColumns(event: AuditEvent): StoredAuditRecord['columns'] {
  return {
    type: event.type,
    time: event.time,
    agent: event.agent ?? null,
    user: event.user ?? null,
    action: event.action ?? null,
    effect: event.effect ?? null,
    decisionId: event.decisionId ?? null,
  };
}

/**
 * Seal events whose canonical texts (and, optionally, query columns) are already known: the audit
 * log computes both once, at `append`, so what is stored is what the caller handed over even if
 * the object is later mutated.
 */
export function sealCanonical(
  head: AuditHead,
  events: readonly AuditEvent[],
  textOf: (event: AuditEvent, index: number) => string,
  columnsOf: (event: AuditEvent, index: number) => StoredAuditRecord['columns'] = auditColumns,
  sealer?: RecordSealer,
): StoredAuditRecord[] {
  const out: StoredAuditRecord[] = [];
  let seq = head.seq;
  let prevHash = head.hash;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const eventText = textOf(event, i);
    seq += 1;
    const hash = recordHash(seq, prevHash, eventText);
    out.push({ seq, prevHash, hash, eventText, columns: columnsOf(event, i) });
    prevHash = hash;
  }
  // The writer's seal over the batch, on its last record (ADR 0038).
  const last = out[out.length - 1];
  if (sealer && last) last.seal = sealer.seal(head.seq + 1, last.seq, last.hash);
  return out;
}

/**
 * The `AuditSealer` handed to `Store.appendAudit`: chains `events` after `head` (read by the store
 * inside its write transaction). Pure and synchronous, so a driver can call it while holding its lock.
 */
export function sealEvents(head: AuditHead, events: readonly AuditEvent[]): StoredAuditRecord[] {
  return sealCanonical(head, events, (event) => canonicalize(event));
}
