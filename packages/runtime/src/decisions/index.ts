export { CONTEXT_KEYS, agentEntity, createDecisionService, resourceEntity, userEntity } from './service.js';
export type { Caller, DecisionOutcome, DecisionService, DecisionServiceDeps } from './service.js';
export { createTimeContext } from './time.js';
export type { PolicyTime } from './time.js';
