import { MandateError } from '../kernel/index.js';
import type { AuditHead, StoredAuditRecord } from './port.js';

/**
 * Checks that sealed records extend the head they were sealed against, so a faulty sealer can
 * never write a forked or gapped chain. Every driver calls it inside its append transaction.
 */
export function assertChainExtends(head: AuditHead, records: readonly StoredAuditRecord[]): void {
  let { seq, hash } = head;
  for (const r of records) {
    if (r.seq !== seq + 1 || r.prevHash !== hash) {
      throw new MandateError('internal', `sealed record ${r.seq} does not extend the chain at ${seq}`);
    }
    seq = r.seq;
    hash = r.hash;
  }
}
