/**
 * EVIDENCE: what an approval rests on is on the record before it is spent.
 *
 * An approval's request and each vote are stored first and recorded after, in the audit log's own
 * transaction (group commit): a node stopped between the two left them in the store with no
 * record. A probe killed a node while 100 second votes were being cast: 38 votes were stored
 * without their `approval.approved` record, and three of them made the quorum of an allow whose
 * trail showed one approver. Writing the record first would leave the opposite (a vote on the
 * record that never counted, when the vote then loses a race), and one transaction for both
 * would take the store's audit append out of the audit log.
 *
 * So before an approval is consumed, the trail is read for its request and its votes, and each one
 * missing is recorded then — from what the store holds, marked `late` — before the allow it makes
 * possible leaves. A record can be missing only for a moment (the voter's node is between the two
 * writes) or for good (it stopped there); the node's own appends are flushed before it looks twice.
 */
import type { AuditEvent } from '@mandate/protocol';
import { holdToEvents } from '../audit/columns.js';
import type { ApprovalRecord, Store } from '../storage/port.js';

/** Records read per page while looking for an approval's records. */
const PAGE = 200;

export interface RecordedDeps {
  store: Pick<Store, 'queryAudit'>;
  /** Appends an audit event durably. */
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** Resolves once every event this node accepted before the call is committed. */
  flushAudit?: () => Promise<void>;
}

/** What of `a` the trail holds: its request, and the voters whose votes are recorded. */
async function onRecord(
  store: RecordedDeps['store'],
  a: ApprovalRecord,
): Promise<{ requested: boolean; voters: Set<string> }> {
  const voters = new Set<string>();
  let requested = false;
  let afterSeq: number | undefined;
  for (;;) {
    // An approval's request and votes are recorded under the decision that asked for it.
    const rows = await store.queryAudit({
      decisionId: a.decisionId,
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      limit: PAGE,
    });
    // Held to their hashed events: a column pointed at this decision is not its record.
    for (const { event } of await holdToEvents(rows)) {
      const data = event.data as Record<string, unknown> | undefined;
      if (data?.approvalId !== a.id) continue;
      if (event.type === 'approval.requested') requested = true;
      if (
        (event.type === 'approval.approved' || event.type === 'approval.denied') &&
        typeof data.approver === 'string'
      )
        voters.add(data.approver);
    }
    if (rows.length < PAGE) break;
    afterSeq = rows.at(-1)!.seq;
  }
  return { requested, voters };
}

const complete = (a: ApprovalRecord, seen: { requested: boolean; voters: Set<string> }) =>
  seen.requested && a.votes.every((v) => seen.voters.has(v.approver));

/**
 * Records `a`'s request and votes that the trail does not hold, marked `late: true`, and returns
 * how many it recorded. Resolves once they are durably recorded; throws (and nothing is spent)
 * when they cannot be. With `settledBefore` (an ISO time), a request or vote made at or after it is
 * left alone: its writer may be between its two writes still.
 */
export async function recordWhatIsMissing(
  deps: RecordedDeps,
  a: ApprovalRecord,
  settledBefore?: string,
): Promise<number> {
  let seen = await onRecord(deps.store, a);
  if (complete(a, seen)) return 0;
  // The voter may be this node, between its two writes: its record may be queued here.
  if (deps.flushAudit) {
    await deps.flushAudit();
    seen = await onRecord(deps.store, a);
    if (complete(a, seen)) return 0;
  }
  const settled = (at: string) => settledBefore === undefined || at < settledBefore;
  let recorded = 0;
  if (!seen.requested && settled(a.requestedAt)) {
    recorded++;
    await deps.audit(
      approvalEvent(a, 'approval.requested', {
        approvalId: a.id,
        callHash: a.callHash,
        role: a.role,
        quorum: a.quorum,
        expiresAt: a.expiresAt,
        requestedAt: a.requestedAt,
        ...(a.toolHash ? { toolHash: a.toolHash } : {}),
        late: true,
      }),
    );
  }
  for (const v of a.votes) {
    if (seen.voters.has(v.approver) || !settled(v.at)) continue;
    recorded++;
    await deps.audit(
      approvalEvent(a, v.verdict === 'deny' ? 'approval.denied' : 'approval.approved', {
        approvalId: a.id,
        callHash: a.callHash,
        approver: v.approver,
        comment: v.comment,
        signed: v.signature !== null,
        at: v.at,
        quorum: a.quorum,
        late: true,
      }),
    );
  }
  return recorded;
}

/**
 * EVIDENCE: what a stop left unrecorded, put on the record at the next start.
 *
 * - Uses (THREATS P2: after a crash an action's outcome is recorded or marked unknown): an
 *   approval is consumed (compare-and-set) and its use recorded after, with the decision that used
 *   it. A node stopped between the two left the approval spent, `consumedBy` naming a decision
 *   that is not on the trail (a probe: 6 of 100). No allow left for it — an answer leaves only
 *   after its record — so each such use is recorded, `late: true`, `decision: "unrecorded"`.
 * - Requests and votes: stored, then recorded (above). One a stop left unrecorded was recorded only
 *   when its approval was next used, so an approval never used kept a vote the trail did not show
 *   (the inbox did). Each is recorded, `late: true`; those made in the last `SETTLING_MS` are left
 *   to the check before use, since another node may be between its two writes still.
 *
 * Looked for among approvals asked for since the chain's last record less the approvals' time to
 * live: an approval is voted on and used before it expires, so one touched just before the stop
 * was asked for after that.
 */
export async function recordWhatAStopLeft(
  deps: RecordedDeps & { store: Pick<Store, 'queryAudit' | 'listApprovals' | 'auditHead' | 'readAudit'> },
  ttlSeconds: number,
  nowMs: number = Date.now(),
): Promise<{ uses: number; parts: number }> {
  const found = { uses: 0, parts: 0 };
  const head = await deps.store.auditHead();
  if (head.seq === 0) return found;
  const [last] = await deps.store.readAudit(head.seq - 1, 1);
  if (!last) return found;
  const since = new Date(Date.parse(last.columns.time) - ttlSeconds * 1000 - 60_000).toISOString();
  const settledBefore = new Date(nowMs - SETTLING_MS).toISOString();
  let before: string | undefined;
  for (;;) {
    const page = await deps.store.listApprovals({ limit: PAGE, ...(before ? { before } : {}) });
    for (const a of page) {
      if (a.requestedAt < since) continue;
      found.parts += await recordWhatIsMissing(deps, a, settledBefore);
      if (a.status === 'consumed' && a.consumedBy && !(await useRecorded(deps.store, a))) {
        await deps.audit(
          approvalEvent(
            a,
            'approval.consumed',
            {
              approvalId: a.id,
              callHash: a.callHash,
              requestedBy: a.decisionId,
              consumedAt: a.consumedAt,
              late: true,
              decision: 'unrecorded',
            },
            a.consumedBy,
          ),
        );
        found.uses++;
      }
    }
    const oldest = page.at(-1);
    if (page.length < PAGE || !oldest || oldest.requestedAt < since) return found;
    before = oldest.id;
  }
}

/** How long a request or vote may be stored and not yet recorded by a live writer. */
const SETTLING_MS = 10_000;

/** Whether the trail holds `a`'s use, under the decision that used it. */
async function useRecorded(store: RecordedDeps['store'], a: ApprovalRecord): Promise<boolean> {
  const rows = await store.queryAudit({ decisionId: a.consumedBy!, type: 'approval.consumed', limit: 20 });
  const held = await holdToEvents(rows);
  return held.some(({ event }) => (event.data as Record<string, unknown> | undefined)?.approvalId === a.id);
}

/** An audit event about an approval: its decision, agent, user and action, with `data`. */
export function approvalEvent(
  a: ApprovalRecord,
  type: AuditEvent['type'],
  data: Record<string, unknown>,
  decisionId = a.decisionId,
): Omit<AuditEvent, 'time' | 'nodeId'> {
  return { type, decisionId, agent: a.agent, ...(a.user ? { user: a.user } : {}), action: a.action, data };
}
