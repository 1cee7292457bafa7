export { createCedarEngine, CEDAR_ACTION_TYPE, REQUEST_ERROR_POLICY_ID } from './cedar/engine.js';
export type { AnswerSummary, CedarEngineOptions, Divergence } from './cedar/engine.js';
export { loadPolicyDir } from './loader.js';
export { schemaJson } from './cedar/analysis.js';
export { policySetVersion } from './version.js';
export { POLICY_TEXT_LIMITS, checkPolicyTextBounds } from './bounds.js';
export { MAX_QUORUM } from './annotations.js';
export type {
  ApprovalRequirement,
  ArgType,
  CompiledPolicySet,
  EngineHealth,
  EntityRef,
  PolicyEngine,
  PolicyEntity,
  PolicyErrorInfo,
  PolicyEvaluation,
  PolicyInfo,
  PolicyProblem,
  PolicyRequest,
  PolicySetSource,
  SatisfiedPolicy,
} from './port.js';
