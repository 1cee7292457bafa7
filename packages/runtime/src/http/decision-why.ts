import type { AuditEvent, DecisionReason } from '@mandate/protocol';
import { isVerified, recordHash, type AuditFinding as Finding } from '../audit/index.js';
import { GENESIS_HASH } from '../storage/index.js';
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
 * What is wrong with the record as stored now, checked against its own hash and its neighbours'
 * links; null when nothing is. SECURITY: the tail check verified the record once — a record edited
 * in the database after that was shown as "verified" with the edited content (a probe turned a
 * refund of 400 into 40). What is shown is what is checked, each time it is shown.
 */
async function recordProblem(store: HttpDeps['store'], rec: StoredAuditRecord): Promise<Finding | null> {
  const found = (message: string): Finding => ({ seq: rec.seq, problem: 'hash_mismatch', message });
  if (recordHash(rec.seq, rec.prevHash, rec.eventText) !== rec.hash)
    return found(`record ${rec.seq} does not hash to its stored hash: it was edited`);
  const around = await store.readAudit(Math.max(0, rec.seq - 2), 3);
  const prev = around.find((r) => r.seq === rec.seq - 1);
  const next = around.find((r) => r.seq === rec.seq + 1);
  if (rec.prevHash !== (prev ? prev.hash : rec.seq === 1 ? GENESIS_HASH : null))
    return found(`record ${rec.seq} does not link to record ${rec.seq - 1}`);
  if (next && next.prevHash !== rec.hash)
    return found(`record ${rec.seq + 1} does not link to record ${rec.seq}: record ${rec.seq} was rewritten`);
  return null;
}

/** The chain status of a record about to be shown: the node's, unless the record itself fails. */
async function shownStatus(
  deps: Pick<HttpDeps, 'store' | 'auditIntegrity' | 'auditTampered'>,
  rec: StoredAuditRecord,
): Promise<ChainStatus> {
  const problem = await recordProblem(deps.store, rec);
  if (problem) {
    await deps.auditTampered?.(problem);
    return 'tampered';
  }
  return chainStatus(deps, rec.seq);
}

/**
 * `GET /v1/decisions/:id`: the decision as recorded, and why — the determining policies per
 * principal, the grant chain, the approval, the redacted args, latency, node, and its place in the
 * chain. Everything comes from the audit record and the store; nothing is re-evaluated.
 */
export async function decisionWhy(
  deps: Pick<HttpDeps, 'store' | 'auditIntegrity' | 'auditTampered'>,
  rec: StoredAuditRecord,
  event: AuditEvent,
): Promise<Record<string, unknown>> {
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
  };
}
