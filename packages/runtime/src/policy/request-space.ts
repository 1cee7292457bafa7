/**
 * The request space a semantic diff searches (issue 14 §1): for each action of a schema, Cedar
 * requests built from the schema's entity and context types, with values drawn from the constants
 * the policies mention (numbers and their neighbours, string literals, entity ids and groups).
 * Engine independent: it reads the schema in Cedar's JSON format and the policies' text.
 */
import { ownValue, setOwn } from '../kernel/index.js';
import type { EntityRef, PolicyEntity, PolicyRequest, PolicySetSource } from './port.js';

/** What a value of a schema type may be, as far as the search generates it. */
export type Shape =
  | { k: 'long' }
  | { k: 'string' }
  | { k: 'bool' }
  | { k: 'decimal' }
  | { k: 'set'; element: Shape }
  | { k: 'record'; attrs: { name: string; shape: Shape; required: boolean }[] }
  | { k: 'entity'; type: string }
  | { k: 'other' };

export interface ActionSpace {
  action: string;
  principalTypes: string[];
  resourceTypes: string[];
  context: Shape;
}

export interface Space {
  actions: ActionSpace[];
  /** Entity type → its attributes' shape and the types it may be a member of. */
  entities: Map<string, { shape: Shape; memberOf: string[] }>;
}

/** The constants of both policy sets: the values the search tries. */
export interface Constants {
  longs: number[];
  strings: string[];
  decimals: string[];
  entities: EntityRef[];
}

interface JsonNamespace {
  commonTypes?: Record<string, unknown>;
  entityTypes?: Record<string, { shape?: unknown; memberOfTypes?: string[] }>;
  actions?: Record<
    string,
    { appliesTo?: { principalTypes?: string[]; resourceTypes?: string[]; context?: unknown } | null }
  >;
}

const MAX_DEPTH = 16;

/** Reads the actions and entity types of a schema in Cedar's JSON format (Mandate: actions outside any namespace). */
export function readSpace(schemaJson: Record<string, unknown>): Space {
  const spaces = schemaJson as Record<string, JsonNamespace | undefined>;
  const qualify = (ns: string, name: string) => (ns === '' ? name : `${ns}::${name}`);

  const byName = (name: string, ns: string, depth: number): Shape => {
    const cut = name.lastIndexOf('::');
    const [space, base] = cut >= 0 ? [name.slice(0, cut), name.slice(cut + 2)] : [null, name];
    if (space === '__cedar') return builtin(base);
    for (const s of space !== null ? [space] : ns === '' ? [''] : [ns, '']) {
      const common = ownValue(spaces[s]?.commonTypes, base);
      if (common !== undefined) return shapeOf(common, s, depth + 1);
      if (ownValue(spaces[s]?.entityTypes, base) !== undefined)
        return { k: 'entity', type: qualify(s, base) };
    }
    return builtin(base);
  };
  const shapeOf = (raw: unknown, ns: string, depth: number): Shape => {
    if (depth > MAX_DEPTH || raw === null || typeof raw !== 'object') return { k: 'other' };
    const t = raw as { type?: unknown; name?: unknown; element?: unknown; attributes?: unknown };
    switch (t.type) {
      case 'Long':
      case 'String':
      case 'Boolean':
        return builtin(t.type);
      case 'Set':
        return { k: 'set', element: shapeOf(t.element, ns, depth + 1) };
      case 'Record': {
        const attrs = Object.entries((t.attributes ?? {}) as Record<string, { required?: boolean }>).map(
          ([name, a]) => ({ name, shape: shapeOf(a, ns, depth + 1), required: a.required !== false }),
        );
        return { k: 'record', attrs };
      }
      case 'Extension':
        return t.name === 'decimal' ? { k: 'decimal' } : { k: 'other' };
      case 'Entity':
        return typeof t.name === 'string' ? byNameEntity(t.name, ns) : { k: 'other' };
      case 'EntityOrCommon':
        return typeof t.name === 'string' ? byName(t.name, ns, depth) : { k: 'other' };
      default:
        return typeof t.type === 'string' ? byName(t.type, ns, depth) : { k: 'other' };
    }
  };
  const byNameEntity = (name: string, ns: string): Shape => ({
    k: 'entity',
    type: name.includes('::') || ns === '' ? name : qualify(ns, name),
  });

  const entities = new Map<string, { shape: Shape; memberOf: string[] }>();
  for (const [ns, def] of Object.entries(spaces)) {
    for (const [name, e] of Object.entries(def?.entityTypes ?? {})) {
      entities.set(qualify(ns, name), {
        shape: e.shape === undefined ? { k: 'record', attrs: [] } : shapeOf(e.shape, ns, 0),
        memberOf: (e.memberOfTypes ?? []).map((m) => (m.includes('::') || ns === '' ? m : qualify(ns, m))),
      });
    }
  }
  const actions: ActionSpace[] = [];
  for (const [action, a] of Object.entries(spaces['']?.actions ?? {})) {
    const applies = a?.appliesTo;
    if (!applies || !applies.principalTypes?.length || !applies.resourceTypes?.length) continue;
    actions.push({
      action,
      principalTypes: applies.principalTypes,
      resourceTypes: applies.resourceTypes,
      context: applies.context === undefined ? { k: 'record', attrs: [] } : shapeOf(applies.context, '', 0),
    });
  }
  return { actions, entities };
}

function builtin(name: string): Shape {
  if (name === 'Long') return { k: 'long' };
  if (name === 'String') return { k: 'string' };
  if (name === 'Bool' || name === 'Boolean') return { k: 'bool' };
  if (name === 'decimal') return { k: 'decimal' };
  return { k: 'other' };
}

const STRING = String.raw`"((?:[^"\\]|\\.)*)"`;
const ANNOTATION = new RegExp(String.raw`@[A-Za-z_]\w*\s*(?:\(\s*${STRING}\s*\))?`, 'g');
const ENTITY = new RegExp(String.raw`((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)\s*::\s*${STRING}`, 'g');
const DECIMAL = new RegExp(String.raw`decimal\s*\(\s*${STRING}\s*\)`, 'g');
const LITERAL = new RegExp(STRING, 'g');
const NUMBER = /(?<![\w.])-?\d+(?![\w.])/g;

const unescape = (s: string) => s.replace(/\\(.)/g, '$1');

/**
 * The constants of the policies' text: integers with their neighbours (c-1, c, c+1) and 0, string
 * literals plus one string none of them is, decimal literals, and the entity uids named (groups and
 * ids; never actions). Comments and annotations are not conditions and are left out.
 */
export function policyConstants(sources: readonly PolicySetSource[]): Constants {
  const longs = new Set<number>([0]);
  const strings = new Set<string>();
  const decimals = new Set<string>(['0.0']);
  const entities = new Map<string, EntityRef>();
  for (const source of sources) {
    for (const text of Object.values(source.policies)) {
      let rest = text.replace(/\/\/[^\n]*/g, '').replace(ANNOTATION, ' ');
      rest = rest.replace(ENTITY, (_m, type: string, id: string) => {
        if (type !== 'Action' && !type.endsWith('::Action'))
          entities.set(`${type}::${id}`, { type, id: unescape(id) });
        return ' ';
      });
      rest = rest.replace(DECIMAL, (_m, d: string) => {
        decimals.add(d);
        return ' ';
      });
      rest = rest.replace(LITERAL, (_m, s: string) => {
        strings.add(unescape(s));
        return ' ';
      });
      for (const m of rest.matchAll(NUMBER)) {
        const c = Number(m[0]);
        if (Number.isSafeInteger(c)) for (const v of [c - 1, c, c + 1]) longs.add(v);
      }
    }
  }
  let other = 'x';
  while (strings.has(other)) other += 'x';
  strings.add(other);
  const sorted = <T>(xs: Iterable<T>) => [...xs].sort();
  return {
    longs: [...longs].sort((a, b) => a - b),
    strings: sorted(strings),
    decimals: sorted(decimals),
    entities: [...entities.values()].sort((a, b) => (`${a.type}::${a.id}` < `${b.type}::${b.id}` ? -1 : 1)),
  };
}

/** Builds random requests of one action and principal type from the space and the constants. */
export function requestSampler(
  space: Space,
  constants: Constants,
  random: () => number,
): (action: ActionSpace, principalType: string) => PolicyRequest {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const idsOf = (type: string) => constants.entities.filter((e) => e.type === type).map((e) => e.id);
  // Policies compare attributes with each other (`principal.tenant == resource.tenant`): half the
  // strings of a request are one shared value, so such equalities hold often enough to be searched.
  let shared = constants.strings[0] ?? 'x';

  const value = (shape: Shape): unknown => {
    switch (shape.k) {
      case 'long':
        return pick(constants.longs);
      case 'string':
        return random() < 0.5 ? shared : pick(constants.strings);
      case 'bool':
        return random() < 0.5;
      case 'decimal':
        return { __extn: { fn: 'decimal', arg: pick(constants.decimals) } };
      case 'set': {
        const n = Math.floor(random() * 3);
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(value(shape.element));
        return out;
      }
      case 'record':
        return record(shape);
      case 'entity':
        return { __entity: { type: shape.type, id: pick([...idsOf(shape.type), 'e']) } };
      default:
        return undefined;
    }
  };
  const record = (shape: Shape): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (shape.k !== 'record') return out;
    for (const a of shape.attrs) {
      if (!a.required && random() < 0.5) continue;
      const v = value(a.shape);
      if (v !== undefined) setOwn(out, a.name, v);
    }
    return out;
  };
  const entity = (type: string, fallbackId: string): PolicyEntity => {
    const decl = space.entities.get(type);
    const parents = constants.entities.filter(
      (g) => (decl?.memberOf ?? []).includes(g.type) && random() < 0.5,
    );
    return {
      uid: { type, id: pick([...idsOf(type), fallbackId]) },
      attrs: decl ? record(decl.shape) : {},
      parents,
    };
  };

  return (action, principalType) => {
    shared = pick(constants.strings);
    const principal = entity(principalType, 'p');
    const resource = entity(pick(action.resourceTypes), 'r');
    // Groups named by the policies are entities of the request too (membership is by uid).
    const groups = constants.entities
      .filter((g) =>
        [...principal.parents, ...resource.parents].some((p) => p.type === g.type && p.id === g.id),
      )
      .map((g): PolicyEntity => ({ uid: g, attrs: {}, parents: [] }));
    return {
      principal: principal.uid,
      action: action.action,
      resource: resource.uid,
      context: record(action.context),
      entities: [principal, resource, ...groups],
    };
  };
}

/**
 * Requests one value away from `req`: each integer replaced by every integer constant, each string
 * by every string constant, in the context and in the principal's and resource's attributes. The
 * search walks these around requests some policy already permits, where the boundaries are.
 */
export function* neighbours(req: PolicyRequest, constants: Constants): Generator<PolicyRequest> {
  const roots: { get: (r: PolicyRequest) => Record<string, unknown> }[] = [
    { get: (r) => r.context },
    { get: (r) => r.entities[0]!.attrs },
    { get: (r) => r.entities[1]!.attrs },
  ];
  for (const root of roots) {
    for (const path of leafPaths(root.get(req), [])) {
      const current = valueAt(root.get(req), path);
      const options: readonly unknown[] =
        typeof current === 'number' ? constants.longs : typeof current === 'string' ? constants.strings : [];
      for (const v of options) {
        if (v === current) continue;
        const next = structuredClone(req);
        setAt(root.get(next), path, v);
        yield next;
      }
    }
  }
}

/** Paths to the integer and string leaves of a value (not into entity references or extension values). */
function leafPaths(value: unknown, path: (string | number)[]): (string | number)[][] {
  if (typeof value === 'number' || typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => leafPaths(v, [...path, i]));
  if (typeof value !== 'object' || value === null) return [];
  if ('__entity' in value || '__extn' in value) return [];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...path, k]));
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}

function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = value;
}
