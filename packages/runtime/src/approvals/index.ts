export { SELF_CONFIRMATION, callHash, createApprovalService, toApprovalRef } from './service.js';
export type {
  ApprovalRouting,
  ApprovalService,
  ApprovalServiceDeps,
  ApprovalServiceOptions,
  Approver,
  CallBinding,
  ConsumeError,
  ConsumeResult,
  RequestApprovalInput,
} from './service.js';
export { recordWhatAStopLeft } from './recorded.js';
export { APPROVAL_VOTE_SIGNATURE_TYPE, approvalVoteMessage, verifyApprovalSignature } from './signature.js';
export type { ApprovalVoteStatement } from './signature.js';
export { approvalDisplay } from './display.js';
export type { ApprovalDisplay } from './display.js';
