/**
 * The runtime's public entry (`@mandate/runtime`): what an embedder needs to run the decision path
 * in-process — `@mandate/sdk` in embedded mode loads this module on demand. Everything else under
 * `src/` is internal and may change without notice.
 */
export { createMandate } from './app/index.js';
export type { CreateMandateOptions, Mandate } from './app/index.js';
export { loadConfig } from './config/index.js';
export type { Config, ConfigOverrides, LoadedConfig } from './config/index.js';
export { MandateError, isMandateError, parseDuration, systemClock } from './kernel/index.js';
export type { Clock, Logger } from './kernel/index.js';
export { reportOutcome } from './decisions/index.js';
export type { Caller, DecisionOutcome, OutcomeRecorded } from './decisions/index.js';
export { SELF_CONFIRMATION, approvalVoteMessage } from './approvals/index.js';
export { verifyAudit } from './audit/index.js';
export { updateEntities } from './entities/index.js';
export type { ApprovalRecord, AuditFilter, GrantLimit, GrantRecord, Store } from './storage/port.js';
export { authenticate } from './http/index.js';
export { parseJsonStrict } from './kernel/index.js';
export {
  DecisionOutcomeReportSchema,
  DecisionRequestSchema,
  EntitiesDocumentSchema,
} from '@mandate/protocol';
