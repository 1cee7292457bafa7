export { CONTEXT_KEYS, agentEntity, createDecisionService, resourceEntity, userEntity } from './service.js';
export type { DecideOptions } from './service.js';
export type { Caller, DecisionOutcome, DecisionService, DecisionServiceDeps } from './service.js';
export { createTimeContext } from './time.js';
export type { PolicyTime } from './time.js';
export { IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_MS, createIdempotency } from './idempotency.js';
export type { Idempotency, IdempotencyDeps, IdempotentResult } from './idempotency.js';
export { reportOutcome } from './outcome.js';
export type { OutcomeDeps, OutcomeRecorded } from './outcome.js';
