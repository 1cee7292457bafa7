import { formatRecord } from '../audit/export.js';
import type { StoredAuditRecord } from '../storage/port.js';

/**
 * One audit record as the store holds it. Every sink sends its sequence number and hash
 * (receivers de-duplicate on `seq`: delivery is at-least-once) and the event exactly as hashed.
 */
export type SinkRecord = StoredAuditRecord;

/**
 * A transport to one receiver. `deliver` resolves only once the receiver took the whole batch (an
 * HTTP 2xx, a JetStream ack, a synced file, a TCP write): the cursor moves only then. It throws on
 * anything else, and the same batch is offered again after a backoff.
 */
export interface SinkTransport {
  deliver(batch: readonly SinkRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** One JSON object per record: `{"seq","prevHash","hash","event"}`, the event spliced in verbatim (as `audit export`). */
export const recordJson = (r: SinkRecord): string => formatRecord(r, 'jsonl');
