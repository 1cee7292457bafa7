import type { AuditEvent, DecisionReason } from '@mandate/protocol';
import type { StoredAuditRecord } from '../storage/port.js';

/** One decision as the live feed shows it (`GET /v1/decisions/stream`, `event: decision`). */
export interface DecisionSummary {
  seq: number;
  decisionId: string;
  time: string;
  nodeId: string;
  agent: string | null;
  user: string | null;
  action: string | null;
  resource: string | null;
  effect: string;
  /** The determining policies (id, `@reason`, principal). */
  reasons: DecisionReason[];
  /** Error codes of the decision (a deny without a forbid says why here). */
  errors: string[];
  approvalId: string | null;
  /** Evaluation time as recorded, in milliseconds; null when the record has none. */
  latencyMs: number | null;
}

/** The decision event of a stored record (the caller filtered on `type: decision`). */
export function decisionEvent(rec: StoredAuditRecord): AuditEvent {
  return JSON.parse(rec.eventText) as AuditEvent;
}

/** Reads the summary of a decision record; fields the record lacks are null or empty. */
export function decisionSummary(
  rec: StoredAuditRecord,
  event: AuditEvent = decisionEvent(rec),
): DecisionSummary {
  const d = event.data;
  const reasons = Array.isArray(d.reasons) ? (d.reasons as DecisionReason[]) : [];
  const errors = Array.isArray(d.errors) ? (d.errors as { code?: unknown }[]) : [];
  return {
    seq: rec.seq,
    decisionId: event.decisionId ?? '',
    time: event.time,
    nodeId: event.nodeId,
    agent: event.agent ?? null,
    user: event.user ?? null,
    action: event.action ?? null,
    resource: event.resource ?? null,
    effect: event.effect ?? 'deny',
    reasons: reasons.map((r) => ({
      policyId: r.policyId,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.principal !== undefined ? { principal: r.principal } : {}),
    })),
    errors: errors.map((e) => String(e.code)),
    approvalId: typeof d.approvalId === 'string' ? d.approvalId : null,
    latencyMs: typeof d.latencyUs === 'number' ? d.latencyUs / 1000 : null,
  };
}
