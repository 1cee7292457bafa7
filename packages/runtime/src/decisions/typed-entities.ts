import type { ArgType, CompiledPolicySet, PolicyEntity } from '../policy/port.js';

/**
 * The first attribute of the entities a decision hands the engine whose value is of another type
 * than the schema declares for it, as a sentence naming it; null when every one conforms.
 *
 * SECURITY: Cedar compares values of different types as unequal without an error, so a forbid
 * `principal.tenant == "evil"` did not fire for a stored `["evil"]`, in either engine: entity data
 * was never checked against the schema (args are since ADR 0036). Cedar's own entity validation
 * refuses such data; here the decision is denied (`invalid_entity`) naming the attribute. Checked
 * at each decision against the set in force, so data stored before a schema changed is caught too.
 * Only declared attributes of present values are checked: a strictly validated policy cannot read
 * an undeclared one, and an absent one is the policy's to test with `has`. Inside a record the
 * schema declares (an attribute's value, nested, in a set), an attribute it does not declare is a
 * mismatch too, as Cedar's entity validation has it: the extra key made the record unequal to the
 * one a policy names, so `principal.profile == {"level": 1, "team": "red"}` did not fire for a
 * stored `{"level": 1, "team": "red", "since": 2020}`.
 */
export function entityTypeFault(set: CompiledPolicySet, entities: readonly PolicyEntity[]): string | null {
  const parented = (type: string) => set.entityParentTypes(type).length > 0;
  for (const e of entities) {
    const shape = set.entityShape(e.uid.type);
    if (shape === undefined || shape.kind !== 'record') continue;
    // Own keys, as the engine is handed them (entity attributes from JSON hold no inherited ones).
    for (const name of Object.keys(e.attrs)) {
      const type = Object.hasOwn(shape.attributes, name) ? shape.attributes[name] : undefined;
      const value = e.attrs[name];
      // Undefined is absent (JSON has no such value; a canonical record drops the key).
      if (type === undefined || value === undefined) continue;
      const fault = valueFault(value, type, parented);
      if (fault === null) continue;
      const where = `entity ${e.uid.type}::${JSON.stringify(e.uid.id)} attribute ${name}${fault.path}`;
      if (fault.parented)
        return `${where}: names an entity of type ${fault.parented}, which the policy schema declares with parent types, but an entity named in an attribute reaches the engine without parents, so \`in\` on it would never hold — declare the attribute a String and compare ids`;
      return fault.undeclared
        ? `${where}: not declared by the policy schema`
        : `${where}: the policy schema declares ${fault.declared}; got ${kindOf(fault.value)}`;
    }
  }
  return null;
}

/**
 * Why the resource a decision hands the engine lacks parents its schema type declares, as a
 * sentence; null when it has every parent type the schema names for it.
 *
 * SECURITY: Mandate loads no parents for a stored resource (the entity API takes none) nor for the
 * `Tool` stand-in of a call without a resource; only a path resource gets parents, its folders of
 * the tool's `paths.folderType`, each in the next one up. A schema declaring `entity Doc in [Dir]`
 * validated `forbid (principal, action, resource in Dir::"secret")`, and for a stored `Doc` that
 * forbid never fired (validation cannot tell a stored resource's type from a path resource's: the
 * tools say which). Such a decision is denied (`invalid_entity`) instead: fail closed, naming the
 * schema's mistake. `folders` is the tool's folder type when the resource is a path.
 */
export function unloadedParentsFault(
  set: CompiledPolicySet,
  resource: { type: string; id: string },
  folders: { type: string } | undefined,
): string | null {
  const loaded = folders?.type;
  const missing = (type: string) => set.entityParentTypes(type).filter((t) => t !== loaded);
  const fromResource = missing(resource.type);
  if (fromResource.length > 0) {
    const what =
      loaded === undefined
        ? `Mandate loads no parents for a ${resource.type === 'Tool' ? 'call without a resource (Tool)' : 'stored resource'}`
        : `this resource is a path whose folders are ${loaded} entities`;
    return `resource ${resource.type}::${JSON.stringify(resource.id)}: the policy schema declares parent types (in [${fromResource.join(', ')}]) for ${resource.type}, but ${what}, so \`in\` on them would never hold; declare parents only on a tool's path resource type and its paths.folderType`;
  }
  if (loaded !== undefined) {
    const fromFolder = missing(loaded);
    if (fromFolder.length > 0)
      return `folder type ${loaded}: the policy schema declares parent types (in [${fromFolder.join(', ')}]) for ${loaded}, but a folder's only parent is the folder above it, so \`in\` on them would never hold`;
  }
  return null;
}

interface Fault {
  path: string;
  declared: string;
  value: unknown;
  /** The attribute at `path` is one the record type the schema declares does not have. */
  undeclared?: true;
  /**
   * SECURITY: the value names an entity of this type, which the schema declares with parent types;
   * such a reference reaches Cedar without parents (Mandate loads none for it), so with `entity
   * Dir in [Dir]; entity Job { workdir: Dir }` a forbid `resource.workdir in Dir::"/srv/secret"`
   * never fired for a job in /srv/secret/keys (a re-probe of the resource's own parents check).
   */
  parented?: string;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The type of an entity reference in Cedar's JSON forms: `{ "__entity": { type, id } }`, or where
 * an entity is expected (`implicit`) also `{ type, id }`.
 */
function entityType(v: unknown, implicit = false): string | undefined {
  if (!isPlainObject(v)) return undefined;
  const ref = isPlainObject(v.__entity) ? v.__entity : implicit ? v : undefined;
  return ref && typeof ref.type === 'string' && typeof ref.id === 'string' ? ref.type : undefined;
}

/**
 * The `fn` of an extension value in Cedar's JSON forms: `{ "__extn": { fn, arg } }`, or where an
 * extension value is expected (`implicit`) also `{ fn, arg }`.
 */
function extensionFn(v: unknown, implicit = false): string | undefined {
  if (!isPlainObject(v)) return undefined;
  const x = isPlainObject(v.__extn) ? v.__extn : implicit ? v : undefined;
  return x && typeof x.fn === 'string' && 'arg' in x ? x.fn : undefined;
}

function valueFault(
  value: unknown,
  type: ArgType,
  parented: (type: string) => boolean,
  path = '',
): Fault | null {
  const fault = (declared: string): Fault => ({ path, declared, value });
  switch (type.kind) {
    case 'string':
      return typeof value === 'string' ? null : fault('String');
    case 'long':
      return typeof value === 'number' && Number.isInteger(value) ? null : fault('Long');
    case 'bool':
      return typeof value === 'boolean' ? null : fault('Bool');
    case 'decimal':
      // The text or number form is read as a decimal by Cedar's schema-based parsing; only an
      // escape naming another extension, or another kind of value altogether, is a mismatch.
      if (typeof value === 'string' || typeof value === 'number') return null;
      return extensionFn(value, true) === 'decimal' ? null : fault('decimal');
    case 'extension':
      if (typeof value === 'string') return null;
      return extensionFn(value, true) === type.fn ? null : fault(type.fn === 'ip' ? 'ipaddr' : type.fn);
    case 'entity': {
      if (entityType(value, true) !== type.type) return fault(`an entity of type ${type.type}`);
      return parented(type.type) ? { ...fault(''), parented: type.type } : null;
    }
    case 'set': {
      if (!Array.isArray(value)) return fault('Set');
      for (let i = 0; i < value.length; i++) {
        const inner = valueFault(value[i], type.element, parented, `${path}[${i}]`);
        if (inner !== null) return inner;
      }
      return null;
    }
    case 'record': {
      if (!isPlainObject(value) || entityType(value) !== undefined || extensionFn(value) !== undefined)
        return fault('a record');
      for (const name of Object.keys(value)) {
        // Undefined is absent (JSON has no such value; a canonical record drops the key).
        if (value[name] === undefined) continue;
        const inner = Object.hasOwn(type.attributes, name) ? type.attributes[name] : undefined;
        // SECURITY: an undeclared attribute inside a declared record is refused, as Cedar's entity
        // validation refuses it: the record would never equal the one a policy names.
        if (inner === undefined)
          return {
            path: `${path}.${name}`,
            declared: 'no such attribute',
            value: value[name],
            undeclared: true,
          };
        const f = valueFault(value[name], inner, parented, `${path}.${name}`);
        if (f !== null) return f;
      }
      return null;
    }
    case 'other':
      return null;
  }
}

/** What a JSON value is, in words. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a set';
  if (entityType(value) !== undefined) return `an entity of type ${String(entityType(value))}`;
  if (extensionFn(value) !== undefined) return `a ${String(extensionFn(value))} value`;
  if (typeof value === 'object') return 'a record';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return `a ${typeof value}`;
}
