/** Entities as the cedar-wasm path sends them: only what Cedar can reach from the request. */
import type { EntityJson } from './wasm.js';
import { pickNames } from '../attributes.js';

/** The uid key of an entity reference, unambiguous for any strings. */
export function uidKey(type: string, id: string): string {
  return `${type.length}:${type}${id}`;
}

/**
 * Entity references inside a Cedar JSON value: `{ "__entity": { type, id } }`, and, conservatively,
 * any `{ type, id }` record (which some Cedar parsers read as an implicit reference).
 */
export function entityRefsIn(
  value: unknown,
  out: { type: string; id: string }[] = [],
): { type: string; id: string }[] {
  if (Array.isArray(value)) {
    for (const v of value) entityRefsIn(v, out);
  } else if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const esc = o.__entity as { type?: unknown; id?: unknown } | undefined;
    if (esc && typeof esc.type === 'string' && typeof esc.id === 'string')
      out.push({ type: esc.type, id: esc.id });
    else if (typeof o.type === 'string' && typeof o.id === 'string') out.push({ type: o.type, id: o.id });
    for (const v of Object.values(o)) entityRefsIn(v, out);
  }
  return out;
}

/** The request's entities by uid key (the request was checked for duplicate uids). */
export function indexEntities(entities: readonly EntityJson[]): Map<string, EntityJson> {
  const byUid = new Map<string, EntityJson>();
  for (const e of entities) {
    const uid = e.uid as { type: string; id: string };
    byUid.set(uidKey(uid.type, uid.id), e);
  }
  return byUid;
}

/**
 * The entities Cedar can reach from the request — principal, resource and references in the sent
 * context, then parents and references in the sent attributes (`names`), transitively. An entity
 * Cedar cannot reach cannot change its answer; not sending it saves crossing into wasm. The
 * compiled evaluator uses the same set, so both engines see the same entities.
 */
export function reachable(
  byUid: ReadonlyMap<string, EntityJson>,
  roots: readonly { type: string; id: string }[],
  names: ReadonlySet<string>,
): EntityJson[] {
  const out: EntityJson[] = [];
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const ref = stack.pop()!;
    const key = uidKey(ref.type, ref.id);
    if (seen.has(key)) continue;
    seen.add(key);
    const e = byUid.get(key);
    if (e === undefined) continue;
    out.push(e);
    for (const p of e.parents) stack.push(p as { type: string; id: string });
    entityRefsIn(pickNames(e.attrs, names), stack);
  }
  return out;
}

/** {@link reachable}, each with only the attributes the slice reads (what is sent to Cedar). */
export function reachableEntities(
  entities: readonly EntityJson[],
  roots: readonly { type: string; id: string }[],
  names: ReadonlySet<string>,
): EntityJson[] {
  return reachable(indexEntities(entities), roots, names).map((e) => ({
    ...e,
    attrs: pickNames(e.attrs, names) as EntityJson['attrs'],
  }));
}
