/**
 * The v1 wire types the SDK speaks, as plain TypeScript with no runtime cost.
 *
 * They mirror `@mandate/protocol` (where the runtime's zod schemas live). The SDK does not depend
 * on that package so that installing it pulls in no schema library; `test/wire-types.ts` fails the
 * typecheck the moment one of these drifts from the protocol's (ADR 0019).
 */

/** The closed list of error codes of every Mandate wire (`packages/protocol/src/errors.ts`). */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_json'
  | 'invalid_utf8'
  | 'duplicate_key'
  | 'body_too_large'
  | 'too_deep'
  | 'invalid_number'
  | 'invalid_args'
  | 'unsupported_media_type'
  | 'unauthenticated'
  | 'forbidden'
  | 'agent_mismatch'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'idempotency_key_reused'
  | 'idempotency_in_progress'
  | 'rate_limited'
  | 'overloaded'
  | 'store_unavailable'
  | 'audit_unavailable'
  | 'timeout'
  | 'internal'
  | 'policy_invalid'
  | 'no_active_policy'
  | 'unknown_action'
  | 'unknown_agent'
  | 'unknown_user'
  | 'unknown_resource'
  | 'resource_mismatch'
  | 'tool_quarantined'
  | 'invalid_entity'
  | 'agent_suspended'
  | 'user_suspended'
  | 'policy_error'
  | 'approval_not_found'
  | 'approval_mismatch'
  | 'approval_expired'
  | 'approval_consumed'
  | 'approval_pending'
  | 'approval_denied'
  | 'approval_voided'
  | 'approval_backlog'
  | 'approval_conflict'
  | 'no_grant'
  | 'grant_expired'
  | 'grant_revoked'
  | 'grant_exceeded'
  | 'usage_invalid'
  | 'self_approval'
  | 'wrong_role'
  | 'duplicate_approver'
  | 'invalid_signature'
  | 'csrf'
  | 'unavailable';

export type Effect = 'allow' | 'deny' | 'approval_required';
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';

/** Body of `POST /v1/decisions` as a client sends it. */
export interface DecisionRequest {
  agent: string;
  onBehalfOf?: string | null;
  /** `namespace.verb`, lower-case ASCII. */
  action: string;
  args?: Record<string, unknown>;
  intent?: string | null;
  approvalId?: string | null;
  sessionId?: string | null;
  traceId?: string | null;
}

export interface DecisionReason {
  policyId: string;
  reason?: string;
  principal?: 'agent' | 'user';
}

export interface DecisionError {
  code: ErrorCode;
  message: string;
  policyId?: string;
}

export interface ApprovalRef {
  id: string;
  status: ApprovalStatus;
  role: string;
  quorum: number;
  expiresAt: string;
}

/** The answer of the decision path. */
export interface Decision {
  decisionId: string;
  effect: Effect;
  reasons: DecisionReason[];
  errors: DecisionError[];
  policyVersion: string | null;
  approval?: ApprovalRef;
  grantId?: string;
  resource?: { type: string; id: string } | null;
  /** The args that were decided on, in the server's canonical form. */
  args?: Record<string, unknown>;
}

/** A decision as the SDK hands it out: always with the decided args (the SDK fails closed without them). */
export interface DecisionAnswer extends Decision {
  args: Record<string, unknown>;
}

/** `GET /v1/decisions/:id`: the recorded decision and its place in the audit chain. */
export interface DecisionRecord {
  decisionId: string;
  effect: Effect;
  reasons: DecisionReason[];
  errors: DecisionError[];
  policyVersion: string | null;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
  time: string;
  approvalId: string | null;
  grantId: string | null;
  audit: { seq: number; hash: string };
}

/** Body of `POST /v1/decisions/:id/outcome`. */
export interface DecisionOutcomeReport {
  status: 'ok' | 'error';
  durationMs: number;
  /** A code-like name of the failure (letters, digits, `_ . : -`), never a message. */
  errorType?: string;
}

/** Answer of `POST /v1/decisions/:id/outcome`. */
export interface OutcomeRecorded {
  decisionId: string;
  status: 'ok' | 'error';
  durationMs: number;
}

export interface ApprovalVote {
  approver: string;
  verdict: 'approve' | 'deny';
  comment: string | null;
  at: string;
  signature: string | null;
}

/** An approval as `GET /v1/approvals/:id` returns it (args redacted). */
export interface Approval {
  id: string;
  callHash: string;
  decisionId: string;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
  policyVersion: string;
  role: string;
  quorum: number;
  summary: string;
  args: Record<string, unknown>;
  status: ApprovalStatus;
  requestedAt: string;
  expiresAt: string;
  votes: ApprovalVote[];
  resolvedAt: string | null;
  consumedAt: string | null;
  consumedBy: string | null;
  /** The pinned definition hash of the MCP upstream tool the approval is bound to (gateway calls), or null. */
  toolHash: string | null;
  /** The policy whose `@approval` asked, with its `@reason`; null on approvals requested before it was kept. */
  policy: { id: string; reason: string | null } | null;
  /**
   * Present on a pending or approved approval when some approving votes no longer count (their
   * approver is no longer active or no longer holds the role): those approvers. An approved one
   * whose remaining votes fall short of the quorum is refused `approval_voided` when used.
   */
  lapsedVotes?: string[];
}

export interface GrantLimit {
  action?: string;
  arg: string;
  op: '<=' | '<' | '>=' | '>' | '==' | '!=';
  value: number | string | boolean;
}

/** Body of `POST /v1/grants`. */
export interface GrantCreate {
  user?: string;
  agent: string;
  actions: string[];
  resources?: string[];
  resourceAttributes?: Record<string, string>;
  limits?: GrantLimit[];
  expiresAt?: string;
  expiresIn?: string;
  parentId?: string | null;
}

export interface Grant {
  id: string;
  user: string;
  agent: string;
  actions: string[];
  resources: string[];
  resourceAttributes: Record<string, string>;
  limits: GrantLimit[];
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  parentId: string | null;
  createdBy: string;
}

export type AuditEventType =
  | 'decision'
  | 'decision.outcome'
  | 'policy.activated'
  | 'entities.updated'
  | 'seed.applied'
  | 'key.created'
  | 'key.revoked'
  | 'key.rotated'
  | 'request.refused'
  | 'request.unauthenticated'
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.consumed'
  | 'grant.created'
  | 'grant.revoked'
  | 'tool.pinned'
  | 'tool.quarantined'
  | 'tool.approved'
  | 'audit.erased'
  /** Personal data kept beside the chain was erased for one pseudonymous id (docs/audit.md "Erasure"). */
  | 'personal_data.erased'
  | 'alert.fired'
  | 'alert.acknowledged'
  | 'alert.muted'
  | 'alert.unmuted'
  /** The compiled policy engine answered otherwise than cedar-wasm on a sampled evaluation. */
  | 'policy.divergence'
  /** A candidate set was made the shadow set, or the shadow set was cleared. */
  | 'policy.shadow_activated'
  | 'policy.shadow_cleared'
  /** A live decision the shadow set decides otherwise than the active set: both outcomes. */
  | 'policy.shadow_divergence'
  /** An admin read the trail through the API (query, export, verify); aggregated per caller and filter. */
  | 'audit.read'
  /** The node's continuous check of its own chain found tampering. */
  | 'audit.verify_failed'
  | 'audit.signing_key_created'
  /** A dashboard sign-in (API key or OpenID Connect) opened a session; names it by a short id, never its secret. */
  | 'session.started'
  /** A dashboard session was ended by signing out. */
  | 'session.ended';

export interface AuditEvent {
  type: AuditEventType;
  time: string;
  nodeId: string;
  decisionId?: string;
  agent?: string;
  user?: string;
  action?: string;
  resource?: string;
  effect?: Effect;
  data: Record<string, unknown>;
}

export interface AuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
  event: AuditEvent;
}

export interface AuditPage {
  items: AuditRecord[];
  nextCursor: string | null;
}

export type AuditProblem =
  | 'hash_mismatch'
  | 'chain_broken'
  | 'sequence_gap'
  | 'out_of_order'
  | 'index_mismatch'
  | 'checkpoint_signature'
  | 'checkpoint_mismatch'
  | 'truncated'
  /** More records than the checkpoint cadence allows without a signed checkpoint: checkpoints deleted. */
  | 'checkpoint_missing'
  /** A record is not the head an auditor kept (`verify --expect-head`): rewritten. */
  | 'head_mismatch'
  /** A line of an evidence bundle or a checkpoint file is not what Mandate writes. */
  | 'malformed'
  /** Records of an evidence bundle that no checkpoint of a trusted key covers: anyone could have written them. */
  | 'unsigned_tail'
  /** `audit verify --signed-after`: no checkpoint signed at or after that time covers the last record. */
  | 'checkpoint_stale'
  /** A record after the last checkpoint that no writer of the deployment sealed: inserted. */
  | 'unsealed';

export interface AuditVerifyResult {
  ok: boolean;
  records: number;
  checkpoints: number;
  head: { seq: number; hash: string } | null;
  /** Evidence bundles: records after the last checkpoint signed by a trusted key. */
  unsignedRecords?: number;
  firstBad?: { seq: number; problem: AuditProblem; message: string };
  /** `audit verify` and bundles: the newest checkpoint signed over the last record (how recent the evidence is). */
  newestCheckpoint?: { seq: number; time: string; keyId: string };
}

/** Filters of `GET /v1/audit`. */
export interface AuditQuery {
  agent?: string;
  user?: string;
  action?: string;
  effect?: Effect;
  type?: AuditEventType;
  decisionId?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

/** A tool registry entry (`GET /v1/tools`). */
export interface Tool {
  action: string;
  description: string;
  inputSchema: Record<string, unknown>;
  resource?: string;
  risk: 'low' | 'medium' | 'high' | 'critical';
  summary?: string;
  redact: string[];
  /** Args that are filesystem paths, canonicalised by the server before deciding. */
  paths?: ToolPaths;
}

/** Which args of a tool name files (docs/policies.md "Path and URL arguments"). */
export interface ToolPaths {
  args: string[];
  resolveSymlinks: boolean;
  folderType: string;
}

/** A policy set as `PUT /v1/policies` takes it. */
export interface PolicySource {
  policies: Record<string, string>;
  schema: string;
}

export interface PolicyProblem {
  file?: string;
  policyId?: string;
  message: string;
}

export type PolicyValidation = { ok: true } | { ok: false; problems: PolicyProblem[] };

export interface PolicyVersion {
  version: string;
  createdAt: string;
  source: string;
  active: boolean;
  activatedAt: string | null;
}

export interface Agent {
  id: string;
  roles: string[];
  owner?: string;
  status: 'active' | 'suspended';
  attributes: Record<string, unknown>;
  parent?: string;
}

export interface User {
  id: string;
  roles: string[];
  status: 'active' | 'suspended';
  attributes: Record<string, unknown>;
}

export interface Resource {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  tags: string[];
}

/** `GET /v1/entities`; `PUT /v1/entities` takes the same shape with every field optional. */
export interface EntitiesDocument {
  agents: Agent[];
  users: User[];
  resources: Resource[];
}
