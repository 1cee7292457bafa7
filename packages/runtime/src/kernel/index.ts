export { MandateError, assertNever, isMandateError } from './errors.js';
export { createPrng } from './prng.js';
export { latestFlight, singleFlight } from './single-flight.js';
export { createManualClock, isoTimeOrNull, systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { newId } from './ids.js';
export { createJsonLogger, silentLogger } from './logger.js';
export type { LogLevel, Logger } from './logger.js';
export { canonicalize } from './canonical.js';
export { decodeUtf8Strict, ownValue, parseJsonStrict, protoKeyPath, recordedReason, setOwn } from './json.js';
export {
  HIDDEN_KINDS,
  HIDDEN_MARKER,
  displayJson,
  displayLine,
  escapeForDisplay,
  escapeForTerminal,
  flagged,
} from '@mandate/protocol/display';
export type { DisplayText, HiddenKind } from '@mandate/protocol/display';
export type { StrictJsonOptions } from './json.js';
export { hmacSha256Hex, safeEqual, sha256Hex } from './crypto.js';
export { MAX_DURATION_MS, parseDuration } from './duration.js';
export { createKeyedSerial } from './serial.js';
export { isPathKey, keyPath } from './key-path.js';
export type { KeyedSerial } from './serial.js';
export { createRateLimiter } from './rate-limit.js';
export type { RateLimit } from './rate-limit.js';
export { sleepUnlessAborted } from './sleep.js';
export { NODE_PAGE_RECORDS, createPacer, yieldToLoop } from './pace.js';
export type { Pacer } from './pace.js';
export { foldKey } from './fold.js';
