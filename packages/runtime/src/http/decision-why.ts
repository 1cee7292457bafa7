import type { AuditEvent, DecisionReason } from '@mandate/protocol';
import { MandateError } from '../kernel/index.js';
import { isVerified } from '../audit/index.js';
import { checkColumns } from '../audit/verify.js';
import type { StoredAuditRecord } from '../storage/port.js';
import type { HttpDeps } from './deps.js';
import { decisionSummary } from './decision-view.js';

/** Most grants of a chain looked up (sub-agent delegation is a few levels deep). */
const MAX_CHAIN = 16;

/** Where a record stands in the node's continuous chain check. */
export type ChainStatus = 'verified' | 'pending' | 'tampered' | 'unknown';

/** The chain status of one record from the node's tail verifier. */
export function chainStatus(deps: Pick<HttpDeps, 'auditIntegrity'>, seq: number): ChainStatus {
  const integrity = deps.auditIntegrity?.();
  if (!integrity) return 'unknown';
  if (!integrity.ok) return 'tampered';
  return isVerified(integrity, seq) ? 'verified' : 'pending';
}

/**
 * The chain status of a record about to be shown. SECURITY: not where the record sits behind the
 * tail check (a record edited after it was verified was shown "verified", edit and all), but
 * whether the node can link this record, as stored now, to a hash it verified or signed; a record
 * that fails is `tampered` and the node's finding.
 */
async function shownStatus(
  deps: Pick<HttpDeps, 'auditIntegrity' | 'auditTampered' | 'auditVouch'>,
  rec: StoredAuditRecord,
): Promise<ChainStatus> {
  const base = chainStatus(deps, rec.seq);
  if (!deps.auditVouch || base === 'unknown') return base;
  const vouched = await deps.auditVouch(rec);
  if (vouched.status === 'tampered') {
    await deps.auditTampered?.(vouched.finding);
    return 'tampered';
  }
  if (base === 'tampered') return base;
  return vouched.status === 'verified' ? 'verified' : 'pending';
}

/**
 * `GET /v1/decisions/:id`: the decision as recorded, and why — the determining policies per
 * principal, the grant chain, the approval, the redacted args, latency, node, and its place in the
 * chain. Everything comes from the audit record and the store; nothing is re-evaluated.
 *
 * `id` is the decision asked for; `rec` was found by it (by default, the id its column says).
 */
export async function decisionWhy(
  deps: Pick<HttpDeps, 'store' | 'auditIntegrity' | 'auditTampered' | 'auditVouch'>,
  rec: StoredAuditRecord,
  event: AuditEvent,
  id: string | null = rec.columns.decisionId,
): Promise<Record<string, unknown>> {
  // SECURITY: the record was found by its `decision_id` and `type` columns, which a DB admin can
  // point at another, genuine record: decision X's view showed decision Y, "verified" (a probe).
  // Only the hashed event says whose decision this is; a record that is not X's is never shown as X.
  if (event.type !== 'decision' || event.decisionId !== id) {
    const finding = checkColumns(rec, event);
    if (finding) await deps.auditTampered?.(finding);
    throw new MandateError(
      'not_found',
      `no decision ${String(id)}: the record indexed under it is another event${finding ? ' (an edited query column: the node reports it as tampering)' : ''}`,
    );
  }
  const d = event.data;
  const summary = decisionSummary(rec, event);
  const of = (p: 'agent' | 'user') =>
    summary.reasons
      .filter((r: DecisionReason) => r.principal === p)
      .map((r) => ({ policyId: r.policyId, reason: r.reason ?? null }));
  const chainIds = Array.isArray(d.grantChain)
    ? (d.grantChain as unknown[]).map(String).slice(0, MAX_CHAIN)
    : [];
  const grantChain = [];
  for (const id of chainIds) {
    const g = await deps.store.getGrant(id);
    grantChain.push(
      g
        ? {
            id: g.id,
            user: g.user,
            agent: g.agent,
            actions: g.actions,
            resources: g.resources,
            limits: g.limits,
            createdAt: g.createdAt,
            expiresAt: g.expiresAt,
            revokedAt: g.revokedAt,
            parentId: g.parentId,
          }
        : { id, missing: true },
    );
  }
  const approvalRecord = summary.approvalId ? await deps.store.getApproval(summary.approvalId) : null;
  return {
    decisionId: event.decisionId,
    effect: event.effect,
    reasons: d.reasons,
    errors: d.errors,
    policyVersion: d.policyVersion,
    agent: event.agent,
    user: event.user ?? null,
    action: event.action,
    resource: event.resource ?? null,
    time: event.time,
    approvalId: d.approvalId ?? null,
    grantId: d.grantId ?? null,
    determining: { agent: of('agent'), user: of('user') },
    grantChain,
    approval: approvalRecord
      ? {
          id: approvalRecord.id,
          status: approvalRecord.status,
          role: approvalRecord.role,
          quorum: approvalRecord.quorum,
          expiresAt: approvalRecord.expiresAt,
          votes: approvalRecord.votes.map((v) => ({
            approver: v.approver,
            verdict: v.verdict,
            comment: v.comment,
            at: v.at,
          })),
          consumedAt: approvalRecord.consumedAt,
        }
      : null,
    // The redacted copy the trail holds; the raw args are never stored.
    args: d.args ?? null,
    argsDigest: d.argsDigest ?? null,
    latencyMs: summary.latencyMs,
    nodeId: event.nodeId,
    audit: { seq: rec.seq, hash: rec.hash, chain: await shownStatus(deps, rec) },
    // EVIDENCE: the chain status covers the record (effect, reasons, args, the grant and approval
    // ids); the grant chain's details and the approval's votes are read from the store as they are
    // now, which a DB admin can edit beside a `verified` record (a probe made frank mallory). Said
    // so, here and on the dashboard; their history is the trail's grant.* and approval.* records.
    notCoveredByChain: ['grantChain', 'approval'],
  };
}
