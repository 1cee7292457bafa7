import type { AuditCheckpoint } from '@mandate/protocol';
import type { AuditFilter, CheckpointRange, StoredAuditRecord } from './port.js';

/** The audit filter semantics every driver implements; the memory driver uses it directly. */
export function matchesAuditFilter(r: StoredAuditRecord, f: AuditFilter): boolean {
  const c = r.columns;
  return (
    (f.afterSeq === undefined || r.seq > f.afterSeq) &&
    (f.beforeSeq === undefined || r.seq < f.beforeSeq) &&
    (f.agent === undefined || c.agent === f.agent) &&
    (f.user === undefined || c.user === f.user) &&
    (f.action === undefined || c.action === f.action) &&
    (f.effect === undefined || c.effect === f.effect) &&
    (f.type === undefined || c.type === f.type) &&
    (f.decisionId === undefined || c.decisionId === f.decisionId) &&
    (f.from === undefined || c.time >= f.from) &&
    (f.to === undefined || c.time <= f.to)
  );
}

/** The checkpoint range semantics every driver implements; the memory driver uses it directly. */
export function checkpointsInRange(all: readonly AuditCheckpoint[], r: CheckpointRange): AuditCheckpoint[] {
  const found = all.filter(
    (cp) =>
      (r.fromSeq === undefined || cp.seq >= r.fromSeq) &&
      (r.toSeq === undefined || cp.seq <= r.toSeq) &&
      (r.keyId === undefined || cp.keyId === r.keyId),
  );
  if (r.order === 'desc') found.reverse();
  return r.limit === undefined ? found : found.slice(0, Math.max(0, r.limit));
}

/** Adds the SQL conditions (`?` placeholders) of an audit filter, as the SQL drivers read it. */
export function auditFilterSql(f: AuditFilter, add: (clause: string, value: unknown) => void): void {
  // Same semantics as matchesAuditFilter: `undefined` means "no condition".
  if (f.agent !== undefined) add('agent = ?', f.agent);
  if (f.user !== undefined) add('user_id = ?', f.user);
  if (f.action !== undefined) add('action = ?', f.action);
  if (f.effect !== undefined) add('effect = ?', f.effect);
  if (f.type !== undefined) add('type = ?', f.type);
  if (f.decisionId !== undefined) add('decision_id = ?', f.decisionId);
  if (f.from !== undefined) add('time >= ?', f.from);
  if (f.to !== undefined) add('time <= ?', f.to);
  if (f.afterSeq !== undefined) add('seq > ?', f.afterSeq);
  if (f.beforeSeq !== undefined) add('seq < ?', f.beforeSeq);
}

/** Adds the SQL conditions (`?` placeholders) of a checkpoint range's seq bounds. */
export function checkpointRangeSql(r: CheckpointRange, add: (clause: string, value: unknown) => void): void {
  if (r.fromSeq !== undefined) add('seq >= ?', r.fromSeq);
  if (r.toSeq !== undefined) add('seq <= ?', r.toSeq);
  if (r.keyId !== undefined) add('key_id = ?', r.keyId);
}
