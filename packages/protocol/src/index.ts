export { ERROR_CODES, isErrorCode } from './errors.js';
export type { ErrorCode, ErrorBody } from './errors.js';
export { ACTION_NAME, DecisionOutcomeReportSchema, DecisionRequestSchema } from './decision.js';
export type {
  ApprovalRef,
  ApprovalStatus,
  Decision,
  DecisionError,
  DecisionOutcomeReport,
  DecisionReason,
  DecisionRequest,
  Effect,
} from './decision.js';
export { JsonObjectSchema } from './json.js';
export { AgentSchema, EntitiesDocumentSchema, ResourceSchema, UserSchema } from './entities.js';
export type { Agent, EntitiesDocument, Resource, User } from './entities.js';
export { PATH_ARG, ToolPathsSchema, ToolSchema, ToolsDocumentSchema } from './tools.js';
export type { Tool, ToolPaths } from './tools.js';
export type {
  AuditCheckpoint,
  AuditEvent,
  AuditEventType,
  AuditPage,
  AuditProblem,
  AuditRecord,
  AuditVerifyResult,
} from './audit.js';
