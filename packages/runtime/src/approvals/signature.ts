import { createPublicKey, verify } from 'node:crypto';

/** Verifies an approver's base64 Ed25519 signature over the approval's call hash (UTF-8 bytes). */
export function verifyApprovalSignature(publicKeyPem: string, hash: string, signatureB64: string): boolean {
  try {
    return verify(
      null,
      Buffer.from(hash, 'utf8'),
      createPublicKey(publicKeyPem),
      Buffer.from(signatureB64, 'base64'),
    );
  } catch {
    return false;
  }
}
