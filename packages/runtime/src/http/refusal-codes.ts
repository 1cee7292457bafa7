import type { ErrorCode } from '@mandate/protocol';

/** Codes that mean "this caller may not do this" or "this input is refused": recorded when the caller is known. */
const REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'forbidden',
  'csrf',
  'agent_mismatch',
  'self_approval',
  'wrong_role',
  'duplicate_approver',
  'invalid_signature',
  'bad_request',
  'invalid_json',
  'invalid_utf8',
  'duplicate_key',
  'body_too_large',
  'too_deep',
  'invalid_number',
  'invalid_args',
  'unsupported_media_type',
  // Delegation refused: a sub-grant wider than its parent, from a dead chain, by a suspended principal.
  'grant_exceeded',
  'grant_revoked',
  'grant_expired',
  'agent_suspended',
  'user_suspended',
  'approval_expired',
]);

/**
 * Codes recorded on one route only. `conflict` is also an SDK retrying an outcome report or a key
 * revoked twice; on a vote it is a vote on an approval already decided (audit.md: "a second vote").
 * `not_found` on a vote is also a vote on an approval the voter may not see (answered as GET answers).
 */
const VOTE_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['conflict', 'not_found']);
/** `not_found` on a grant's creation: a `parentId` that is not the caller's to pass on (or none). */
const GRANT_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['not_found']);
const ROUTE_REFUSALS: ReadonlyMap<string, ReadonlySet<ErrorCode>> = new Map([
  ['POST /v1/approvals/:id/approve', VOTE_REFUSALS],
  ['POST /v1/approvals/:id/deny', VOTE_REFUSALS],
  ['POST /v1/grants', GRANT_REFUSALS],
]);

/** Is a refusal with `code` on `route` (e.g. `POST /v1/decisions`) recorded (ADR 0018)? */
export function isRecordedRefusal(code: ErrorCode, route: string): boolean {
  return REFUSALS.has(code) || ROUTE_REFUSALS.get(route)?.has(code) === true;
}
