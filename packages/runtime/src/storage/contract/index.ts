export { auditEvent, describeStoreContract, expectChain, testSealer } from './contract.js';
