export { GENESIS_HASH } from './port.js';
export type * from './port.js';
export { storeUnavailable, unavailableReason } from './unavailable.js';
