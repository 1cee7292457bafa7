import type { PolicyEntity } from '../port.js';
import type { CedarValueJson, EntityJson } from './wasm.js';
import { setOwn } from '../../kernel/index.js';

/** A request value Cedar cannot represent faithfully; the evaluation becomes a deny carrying it. */
export class CedarValueError extends Error {
  override readonly name = 'CedarValueError';
}

/** Deeper than any JSON the edges accept (they bound nesting at 64); protects the recursion. */
const MAX_DEPTH = 64;
const DECIMAL = /^-?\d+\.\d{1,4}$/;
const ESCAPES = new Set(['__entity', '__extn', '__expr']);
/**
 * SECURITY: a string with a lone surrogate has no UTF-8 form. cedar-wasm fails on each such call,
 * and after about a thousand of those failures its instance traps ("memory access out of bounds")
 * on every later call — every decision of the process denies. Such strings never reach it.
 */
const LONE_SURROGATE = 'a string with a lone surrogate (not well-formed UTF-16) has no Cedar value';

/**
 * A problem found below some value, with the path from that value (`.a[2]`); the exported
 * functions turn it into a {@link CedarValueError} naming the whole path. Paths are built only when
 * something is wrong: the conversion sits on every decision.
 */
class Problem {
  constructor(
    public suffix: string,
    readonly message: string,
  ) {}
}

/** Prefixes a {@link Problem}'s path with one more segment (called only on the error path). */
function under(err: unknown, segment: string): unknown {
  if (err instanceof Problem) err.suffix = segment + err.suffix;
  return err;
}

function located<T>(path: string, convert: () => T): T {
  try {
    return convert();
  } catch (err) {
    if (err instanceof Problem) throw new CedarValueError(`${path}${err.suffix}: ${err.message}`);
    throw err;
  }
}

/**
 * Converts a plain JSON value to Cedar's JSON value format: integers stay numbers (Long), arrays
 * become sets, non-integer numbers become `decimal` when they have at most 4 fractional digits,
 * `{ "__entity": … }` / `{ "__extn": … }` pass through as escapes.
 *
 * @throws CedarValueError for anything Cedar would store differently from what it was given.
 */
export function toCedarValue(value: unknown, path: string, depth = 0): CedarValueJson {
  return located(path, () => value_(value, depth));
}

/** Converts a record (context, entity attributes); `undefined` members are absent, as in JSON. */
export function toCedarRecord(record: unknown, path: string, depth = 0): Record<string, CedarValueJson> {
  return located(path, () => record_(record, depth));
}

/** Converts the request's entities to Cedar's entity JSON. */
export function toCedarEntities(entities: readonly PolicyEntity[], actionType: string): EntityJson[] {
  return entities.map((e, i) => {
    try {
      return entity_(e, actionType);
    } catch (err) {
      if (err instanceof Problem) throw new CedarValueError(`entities[${i}]${err.suffix}: ${err.message}`);
      throw err;
    }
  });
}

function entity_(e: PolicyEntity, actionType: string): EntityJson {
  let uid: { type: string; id: string };
  try {
    uid = ref_(e.uid);
  } catch (err) {
    throw under(err, '.uid');
  }
  // SECURITY: fail closed — action groups come from the schema only. A caller-supplied action
  // entity could make `action in Action::"group"` true for an action the schema never put there.
  if (uid.type === actionType) throw new Problem('', 'action entities come from the schema, not the request');
  if (!Array.isArray(e.parents)) throw new Problem('.parents', 'expected a list');
  let attrs: Record<string, CedarValueJson>;
  try {
    attrs = record_(e.attrs, 0);
  } catch (err) {
    throw under(err, '.attrs');
  }
  const parents = e.parents.map((p, j) => {
    try {
      return ref_(p);
    } catch (err) {
      throw under(err, `.parents[${j}]`);
    }
  });
  return { uid, attrs, parents };
}

/** Checks an entity reference is two strings, and copies it so Cedar sees nothing else. */
export function toRef(ref: unknown, path: string): { type: string; id: string } {
  return located(path, () => ref_(ref));
}

function ref_(ref: unknown): { type: string; id: string } {
  const r = ref as { type?: unknown; id?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.type !== 'string' || typeof r.id !== 'string') {
    throw new Problem('', 'expected { type: string, id: string }');
  }
  if (!r.type.isWellFormed() || !r.id.isWellFormed()) throw new Problem('', LONE_SURROGATE);
  return { type: r.type, id: r.id };
}

function value_(value: unknown, depth: number): CedarValueJson {
  if (depth > MAX_DEPTH) throw new Problem('', 'nested too deeply');
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new Problem('', LONE_SURROGATE);
      return value;
    case 'boolean':
      return value;
    case 'number':
      return number_(value);
    case 'object': {
      if (value === null) throw new Problem('', 'null has no Cedar value');
      if (Array.isArray(value))
        return value.map((v, i) => {
          try {
            return value_(v, depth + 1);
          } catch (err) {
            throw under(err, `[${i}]`);
          }
        });
      return object_(value, depth);
    }
    default:
      throw new Problem('', `a ${typeof value} has no Cedar value`);
  }
}

function record_(record: unknown, depth: number): Record<string, CedarValueJson> {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new Problem('', 'expected a record');
  }
  const out: Record<string, CedarValueJson> = {};
  for (const [key, v] of Object.entries(record)) {
    if (v === undefined) continue;
    if (!key.isWellFormed()) throw new Problem('', `key ${JSON.stringify(key)}: ${LONE_SURROGATE}`);
    try {
      setOwn(out, key, value_(v, depth + 1));
    } catch (err) {
      throw under(err, `.${key}`);
    }
  }
  return out;
}

function number_(n: number): CedarValueJson {
  if (Number.isInteger(n)) {
    // SECURITY: fail closed — beyond 2^53 the number the caller meant is already lost.
    if (!Number.isSafeInteger(n)) throw new Problem('', 'integer beyond ±(2^53−1)');
    return Object.is(n, -0) ? 0 : n;
  }
  // String(n) is the shortest round-trip form, so "at most 4 fractional digits" is exact here;
  // anything else (more digits, exponent notation, NaN, Infinity) would be rounded by `decimal`.
  const text = String(n);
  if (!DECIMAL.test(text)) {
    // The value is not named: the message can reach a recorded refusal (typed-args.ts).
    throw new Problem('', 'a number that is not an integer or a decimal with at most 4 fractional digits');
  }
  return { __extn: { fn: 'decimal', arg: text } };
}

function object_(value: object, depth: number): CedarValueJson {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new Problem('', 'not a plain JSON object');
  const keys = Object.keys(value);
  if (keys.some((k) => ESCAPES.has(k))) {
    // SECURITY: fail closed — an escape key next to other keys reads one way to us and another to
    // Cedar; only the exact, well-formed escapes of the port pass.
    const v = value as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === '__entity') {
      try {
        return { __entity: ref_(v['__entity']) };
      } catch (err) {
        throw under(err, '.__entity');
      }
    }
    if (keys.length === 1 && keys[0] === '__extn') return { __extn: extension_(v['__extn']) };
    throw new Problem('', `malformed Cedar escape (${keys.join(', ')})`);
  }
  return record_(value, depth);
}

function extension_(
  value: unknown,
): { fn: string; arg: CedarValueJson } | { fn: string; args: CedarValueJson[] } {
  const v = value as { fn?: unknown; arg?: unknown; args?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.fn !== 'string') {
    throw new Problem('.__extn', 'expected { fn: string, arg | args }');
  }
  if (typeof v.arg === 'string' && v.args === undefined) return { fn: v.fn, arg: v.arg };
  if (Array.isArray(v.args) && v.arg === undefined) {
    const fn = v.fn;
    return {
      fn,
      args: v.args.map((a, i) => {
        try {
          return value_(a, 0);
        } catch (err) {
          throw under(err, `.__extn.args[${i}]`);
        }
      }),
    };
  }
  throw new Problem('.__extn', 'expected { fn: string, arg: string } or { fn: string, args: [...] }');
}
