import type { PolicyEntity } from '../port.js';
import type { CedarValueJson, EntityJson } from './wasm.js';

/** A request value Cedar cannot represent faithfully; the evaluation becomes a deny carrying it. */
export class CedarValueError extends Error {
  override readonly name = 'CedarValueError';
}

/** Deeper than any JSON the edges accept (they bound nesting at 64); protects the recursion. */
const MAX_DEPTH = 64;
const DECIMAL = /^-?\d+\.\d{1,4}$/;
const ESCAPES = new Set(['__entity', '__extn', '__expr']);

/**
 * Converts a plain JSON value to Cedar's JSON value format: integers stay numbers (Long), arrays
 * become sets, non-integer numbers become `decimal` when they have at most 4 fractional digits,
 * `{ "__entity": … }` / `{ "__extn": … }` pass through as escapes.
 *
 * @throws CedarValueError for anything Cedar would store differently from what it was given.
 */
export function toCedarValue(value: unknown, path: string, depth = 0): CedarValueJson {
  if (depth > MAX_DEPTH) throw new CedarValueError(`${path}: nested too deeply`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return toCedarNumber(value, path);
    case 'object': {
      if (value === null) throw new CedarValueError(`${path}: null has no Cedar value`);
      if (Array.isArray(value)) return value.map((v, i) => toCedarValue(v, `${path}[${i}]`, depth + 1));
      return toCedarObject(value, path, depth);
    }
    default:
      throw new CedarValueError(`${path}: a ${typeof value} has no Cedar value`);
  }
}

/** Converts a record (context, entity attributes); `undefined` members are absent, as in JSON. */
export function toCedarRecord(record: unknown, path: string, depth = 0): Record<string, CedarValueJson> {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new CedarValueError(`${path}: expected a record`);
  }
  const out: Record<string, CedarValueJson> = {};
  for (const [key, v] of Object.entries(record)) {
    if (v !== undefined) out[key] = toCedarValue(v, `${path}.${key}`, depth + 1);
  }
  return out;
}

/** Converts the request's entities to Cedar's entity JSON. */
export function toCedarEntities(entities: readonly PolicyEntity[], actionType: string): EntityJson[] {
  return entities.map((e, i) => {
    const path = `entities[${i}]`;
    const uid = toRef(e.uid, `${path}.uid`);
    // SECURITY: fail closed — action groups come from the schema only. A caller-supplied action
    // entity could make `action in Action::"group"` true for an action the schema never put there.
    if (uid.type === actionType)
      throw new CedarValueError(`${path}: action entities come from the schema, not the request`);
    if (!Array.isArray(e.parents)) throw new CedarValueError(`${path}.parents: expected a list`);
    return {
      uid,
      attrs: toCedarRecord(e.attrs, `${path}.attrs`),
      parents: e.parents.map((p, j) => toRef(p, `${path}.parents[${j}]`)),
    };
  });
}

/** Checks an entity reference is two strings, and copies it so Cedar sees nothing else. */
export function toRef(ref: unknown, path: string): { type: string; id: string } {
  const r = ref as { type?: unknown; id?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.type !== 'string' || typeof r.id !== 'string') {
    throw new CedarValueError(`${path}: expected { type: string, id: string }`);
  }
  return { type: r.type, id: r.id };
}

function toCedarNumber(n: number, path: string): CedarValueJson {
  if (Number.isInteger(n)) {
    // SECURITY: fail closed — beyond 2^53 the number the caller meant is already lost.
    if (!Number.isSafeInteger(n)) throw new CedarValueError(`${path}: integer beyond ±(2^53−1)`);
    return Object.is(n, -0) ? 0 : n;
  }
  // String(n) is the shortest round-trip form, so "at most 4 fractional digits" is exact here;
  // anything else (more digits, exponent notation, NaN, Infinity) would be rounded by `decimal`.
  const text = String(n);
  if (!DECIMAL.test(text)) {
    throw new CedarValueError(
      `${path}: ${text} is not an integer or a decimal with at most 4 fractional digits`,
    );
  }
  return { __extn: { fn: 'decimal', arg: text } };
}

function toCedarObject(value: object, path: string, depth: number): CedarValueJson {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null)
    throw new CedarValueError(`${path}: not a plain JSON object`);
  const keys = Object.keys(value);
  if (keys.some((k) => ESCAPES.has(k))) {
    // SECURITY: fail closed — an escape key next to other keys reads one way to us and another to
    // Cedar; only the exact, well-formed escapes of the port pass.
    const v = value as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === '__entity')
      return { __entity: toRef(v['__entity'], `${path}.__entity`) };
    if (keys.length === 1 && keys[0] === '__extn')
      return { __extn: toExtension(v['__extn'], `${path}.__extn`) };
    throw new CedarValueError(`${path}: malformed Cedar escape (${keys.join(', ')})`);
  }
  return toCedarRecord(value, path, depth);
}

function toExtension(
  value: unknown,
  path: string,
): { fn: string; arg: CedarValueJson } | { fn: string; args: CedarValueJson[] } {
  const v = value as { fn?: unknown; arg?: unknown; args?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.fn !== 'string') {
    throw new CedarValueError(`${path}: expected { fn: string, arg | args }`);
  }
  if (typeof v.arg === 'string' && v.args === undefined) return { fn: v.fn, arg: v.arg };
  if (Array.isArray(v.args) && v.arg === undefined) {
    return { fn: v.fn, args: v.args.map((a, i) => toCedarValue(a, `${path}.args[${i}]`)) };
  }
  throw new CedarValueError(`${path}: expected { fn: string, arg: string } or { fn: string, args: [...] }`);
}
