import { ownValue, setOwn } from '../kernel/index.js';
import type { ArgType } from './port.js';

/** A type in Cedar's JSON schema format, loosely: only the fields read here. */
interface JsonType {
  type?: unknown;
  name?: unknown;
  element?: unknown;
  attributes?: unknown;
}

/** One namespace of Cedar's JSON schema format, loosely. */
interface JsonNamespace {
  commonTypes?: Record<string, unknown>;
  entityTypes?: Record<string, unknown>;
  actions?: Record<string, { appliesTo?: { context?: unknown } | null }>;
}

/** Deeper than any sensible schema; common types cannot recurse in Cedar, this guards anyway. */
const MAX_DEPTH = 32;

const BUILTIN: Record<string, ArgType> = {
  Long: { kind: 'long' },
  String: { kind: 'string' },
  Bool: { kind: 'bool' },
  Boolean: { kind: 'bool' },
  decimal: { kind: 'decimal' },
  ipaddr: { kind: 'extension', fn: 'ip' },
  datetime: { kind: 'extension', fn: 'datetime' },
  duration: { kind: 'extension', fn: 'duration' },
};

const qualify = (ns: string, name: string): string => (ns === '' ? name : `${ns}::${name}`);

const own = ownValue;

/** A built-in or extension type by name; `other` for any other name (an own key only). */
const builtin = (name: string): ArgType =>
  Object.hasOwn(BUILTIN, name) ? BUILTIN[name]! : { kind: 'other' };

/** What a schema in Cedar's JSON format declares, as Mandate checks values against it. */
export interface SchemaTypes {
  /** Per action declared outside any namespace (Mandate's convention): the type of `context.args`. */
  args: Map<string, ArgType>;
  /** Per entity type (its name qualified by its namespace): the record of its attributes. */
  entities: Map<string, ArgType>;
}

/**
 * The types a schema in Cedar's JSON format (what `schemaToJson` returns) declares for
 * `context.args` and for entities' attributes. Name resolution follows Cedar: a common type, then
 * an entity type, then a built-in, first in the namespace the name appears in, then in the empty
 * namespace. Engine independent, so every implementation of the port answers the same way.
 */
export function typesFromSchemaJson(schema: Record<string, unknown>): SchemaTypes {
  const namespaces = schema as Record<string, JsonNamespace | undefined>;
  const out = new Map<string, ArgType>();

  const resolveName = (name: string, ns: string, depth: number): ArgType => {
    const cut = name.lastIndexOf('::');
    if (cut >= 0) {
      const space = name.slice(0, cut);
      const base = name.slice(cut + 2);
      if (space === '__cedar') return builtin(base);
      const common = own(own(namespaces, space)?.commonTypes, base);
      if (common !== undefined) return resolve(common, space, depth + 1);
      if (own(own(namespaces, space)?.entityTypes, base) !== undefined) return { kind: 'entity', type: name };
      return { kind: 'other' };
    }
    for (const space of ns === '' ? [''] : [ns, '']) {
      const common = own(own(namespaces, space)?.commonTypes, name);
      if (common !== undefined) return resolve(common, space, depth + 1);
      if (own(own(namespaces, space)?.entityTypes, name) !== undefined)
        return { kind: 'entity', type: qualify(space, name) };
    }
    return builtin(name);
  };

  const resolve = (raw: unknown, ns: string, depth: number): ArgType => {
    if (depth > MAX_DEPTH || raw === null || typeof raw !== 'object') return { kind: 'other' };
    const t = raw as JsonType;
    switch (t.type) {
      case 'Long':
        return { kind: 'long' };
      case 'String':
        return { kind: 'string' };
      case 'Boolean':
        return { kind: 'bool' };
      case 'Set':
        return { kind: 'set', element: resolve(t.element, ns, depth + 1) };
      case 'Record': {
        const attributes: Record<string, ArgType> = {};
        const attrs = t.attributes;
        if (attrs !== null && typeof attrs === 'object') {
          // SECURITY: an own property, so an attribute named `__proto__` is declared (and checked)
          // like any other; an assignment would set the prototype and Object.entries skip it.
          for (const [k, v] of Object.entries(attrs as Record<string, unknown>))
            setOwn(attributes, k, resolve(v, ns, depth + 1));
        }
        return { kind: 'record', attributes };
      }
      case 'Extension':
        return typeof t.name === 'string' ? builtin(t.name) : { kind: 'other' };
      case 'Entity': {
        if (typeof t.name !== 'string') return { kind: 'other' };
        // A name without a namespace is the current namespace's entity type if it has one.
        const inNs = !t.name.includes('::') && own(own(namespaces, ns)?.entityTypes, t.name) !== undefined;
        return { kind: 'entity', type: inNs ? qualify(ns, t.name) : t.name };
      }
      case 'EntityOrCommon':
        return typeof t.name === 'string' ? resolveName(t.name, ns, depth) : { kind: 'other' };
      default:
        // `{ "type": "Ctx" }`: a common type named directly.
        return typeof t.type === 'string' ? resolveName(t.type, ns, depth) : { kind: 'other' };
    }
  };

  for (const [name, action] of Object.entries(namespaces['']?.actions ?? {})) {
    const context = action?.appliesTo?.context;
    if (context === undefined) continue;
    const ctx = resolve(context, '', 0);
    const args = ctx.kind === 'record' ? own(ctx.attributes, 'args') : undefined;
    if (args !== undefined) out.set(name, args);
  }
  const entities = new Map<string, ArgType>();
  for (const [ns, def] of Object.entries(namespaces)) {
    for (const [name, entity] of Object.entries(def?.entityTypes ?? {})) {
      const shape = (entity as { shape?: unknown } | null)?.shape;
      if (shape !== undefined) entities.set(qualify(ns, name), resolve(shape, ns, 0));
    }
  }
  return { args: out, entities };
}
