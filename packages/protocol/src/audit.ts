/** Kinds of audit event in the one chain. */
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
  /** A candidate set was made the shadow set, or the shadow set was cleared (issue 14 §1). */
  | 'policy.shadow_activated'
  | 'policy.shadow_cleared'
  /** A live decision the shadow set decides otherwise than the active set: both outcomes. */
  | 'policy.shadow_divergence'
  /** An admin read the trail through the API (query, export, verify); aggregated per caller and filter. */
  | 'audit.read'
  /** The node's continuous check of its own chain found tampering. */
  | 'audit.verify_failed'
  /** A node created an audit signing key over a chain that already held records (`--new-signing-key`). */
  | 'audit.signing_key_created'
  /** A dashboard sign-in (API key or OpenID Connect) opened a session; names it by a short id, never its secret. */
  | 'session.started'
  /** A dashboard session was ended by signing out. */
  | 'session.ended';

/** One record of the chain, as stored and exported. `hash = H(domain ‖ prevHash ‖ canonical(event))`. */
export interface AuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
  event: AuditEvent;
}

/** The hashed part of a record. Personal data stays out: args appear only as a keyed digest and a redacted copy. */
export interface AuditEvent {
  type: AuditEventType;
  time: string;
  nodeId: string;
  /** For decisions; the id of the decision an approval or grant event belongs to, when there is one. */
  decisionId?: string;
  agent?: string;
  user?: string;
  action?: string;
  resource?: string;
  effect?: 'allow' | 'deny' | 'approval_required';
  data: Record<string, unknown>;
}

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  time: string;
  keyId: string;
  /** base64 Ed25519 signature over the canonical `{seq, hash, time, keyId}`. */
  signature: string;
}

export interface AuditPage {
  items: AuditRecord[];
  nextCursor: string | null;
}

export interface AuditVerifyResult {
  ok: boolean;
  records: number;
  checkpoints: number;
  head: { seq: number; hash: string } | null;
  /**
   * Evidence bundles: records after the last checkpoint signed by a trusted key. Anyone could have
   * written those; verify refuses them (`unsigned_tail`) unless told to allow them.
   */
  unsignedRecords?: number;
  /** The first bad record and why, when `ok` is false. */
  firstBad?: { seq: number; problem: AuditProblem; message: string };
  /** `audit verify` and bundles: the newest checkpoint signed over the last record (how recent the evidence is). */
  newestCheckpoint?: { seq: number; time: string; keyId: string };
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
  /** A record after the last checkpoint that no writer of the deployment sealed (ADR 0038): inserted. */
  | 'unsealed';
