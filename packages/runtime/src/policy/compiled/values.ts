/**
 * Cedar values as the compiled evaluator sees them: exactly the Cedar JSON the cedar-wasm path
 * hands to Cedar (policy/cedar/values.ts makes it), so no request value is converted twice.
 *
 * - `boolean` Bool, `number` Long (always a safe integer here, see {@link longResult}), `string`
 * - an array is a Set (duplicates allowed; equality and membership treat it as a set)
 * - `{ __entity: { type, id } }` an entity reference, `{ __extn: { fn: 'decimal', arg } }` a decimal
 *   (equal to no value of another type; compared with another extension value only by cedar-wasm)
 * - any other plain object a Record
 *
 * Two exceptions leave an evaluation: {@link EvalError} is a Cedar evaluation error (the policy
 * errors, as in Cedar); {@link Fallback} means "this needs something the compiled evaluator does not
 * do exactly" — the whole request is then evaluated by cedar-wasm. Never a guess.
 */

export interface Ref {
  type: string;
  id: string;
}

export interface EntityValue {
  __entity: Ref;
}

/** A Cedar evaluation error inside one policy. */
export class EvalError extends Error {
  override readonly name = 'EvalError';
}

/** The request must be answered by cedar-wasm (a construct or value not handled exactly here). */
export class Fallback extends Error {
  override readonly name = 'Fallback';
}

export type Kind = 'bool' | 'long' | 'string' | 'set' | 'entity' | 'ext' | 'record';

export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return 'long';
    case 'string':
      return 'string';
    default:
      if (Array.isArray(v)) return 'set';
      if (Object.hasOwn(v as object, '__entity')) return 'entity';
      if (Object.hasOwn(v as object, '__extn')) return 'ext';
      return 'record';
  }
}

export function isEntity(v: unknown): v is EntityValue {
  return typeof v === 'object' && v !== null && Object.hasOwn(v, '__entity');
}

export function refOf(v: unknown, what: string): Ref {
  if (!isEntity(v)) throw new EvalError(`${what}: expected an entity, got ${kindOf(v)}`);
  return v.__entity;
}

export function sameRef(a: Ref, b: Ref): boolean {
  return a.id === b.id && a.type === b.type;
}

export function asBool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new EvalError(`${what}: expected a boolean, got ${kindOf(v)}`);
  return v;
}

export function asLong(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  // SECURITY: never guess — Cedar compares some extension values with `<` (datetime, duration, …).
  if (kindOf(v) === 'ext') throw new Fallback(`${what} on an extension value`);
  throw new EvalError(`${what}: expected a long, got ${kindOf(v)}`);
}

export function asSet(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new EvalError(`${what}: expected a set, got ${kindOf(v)}`);
  return v;
}

export function asString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new EvalError(`${what}: expected a string, got ${kindOf(v)}`);
  return v;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * The result of `+`, `-` or `*` on two safe integers. A double result that is a safe integer is
 * exact (rounding is monotone and 2^53 is representable); otherwise the exact result is computed:
 * outside 64 bits it is Cedar's overflow error, inside it is a Long this evaluator does not carry
 * (beyond 2^53), so cedar-wasm answers.
 */
export function longResult(approx: number, exact: () => bigint, op: string): number {
  if (Number.isSafeInteger(approx)) return approx === 0 ? 0 : approx;
  const r = exact();
  if (r < I64_MIN || r > I64_MAX) throw new EvalError(`integer overflow in ${op}`);
  throw new Fallback(`a Long beyond 2^53 (${op})`);
}

/** Cedar `==`: structural, never an error; values of different types are different. */
export function valueEq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = kindOf(a);
  if (ka !== kindOf(b)) return false;
  switch (ka) {
    case 'set':
      return subset(a as unknown[], b as unknown[]) && subset(b as unknown[], a as unknown[]);
    case 'entity':
      return sameRef((a as EntityValue).__entity, (b as EntityValue).__entity);
    case 'ext':
      // Two extension values (a decimal in the request and one from a record or set): cedar-wasm.
      throw new Fallback('comparison of extension values');
    default: {
      const ra = a as Record<string, unknown>;
      const rb = b as Record<string, unknown>;
      const keys = Object.keys(ra);
      if (keys.length !== Object.keys(rb).length) return false;
      for (const k of keys) if (!Object.hasOwn(rb, k) || !valueEq(ra[k], rb[k])) return false;
      return true;
    }
  }
}

export function setHas(set: readonly unknown[], v: unknown): boolean {
  for (const x of set) if (valueEq(x, v)) return true;
  return false;
}

/**
 * Most element comparisons one set operation may cost here (sets are arrays, compared pairwise).
 * SECURITY: two large sets from a request would make `==` or `containsAll` quadratic; Cedar hashes
 * its sets, so such operations go to cedar-wasm instead of becoming a denial of service.
 */
export const MAX_SET_WORK = 4096;

export function checkSetWork(a: readonly unknown[], b: readonly unknown[]): void {
  if (a.length * b.length > MAX_SET_WORK) throw new Fallback('large sets');
}

function subset(a: readonly unknown[], b: readonly unknown[]): boolean {
  checkSetWork(a, b);
  for (const x of a) if (!setHas(b, x)) return false;
  return true;
}

/**
 * A decimal argument (in the request) the evaluator is sure Cedar parses the same way: at most 14
 * integer digits keeps it far inside Cedar's 64-bit range; the rest goes to cedar-wasm.
 */
export const DECIMAL_ARG = /^-?\d{1,14}\.\d{1,4}$/;

/** `like` over Unicode code points (Cedar compares chars); -1 is the wildcard. */
export function likeMatch(text: string, pattern: readonly number[]): boolean {
  const s = Array.from(text, (c) => c.codePointAt(0)!);
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    if (j < pattern.length && pattern[j] !== -1 && pattern[j] === s[i]) {
      i++;
      j++;
    } else if (j < pattern.length && pattern[j] === -1) {
      star = j++;
      mark = i;
    } else if (star !== -1) {
      j = star + 1;
      i = ++mark;
    } else return false;
  }
  while (j < pattern.length && pattern[j] === -1) j++;
  return j === pattern.length;
}
