/**
 * The one import of cedar-wasm in the code base (STYLE.md: each third-party library has one owning
 * folder). Always the `nodejs` build: the package root is a bundler build that Node cannot load.
 */
import './v8-flags.js';

export {
  checkParseSchema,
  // Not used on the decision path (it re-parses the text on every call): the bench's raw baseline.
  isAuthorized,
  isAuthorizedPartial,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  schemaToJson,
  statefulIsAuthorized,
  validate,
} from '@cedar-policy/cedar-wasm/nodejs';
export type {
  AuthorizationAnswer,
  CedarValueJson,
  DetailedError,
  EntityJson,
  EntityUidJson,
  PolicyJson,
  StatefulAuthorizationCall,
} from '@cedar-policy/cedar-wasm/nodejs';
