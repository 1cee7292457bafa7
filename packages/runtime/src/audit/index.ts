export { AUDIT_HASH_DOMAIN, auditColumns, recordHash, sealCanonical, sealEvents } from './chain.js';
export { createAuditLog } from './log.js';
export type { AuditLog, AuditLogOptions, AuditLogStats } from './log.js';
export {
  KEY_FILES,
  createEphemeralKeys,
  createSigner,
  generateSigningKey,
  keyIdOf,
  loadOrCreateKeys,
  verifySignature,
} from './keys.js';
export type { AuditKeys, AuditSigner } from './keys.js';
export { verifyAudit } from './verify.js';
export type { VerifyAuditOptions } from './verify.js';
export {
  REDACTED,
  REDACTED_SECRET,
  argsDigest,
  createRedactor,
  isSecretKey,
  looksLikeSecret,
} from './redact.js';
export type { Redactor, RedactorOptions } from './redact.js';
export { cefExtension, cefHeader, exportAudit, formatRecord } from './export.js';
export type { ExportAuditOptions } from './export.js';
export { createRefusalRecorder } from './refusals.js';
export type { RefusedCaller, Refusal, RefusalRecorder, RefusalRecorderOptions } from './refusals.js';
