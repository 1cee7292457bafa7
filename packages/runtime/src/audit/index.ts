export { AUDIT_HASH_DOMAIN, auditColumns, recordHash, sealCanonical, sealEvents } from './chain.js';
export { AUDIT_MAX_BATCH, createAuditLog } from './log.js';
export type { AuditLog, AuditLogOptions, AuditLogStats } from './log.js';
export { checkSealedTail, createRecordSealer, createSealWalk } from './seal.js';
export type { RecordSealer, SealWalk } from './seal.js';
export {
  KEY_FILES,
  createEphemeralKeys,
  createSigner,
  generateSigningKey,
  keyIdOf,
  loadOrCreateKeys,
  readHmacKey,
  readSealKey,
  readSigner,
  verifySignature,
} from './keys.js';
export type { AuditKeys, AuditSigner } from './keys.js';
export { verifyAudit } from './verify.js';
export type { AuditSource, VerifyAuditOptions } from './verify.js';
export type { Finding as AuditFinding } from './verify-checkpoints.js';
export {
  checkFindingNotes,
  checkpointLine,
  createFileMirror,
  MALFORMED_CHECKPOINT_FILE,
  readCheckpointFile,
  readCheckpointFileDetailed,
  signFindingNote,
} from './mirror.js';
export type { CheckpointMirror, FindingNote } from './mirror.js';
export { BUNDLE_FORMAT, exportBundle, readBundle, verifyBundle } from './bundle.js';
export type { VerifyBundleOptions } from './bundle.js';
export type { ExportBundleOptions, ReadBundle } from './bundle.js';
export { createTailVerifier, isVerified } from './tail-verifier.js';
export type { AuditIntegrity, TailVerifier, TailVerifierOptions, TrustedMirror } from './tail-verifier.js';
export {
  REDACTED,
  REDACTED_SECRET,
  argsDigest,
  createRedactor,
  isSecretKey,
  looksLikeSecret,
  redactText,
} from './redact.js';
export type { Redactor, RedactorOptions } from './redact.js';
export { cefExtension, cefHeader, exportAudit, formatRecord } from './export.js';
export type { ExportAuditOptions } from './export.js';
export { createRefusalRecorder } from './refusals.js';
export type { RefusedCaller, Refusal, RefusalRecorder, RefusalRecorderOptions } from './refusals.js';
export { createReadRecorder } from './read-events.js';
export type { ReadRecorder, ReadRecorderOptions, TrailRead } from './read-events.js';
export { ERASED, TAMPERED, createPersonalData, keptDigest, personalOf, pseudonymOf } from './personal.js';
export type { PersonalData, PersonalField, PersonalRef } from './personal.js';
export { MAX_VOUCH_WALK, vouchFor } from './vouch.js';
export type { TrustedHash, Vouch } from './vouch.js';
