/**
 * The one import of cedar-wasm in the code base (STYLE.md: each third-party library has one owning
 * folder). Always the `nodejs` build: the package root is a bundler build that Node cannot load.
 *
 * The build is CommonJS and instantiates its WebAssembly module when it is loaded. A wasm trap
 * (stack exhaustion inside Cedar, "memory access out of bounds") can leave that instance broken
 * for every later call; {@link reinstantiateCedar} loads the module again to get a fresh instance,
 * so each function here calls whichever instance is current.
 */
import './v8-flags.js';
import { createRequire } from 'node:module';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

type Cedar = typeof CedarWasm;

/** The file of the nodejs build; each load of it is a fresh instance. */
export const CEDAR_WASM_PATH = createRequire(import.meta.url).resolve('@cedar-policy/cedar-wasm/nodejs');

/**
 * A fresh cedar-wasm instance: once replaced, the old one, its linear memory (which never shrinks)
 * and its glue are garbage. Hence a `require` of its own each time (Node lists every module a
 * `require` loaded among its `children`, so a shared one kept each replaced instance alive) and no
 * entry left in `require.cache`.
 */
function loadInstance(): Cedar {
  const load = createRequire(import.meta.url);
  delete load.cache[CEDAR_WASM_PATH];
  try {
    return load(CEDAR_WASM_PATH) as Cedar;
  } finally {
    delete load.cache[CEDAR_WASM_PATH];
  }
}

let instance = loadInstance();
let generation = 0;

/**
 * Loads a fresh cedar-wasm instance and makes it the current one; returns its generation. Every
 * preparsed policy set lives in the old instance and is gone: compiled sets must be compiled again.
 */
export function reinstantiateCedar(): number {
  instance = loadInstance();
  return ++generation;
}

/** Which instance is current: 0 for the first, one more after each {@link reinstantiateCedar}. */
export function cedarGeneration(): number {
  return generation;
}

/** The cedar-wasm calls that read a policy set source: parse, JSON forms, strict validation. */
export type CedarReader = Pick<
  Cedar,
  'checkParseSchema' | 'schemaToJson' | 'policySetTextToParts' | 'policyToJson' | 'validate'
>;

export const checkParseSchema: Cedar['checkParseSchema'] = (s) => instance.checkParseSchema(s);
// Not used on the decision path (it re-parses the text on every call): the bench's raw baseline.
export const isAuthorized: Cedar['isAuthorized'] = (c) => instance.isAuthorized(c);
export const isAuthorizedPartial: Cedar['isAuthorizedPartial'] = (c) => instance.isAuthorizedPartial(c);
export const policySetTextToParts: Cedar['policySetTextToParts'] = (t) => instance.policySetTextToParts(t);
export const policyToJson: Cedar['policyToJson'] = (p) => instance.policyToJson(p);
export const preparsePolicySet: Cedar['preparsePolicySet'] = (id, p) => instance.preparsePolicySet(id, p);
export const schemaToJson: Cedar['schemaToJson'] = (s) => instance.schemaToJson(s);
export const statefulIsAuthorized: Cedar['statefulIsAuthorized'] = (c) => instance.statefulIsAuthorized(c);
export const validate: Cedar['validate'] = (c) => instance.validate(c);

/** The live instance as a {@link CedarReader}. */
export const liveReader: CedarReader = {
  checkParseSchema,
  schemaToJson,
  policySetTextToParts,
  policyToJson,
  validate,
};

export type {
  AuthorizationAnswer,
  CedarValueJson,
  DetailedError,
  EntityJson,
  EntityUidJson,
  PolicyJson,
  StatefulAuthorizationCall,
  ValidationAnswer,
  ValidationCall,
} from '@cedar-policy/cedar-wasm/nodejs';
