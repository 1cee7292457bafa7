/**
 * The closed list of error codes Mandate uses on every wire (HTTP, MCP, SDK, CLI `--json`).
 * Codes are `lower_snake` and stable: adding one is a minor change, renaming one is a breaking change.
 */
export const ERROR_CODES = [
  // request shape
  'bad_request',
  'invalid_json',
  'invalid_utf8',
  'duplicate_key',
  'body_too_large',
  'too_deep',
  'invalid_number',
  'invalid_args',
  'unsupported_media_type',
  // caller
  'unauthenticated',
  'forbidden',
  'agent_mismatch',
  // resources
  'not_found',
  'method_not_allowed',
  'conflict',
  'idempotency_key_reused',
  'idempotency_in_progress',
  // capacity and faults
  'rate_limited',
  'overloaded',
  'store_unavailable',
  'audit_unavailable',
  'timeout',
  'internal',
  // policy management
  'policy_invalid',
  'no_active_policy',
  // decision errors (appear in a decision's `errors`, each a reason to deny)
  'unknown_action',
  'unknown_agent',
  'unknown_user',
  'unknown_resource',
  'resource_mismatch',
  /** The gateway's upstream tool is new or changed and awaits an admin's approval: the call cannot run. */
  'tool_quarantined',
  /** An entity attribute of another type than the policy schema declares: the decision is denied. */
  'invalid_entity',
  'agent_suspended',
  'user_suspended',
  'policy_error',
  'approval_not_found',
  'approval_mismatch',
  'approval_expired',
  'approval_consumed',
  'approval_pending',
  'approval_denied',
  /**
   * An approved approval whose approving votes no longer make its quorum when it is used (an
   * approver lost the role, was suspended or removed since): refused, not consumed.
   */
  'approval_voided',
  'approval_backlog',
  /** The agent's and the user's policies ask different roles to approve one call: denied. */
  'approval_conflict',
  'no_grant',
  'grant_expired',
  'grant_revoked',
  'grant_exceeded',
  'usage_invalid',
  'self_approval',
  'wrong_role',
  'duplicate_approver',
  'invalid_signature',
  'csrf',
  'unavailable',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one error body of every non-2xx HTTP answer. */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    requestId: string;
    details?: unknown;
    /** The id under which a refused decision request was recorded in the audit trail. */
    decisionId?: string;
  };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
