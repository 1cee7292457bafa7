/**
 * The request conversion of the compiled evaluator's fast path: in one walk, what
 * policy/cedar/values.ts (`toCedarRecord`, `toCedarEntities`) makes of the request, and what
 * request.ts's scan checks of it, without a path or an exception per value.
 *
 * It handles the common case only and gives up — `undefined` — on anything else: then the request
 * takes the general path, which converts it again with the reference conversion (and its exact
 * error) and scans it. So its output, when it has one, is exactly the reference conversion's output
 * (the same keys in the same order, the same values), and holds nothing the scan would refuse.
 * Tests hold it to that (test/policy/compiled-fast.test.ts).
 */
import type { EntityJson } from '../cedar/wasm.js';
import type { PolicyEntity } from '../port.js';
import { DECIMAL_ARG, type Ref } from './values.js';
import { plainTypeName } from './request.js';
import { uidKey } from '../cedar/entities.js';

/** Up to this many entities, duplicate uids are looked for by comparing each pair. */
const PAIRWISE_UIDS = 16;

/** values.ts's bound on nesting; deeper values take the general path (which refuses them). */
const MAX_DEPTH = 64;

/** Thrown inside this module only: "not the common case", caught by {@link convertPlain}. */
const GIVE_UP: unique symbol = Symbol('give up');

export interface PlainRequest {
  context: Record<string, unknown>;
  entities: EntityJson[];
}

/**
 * The request's context and entities converted as the reference conversion converts them, then
 * narrowed as the cedar-wasm path narrows them for a slice reading attribute `names` (the
 * context's top-level keys unless `wholeContext`, each entity's attributes): a value under another
 * name is only checked, not copied — the policies cannot read it. Every value and reference also
 * passes the compiled evaluator's scan. Undefined when the general path must do it (any value it
 * would refuse or convert specially, any escape other than a plain entity reference, a `__proto__`
 * key, an action entity, a type name the scan refuses).
 */
export function convertPlain(
  context: unknown,
  entities: readonly PolicyEntity[],
  actionType: string,
  names: ReadonlySet<string>,
  wholeContext: boolean,
): PlainRequest | undefined {
  try {
    if (!Array.isArray(entities)) return undefined;
    const converted: EntityJson[] = new Array<EntityJson>(entities.length);
    for (let i = 0; i < entities.length; i++) {
      const e = entities[i] as PolicyEntity | null;
      if (typeof e !== 'object' || e === null || !Array.isArray(e.parents)) return undefined;
      const uid = ref(e.uid);
      // SECURITY: action entities come from the schema only; the general path refuses them.
      if (uid.type === actionType) return undefined;
      const attrs = record(e.attrs, names);
      const parents = e.parents.map(ref);
      converted[i] = { uid, attrs, parents } as EntityJson;
    }
    return { context: record(context, wholeContext ? 'all' : names), entities: converted };
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/** Two entities with one uid (the general path refuses the request, naming them). */
export function hasDuplicateUid(entities: readonly EntityJson[]): boolean {
  if (entities.length > PAIRWISE_UIDS) {
    // Many entities: a set of uid keys, not a quadratic comparison.
    const keys = new Set<string>();
    for (const e of entities) {
      const uid = e.uid as Ref;
      const key = uidKey(uid.type, uid.id);
      if (keys.has(key)) return true;
      keys.add(key);
    }
    return false;
  }
  for (let i = 1; i < entities.length; i++) {
    const a = entities[i]!.uid as Ref;
    for (let j = 0; j < i; j++) {
      const b = entities[j]!.uid as Ref;
      if (a.id === b.id && a.type === b.type) return true;
    }
  }
  return false;
}

function ref(r: unknown): Ref {
  const o = r as { type?: unknown; id?: unknown } | null;
  if (typeof o !== 'object' || o === null) throw GIVE_UP;
  const { type, id } = o;
  if (typeof type !== 'string' || typeof id !== 'string') throw GIVE_UP;
  if (!id.isWellFormed() || !plainTypeName(type)) throw GIVE_UP;
  return { type, id };
}

/** Which fields of a record are copied; the others are only checked. */
type Keep = ReadonlySet<string> | 'all' | 'none';

/** A context or an entity's attributes: the keys in `keep` copied, the rest checked. */
function record(r: unknown, keep: Keep): Record<string, unknown> {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw GIVE_UP;
  // The reference conversion copies an escape key of a top-level record as an attribute, while
  // the scan reads the record as an escape: `fields` leaves it to the general path.
  return fields(r as Record<string, unknown>, Object.keys(r), 0, keep)!;
}

function isEscape(k: string): boolean {
  return k === '__entity' || k === '__extn' || k === '__expr';
}

/** The record's fields converted (those `keep` names; undefined for 'none'), the rest checked. */
function fields(
  r: Record<string, unknown>,
  keys: readonly string[],
  depth: number,
  keep: Keep,
): Record<string, unknown> | undefined {
  const out: Record<string, unknown> | undefined = keep === 'none' ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // `__entity`, `__extn`, `__expr`, `__proto__`: the general path decides.
    if (key.charCodeAt(0) === 95 && key.charCodeAt(1) === 95 && (isEscape(key) || key === '__proto__'))
      throw GIVE_UP;
    const v = r[key];
    if (v === undefined) continue;
    if (!key.isWellFormed()) throw GIVE_UP;
    if (out !== undefined && (keep === 'all' || (keep as ReadonlySet<string>).has(key)))
      out[key] = value(v, depth + 1, true);
    else value(v, depth + 1, false);
  }
  return out;
}

/** The converted value; with `copy` false only checked (and undefined returned). */
function value(v: unknown, depth: number, copy: boolean): unknown {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  switch (typeof v) {
    case 'string':
      if (!v.isWellFormed()) throw GIVE_UP;
      return v;
    case 'boolean':
      return v;
    case 'number': {
      if (Number.isSafeInteger(v)) return v === 0 ? 0 : v;
      if (Number.isInteger(v)) throw GIVE_UP;
      // A decimal as the reference conversion writes it, and one the scan lets through.
      const text = String(v);
      if (!DECIMAL_ARG.test(text)) throw GIVE_UP;
      return copy ? { __extn: { fn: 'decimal', arg: text } } : undefined;
    }
    case 'object': {
      if (v === null) throw GIVE_UP;
      if (Array.isArray(v)) {
        const out = copy ? new Array<unknown>(v.length) : undefined;
        for (let i = 0; i < v.length; i++) {
          const x = value(v[i], depth + 1, copy);
          if (out !== undefined) out[i] = x;
        }
        return out;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) throw GIVE_UP;
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '__entity') {
        const target = ref((v as { __entity: unknown }).__entity);
        return copy ? { __entity: target } : undefined;
      }
      return fields(v as Record<string, unknown>, keys, depth, copy ? 'all' : 'none');
    }
    default:
      throw GIVE_UP;
  }
}
