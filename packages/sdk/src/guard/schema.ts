import { MandateApiError } from '../errors.js';
import { canonicalJson } from './canonical.js';

/**
 * Whether `value` is JSON as it is — what a decision carries: plain objects, arrays, strings,
 * finite numbers, booleans and null; no `undefined`, no `Date`, `URL` or other class instance.
 */
export function isPlainJson(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      // Array.from turns a hole into undefined: refused, as JSON would turn it into null.
      if (Array.isArray(value)) return Array.from(value).every(isPlainJson);
      const proto: unknown = Object.getPrototypeOf(value);
      return (proto === Object.prototype || proto === null) && Object.values(value).every(isPlainJson);
    }
    default:
      return false;
  }
}

/**
 * The args as the tool's schema parses them (defaults, trimming, transforms applied): what is
 * decided, when the adapter sees the schema. Refused unless a plain JSON object.
 */
export function schemaArgs(action: string, parsed: unknown): Record<string, unknown> {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !isPlainJson(parsed)) {
    throw new MandateApiError(
      'invalid_args',
      `the tool's schema turns the args of ${action} into something a decision cannot carry (not a plain JSON object); nothing ran`,
    );
  }
  return parsed as Record<string, unknown>;
}

/**
 * SECURITY: what was checked is what runs — the framework parses the decided args again inside the
 * body with the tool's schema (trim, lower-case, defaults, transforms). They must come out of that
 * parse exactly as decided, as plain JSON, or the body does not run.
 */
export function assertAsDecided(action: string, decided: Record<string, unknown>, parsed: unknown): void {
  if (!isPlainJson(parsed) || canonicalJson(parsed) !== canonicalJson(decided)) {
    throw new MandateApiError(
      'invalid_args',
      `the tool's schema changes the decided args of ${action} (a default, a normalisation or a transform that is not idempotent); the tool did not run`,
    );
  }
}
