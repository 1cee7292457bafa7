import type { AuditEvent, DecisionOutcomeReport } from '@mandate/protocol';
import { MandateError, type Clock } from '../kernel/index.js';
import type { Store } from '../storage/port.js';
import { findHeld, reportOnce, type TamperReport } from '../audit/columns.js';
import type { Caller } from './service.js';
import { agentOwns } from './caller-identity.js';
import { looksLikeSecret } from '../audit/redact.js';

export interface OutcomeDeps {
  store: Store;
  clock: Clock;
  /** Durable append of a non-decision event (stamped with time and node by the caller). */
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** Where a record found through an edited query column is reported (the node's `auditTampered`). */
  tampered?: TamperReport;
}

/** Options of {@link reportOutcome}. */
export interface ReportOutcomeOptions {
  /**
   * Called with the decision's hashed event once the caller is known to own it, before anything
   * is recorded; throws to refuse the report (the HTTP route refuses a call the gateway forwarded).
   */
  refuse?: (event: AuditEvent) => void;
}

/** What `POST /v1/decisions/:id/outcome` answers. */
export interface OutcomeRecorded {
  decisionId: string;
  status: DecisionOutcomeReport['status'];
  durationMs: number;
}

/** The outcome of a decision is reported once; its key in the idempotency table is the decision id. */
const OUTCOME_SCOPE = 'decision.outcome';
/** Kept like a decision's idempotency key; after that the audit trail itself says it was reported. */
const OUTCOME_CLAIM_TTL_MS = 60 * 60 * 1000;
/** An abandonment time no claim precedes: an outcome's claim is never taken over. */
const NEVER_ABANDONED = new Date(0).toISOString();

/**
 * Records what happened when an allowed call ran (`decision.outcome`), so the audit trail shows
 * what actually ran next to what was allowed. Only the agent that asked, only for an `allow`,
 * only once.
 */
export async function reportOutcome(
  deps: OutcomeDeps,
  caller: Caller,
  decisionId: string,
  report: DecisionOutcomeReport,
  opts: ReportOutcomeOptions = {},
): Promise<OutcomeRecorded> {
  if (caller.role !== 'agent')
    throw new MandateError('forbidden', 'only the agent that ran the call reports its outcome');
  // SECURITY: the schema checks only the charset, which a key (`sk_live_…`, `mdt_…`) or a JWT
  // passes; the outcome record is hashed and unerasable. The value is not repeated in the message.
  if (report.errorType !== undefined && looksLikeSecret(report.errorType))
    throw new MandateError('bad_request', 'errorType looks like a secret; send a code-like error name');
  // SECURITY: found by its `decision_id` and `type` columns, which a DB admin can point at another
  // record: whose decision it is, its effect and who may report come from the hashed event only
  // (audit/columns.ts); a record whose columns disagree with it is the node's finding, never X's.
  const tampered = reportOnce(deps.tampered);
  const event = (await findHeld(deps.store, { decisionId, type: 'decision' }, tampered))?.event;
  // SECURITY: another agent's decision is not found, not "forbidden": its existence is not leaked.
  // A credential acting for one user reports only that user's calls.
  if (!event || !agentOwns(caller, event.agent, event.user))
    throw new MandateError('not_found', `no decision ${decisionId}`);
  opts.refuse?.(event);
  if (event.effect !== 'allow') {
    throw new MandateError(
      'conflict',
      `decision ${decisionId} was ${event.effect}: nothing ran, so there is no outcome`,
    );
  }
  const now = deps.clock.now();
  const claim = {
    scope: OUTCOME_SCOPE,
    key: decisionId,
    fingerprint: 'outcome',
    response: null,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + OUTCOME_CLAIM_TTL_MS).toISOString(),
  };
  const already = () =>
    new MandateError('conflict', `the outcome of decision ${decisionId} was already reported`);
  // SECURITY: once — the claim is atomic across nodes; the audit lookup covers claims that expired.
  if (await deps.store.claimIdempotencyKey(claim, claim.createdAt, NEVER_ABANDONED)) throw already();
  if (await findHeld(deps.store, { decisionId, type: 'decision.outcome' }, tampered)) throw already();
  try {
    await deps.record(outcomeEvent({ ...event, decisionId }, caller, report));
  } catch (err) {
    await deps.store.releaseIdempotencyKey(OUTCOME_SCOPE, decisionId, 'outcome').catch(() => undefined);
    throw err;
  }
  // The claim stays as it is (no answer to replay): its existence is what says "reported".
  return { decisionId, status: report.status, durationMs: report.durationMs };
}

/** The decision an outcome is recorded for: its id and who, what and on what it was about. */
export interface DecidedCall {
  decisionId: string;
  agent?: string | undefined;
  user?: string | undefined;
  action?: string | undefined;
  /** `Type::id`, as the decision's record has it. */
  resource?: string | undefined;
}

/**
 * Records the outcome of a call whose decision the recorder made itself and holds in memory, once:
 * the MCP gateway, for what it forwarded. No lookup and no claim — the gateway records exactly one
 * outcome per call it decided, and `POST /v1/decisions/:id/outcome` refuses a decision the gateway
 * forwarded (its record names the upstream), so nobody else records one for it. One durable append
 * instead of {@link reportOutcome}'s claim, two lookups and append (a write and an fsync fewer on
 * every gateway call).
 */
export async function recordOwnOutcome(
  deps: Pick<OutcomeDeps, 'record'>,
  caller: Caller,
  decided: DecidedCall,
  report: DecisionOutcomeReport,
): Promise<void> {
  await deps.record(outcomeEvent(decided, caller, report));
}

/** The `decision.outcome` event of a decision (both ways of recording one build it here). */
function outcomeEvent(
  decided: DecidedCall,
  caller: Caller,
  report: DecisionOutcomeReport,
): Omit<AuditEvent, 'time' | 'nodeId'> {
  return {
    type: 'decision.outcome',
    decisionId: decided.decisionId,
    ...(decided.agent ? { agent: decided.agent } : {}),
    ...(decided.user ? { user: decided.user } : {}),
    ...(decided.action ? { action: decided.action } : {}),
    ...(decided.resource ? { resource: decided.resource } : {}),
    data: {
      status: report.status,
      durationMs: report.durationMs,
      ...(report.errorType ? { errorType: report.errorType } : {}),
      caller: caller.keyId,
    },
  };
}
