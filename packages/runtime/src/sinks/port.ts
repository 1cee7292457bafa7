import { formatRecord } from '../audit/export.js';
import type { StoredAuditRecord } from '../storage/port.js';

/**
 * One audit record as the store holds it. Every sink sends its sequence number and hash
 * (receivers de-duplicate on `seq` and `hash`: delivery is at-least-once) and the event exactly as hashed.
 */
export type SinkRecord = StoredAuditRecord;

/**
 * A record a sink delivered as a stand-in instead of in full (docs/streaming.md "Records a sink
 * cannot take"): too large for the receiver, or refused by it.
 */
export interface OmittedRecord {
  seq: number;
  hash: string;
  /** `too_large`: over the sink's limit (or answered 413 alone); `rejected`: the receiver refused it alone. */
  reason: 'too_large' | 'rejected';
  /** Its size as this sink would have sent it. */
  bytes: number;
  /** The limit it was over, when known (a 413 does not say). */
  limit: number | null;
  /** What the receiver said, when it said anything. */
  message: string | null;
}

/** What a delivery did besides delivering: the runner logs and counts it. */
export interface DeliveryReport {
  omitted: OmittedRecord[];
  /** Receiver warnings on an accepted batch (an OTLP partial success rejecting nothing). */
  warnings: string[];
}

/**
 * A transport to one receiver. `deliver` resolves only once the receiver took the whole batch (an
 * HTTP 2xx, a JetStream ack, a synced file, a TCP write): the cursor moves only then. It throws on
 * anything else, and the same batch is offered again after a backoff. A record the receiver can
 * never take (too large) is delivered as a stand-in and listed in the report, so one record never
 * stops a sink.
 */
export interface SinkTransport {
  deliver(batch: readonly SinkRecord[]): Promise<DeliveryReport | void>;
  close(): Promise<void>;
}

/** One JSON object per record: `{"seq","prevHash","hash","event"}`, the event spliced in verbatim (as `audit export`). */
export const recordJson = (r: SinkRecord): string => formatRecord(r, 'jsonl');

/** Longest string field copied into a stand-in: a stand-in must stay small whatever the event holds. */
export const STAND_IN_FIELD_MAX = 256;

/**
 * The string fields of a record's event that sinks index on (`type`, `time`, `nodeId`,
 * `decisionId`, `agent`, `user`, `action`, `effect`), each cut to `max` characters.
 */
export function eventFields(
  r: SinkRecord,
  max = Infinity,
  keys: readonly string[] = INDEXED_FIELDS,
): Record<string, string> {
  let e: Record<string, unknown> = {};
  try {
    e = JSON.parse(r.eventText) as Record<string, unknown>;
  } catch {
    // The store holds canonical JSON; a record that is not would still get its stand-in.
  }
  const out: Record<string, string> = {};
  for (const k of keys) if (typeof e[k] === 'string') out[k] = (e[k] as string).slice(0, max);
  return out;
}

const INDEXED_FIELDS = ['type', 'time', 'nodeId', 'decisionId', 'agent', 'user', 'action', 'effect'] as const;
/** A stand-in also names the resource: which customer's refund a SIEM did not get in full. */
const STAND_IN_FIELDS = [...INDEXED_FIELDS, 'resource'] as const;

/**
 * The stand-in of a record a sink cannot deliver in full: `{"seq","prevHash","hash","omitted":{…}}`
 * — no `event` (what was hashed is not there, so nobody can mistake it for the record), and in
 * `omitted` why, its size, and the fields a SIEM needs to know it exists and fetch it through the
 * audit API (`GET /v1/audit`, `mandate audit export`).
 */
export function standInJson(r: SinkRecord, o: OmittedRecord): string {
  return JSON.stringify({
    seq: r.seq,
    prevHash: r.prevHash,
    hash: r.hash,
    omitted: {
      reason: o.reason,
      bytes: o.bytes,
      limit: o.limit,
      ...(o.message ? { message: o.message.slice(0, STAND_IN_FIELD_MAX) } : {}),
      ...eventFields(r, STAND_IN_FIELD_MAX, STAND_IN_FIELDS),
    },
  });
}
