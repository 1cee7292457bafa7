export { createAlerting } from './service.js';
export type { AlertView, Alerting, AlertingDeps, Mute } from './service.js';
export { createRuleEngine, VERIFICATION_FAILED_TYPES } from './rules.js';
export type { RaisedAlert } from './rules.js';
