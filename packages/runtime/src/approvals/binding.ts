/**
 * What an approval is bound to — one exact call — and the hash that binds it (THREATS: approvals,
 * PSD2-style dynamic linking).
 */
import { canonicalize, hmacSha256Hex, sha256Hex } from '../kernel/index.js';
import type { ApprovalRecord } from '../storage/port.js';

/** What an approval is bound to. Any change in any field gives another hash (PSD2-style dynamic linking). */
export interface CallBinding {
  agent: string;
  user: string | null;
  action: string;
  /** Canonical args object (already parsed once and validated). */
  args: Record<string, unknown>;
  resource: string | null;
  policyVersion: string;
  /**
   * The pinned definition hash of the MCP upstream tool that will run the call (gateway actions
   * only): an approval given for one definition is void once another is approved (rug pull).
   */
  toolHash?: string | null;
}

/** The fields of a binding that are bound (a caller may pass a wider object, e.g. a request input). */
function boundFields(b: CallBinding): CallBinding {
  const bound: CallBinding = {
    agent: b.agent,
    user: b.user,
    action: b.action,
    args: b.args,
    resource: b.resource,
    policyVersion: b.policyVersion,
  };
  // Only when there is one, so the hashes of calls that run no upstream tool stay what they were.
  if (b.toolHash) bound.toolHash = b.toolHash;
  return bound;
}

/**
 * The exact-call hash an approval is bound to, keyed with the deployment's `approval-binding`
 * secret. SECURITY: the hash is published — in the audit trail, its sinks and exports, the
 * approval webhook and API — next to every bound field but the redacted args: unkeyed, a redacted
 * PIN or amount was recovered from it by trying every value in milliseconds, erasure included.
 */
export function callHash(b: CallBinding, key: string): string {
  return 'hmac-sha256:' + hmacSha256Hex(key, 'mandate.approval.v2\0' + canonicalize(boundFields(b)));
}

/** The unkeyed hash of approvals requested before the key (`sha256:…`): compared, never made. */
function legacyCallHash(b: CallBinding): string {
  return 'sha256:' + sha256Hex('mandate.approval.v1\0' + canonicalize(boundFields(b)));
}

/** Whether approval `a` is bound to `b`, under the scheme its hash was made with. */
export function boundTo(a: Pick<ApprovalRecord, 'callHash'>, b: CallBinding, key: string): boolean {
  return a.callHash === (a.callHash.startsWith('sha256:') ? legacyCallHash(b) : callHash(b, key));
}
