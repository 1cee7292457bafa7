export {
  approval,
  auditEvent,
  describeStoreContract,
  everyStoreCall,
  expectChain,
  testSealer,
} from './contract.js';
export type { StoreCallKind } from './contract.js';
export { apiKey } from './keys.js';
