import { createPublicKey, verify } from 'node:crypto';
import { canonicalize } from '../kernel/index.js';

/** The domain tag of a signed approval vote: a signature made for anything else never verifies as one. */
export const APPROVAL_VOTE_SIGNATURE_TYPE = 'mandate.approval.vote.v1';

/** What a signed vote is about: this approval, this verdict, this exact call. */
export interface ApprovalVoteStatement {
  approvalId: string;
  verdict: 'approve' | 'deny';
  callHash: string;
}

/**
 * The message an approver signs with their Ed25519 key (UTF-8 bytes of canonical JSON, keys
 * sorted, no whitespace): `{"approvalId":…,"callHash":…,"type":"mandate.approval.vote.v1","verdict":…}`.
 * SECURITY: the call hash alone is the same for every approval of the same call: a signature over
 * it alone was copied onto another approval, and onto the opposite verdict (a probe).
 */
export function approvalVoteMessage(s: ApprovalVoteStatement): string {
  return canonicalize({
    type: APPROVAL_VOTE_SIGNATURE_TYPE,
    approvalId: s.approvalId,
    verdict: s.verdict,
    callHash: s.callHash,
  });
}

/** Verifies an approver's base64 Ed25519 signature over the vote's message ({@link approvalVoteMessage}). */
export function verifyApprovalSignature(
  publicKeyPem: string,
  statement: ApprovalVoteStatement,
  signatureB64: string,
): boolean {
  try {
    return verify(
      null,
      Buffer.from(approvalVoteMessage(statement), 'utf8'),
      createPublicKey(publicKeyPem),
      Buffer.from(signatureB64, 'base64'),
    );
  } catch {
    return false;
  }
}
