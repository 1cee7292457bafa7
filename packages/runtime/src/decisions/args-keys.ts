/**
 * The keys of a call's args: one order and one spelling. What is decided, bound to an approval,
 * shown to people, recorded and run is the object this module returns (`PreparedCall.args`, the
 * `args` of every decision's outcome and answer).
 */
import { MandateError, foldKey, isPathKey, keyPath, setOwn } from '../kernel/index.js';
import type { ArgType } from '../policy/port.js';

/** What the call's args are declared to hold: the tool's JSON schema and the policy schema's type. */
export interface DeclaredArgs {
  /** The tool's input schema (JSON Schema); undefined for an action without a tool. */
  schema: unknown;
  /** The type the policy schema declares for `context.args`; undefined when it declares none. */
  type: ArgType | undefined;
}

/**
 * The args with the keys of every object, at every depth, in the order the call hash and every
 * hashed record use (RFC 8785: sorted by UTF-16 code units, as `canonicalize` sorts them), after
 * refusing keys that two decoders could read as one.
 *
 * SECURITY: an approval is bound to the call hash, which sorts keys, while the call went out in
 * the agent's order: approved for `command: {"count": …, "drop": …}`, the call ran as
 * `{"drop": …, "count": …}` — and a tool that reads its first key as the command (MongoDB's
 * command documents) dropped the collection (a probe). Built here once, so every door forwards,
 * answers and runs the order that was hashed and shown. Exception, the same for every key set:
 * JavaScript enumerates array-index keys (`"0"`, `"10"`) first, in numeric order, and every JSON
 * writer on the way follows it; the agent still cannot choose between two orders of one call.
 *
 * SECURITY: two keys of one object equal after {@link foldKey} (`payee` and `PAYEE`), or an
 * undeclared key equal so to a property the tool's JSON schema or the policy schema declares at
 * that place (`PAYEE` where `payee` is declared, present or not), are refused with `invalid_args`:
 * policies read `payee`, while a decoder that matches keys case-insensitively (Go's encoding/json,
 * last one wins; Jackson with ACCEPT_CASE_INSENSITIVE_PROPERTIES) reads `PAYEE` — `forbid … when
 * { context.args.payee == "mule-666" }` allowed a payment to mule-666 (a probe). THREATS.md: input
 * that means two things.
 *
 * SECURITY: a key holding "." is refused with `invalid_args` where an upstream that reads keys as
 * dotted paths (MongoDB's `$set`, lodash's `set`, Elasticsearch field names) would take it to an
 * arg the policies and limits read nested: (1) anywhere, when its dotted reading lands on an arg
 * the call also holds (`{"o": {"n": 1}, "o.n": 100}`: a limit `o.n <= 5` read 1, the upstream
 * acted on 100 — a probe), or when two keys holding "." land on one arg; (2) where the tool's JSON
 * schema or the policy schema declares properties, when the part before its first "." is a
 * declared name or one fold from one (`{"o.n": 100}` where `o` is declared, sent or not: a forbid
 * on `context.args.o.n` never saw it). Elsewhere such keys are data (`"config.yaml"` in a map of
 * files, `"example.com"` in a map of hosts). A grant limit on an arg no schema declares is held
 * to the same by the grant check (grants/limits-dotted-keys.ts): the grant is not known here.
 * Brackets are path separators as "." is (`"o[n]"`, `"items[0].qty"`, `"[to]"`: lodash's `set`, qs
 * and Express read them so; a re-probe passed a limit with `"o[n]"` once "." was refused): a key's
 * path is kernel/key-path.ts's `keyPath`.
 *
 * SECURITY: a string or key holding U+0000 is refused with `invalid_args`, at any depth: a tool
 * that reads C strings stops at the NUL, so `"mule-666\u0000x"` passed a forbid on `== "mule-666"`
 * and paid mule-666, and a key `"payee\u0000"` is `payee` to a decoder that cuts keys there (json-c,
 * last one wins) — a probe. Other control characters (a newline in a message) stay data; declared
 * paths refuse them all (tools/paths.ts).
 */
export function decidedArgs(args: Record<string, unknown>, declared: DeclaredArgs): Record<string, unknown> {
  const root = declared.schema;
  // Readings are tracked only when some key holds a ".": the usual call pays one scan of its keys.
  const readings = hasDottedKey(args) ? new DottedReadings() : undefined;
  const out = inOrder(args, node(root, root), declared.type, 'args', 'args', readings, ROOT);
  return out as Record<string, unknown>;
}

export { foldKey };

/** The key as the caller-facing message quotes it (never recorded: a key can be a secret). */
const quoted = (key: string) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);

function inOrder(
  value: unknown,
  schema: SchemaNode | undefined,
  type: ArgType | undefined,
  path: string,
  place: string,
  readings: DottedReadings | undefined,
  at: number,
): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string' && value.includes('\u0000'))
      throw new MandateError(
        'invalid_args',
        `${path}: the string holds U+0000 (NUL); a tool that reads C strings would stop there and act on a value other than the one decided`,
        // SECURITY: the value is the caller's (it may be a secret): neither answered nor recorded.
        { details: { path }, recorded: `${place}: a string holding U+0000 (NUL)` },
      );
    return value;
  }
  if (Array.isArray(value)) {
    const element = type?.kind === 'set' ? type.element : undefined;
    return value.map((el, i) => {
      const [elPath, elPlace] = [`${path}[${i}]`, `${place}[]`];
      // A dotted-path reader takes `items.0` to the first element.
      const lands = readings ? readings.land(at, String(i), path, elPath, elPlace) : ROOT;
      return inOrder(el, itemSchema(schema, i), element, elPath, elPlace, readings, lands);
    });
  }
  const record = value as Record<string, unknown>;
  // What canonicalize hashes: own enumerable keys, an undefined value absent, sorted by code units.
  const keys = Object.keys(record).filter((k) => record[k] !== undefined);
  keys.sort();
  for (const key of keys)
    if (key.includes('\u0000'))
      throw new MandateError(
        'invalid_args',
        `${path}: key ${quoted(key)} holds U+0000 (NUL); a decoder that reads C strings (json-c) cuts it there, to another key of the call or one a policy reads`,
        { details: { path }, recorded: `${place}: a key holding U+0000 (NUL)` },
      );
  const props = schema ? properties(schema) : undefined;
  const attributes = type?.kind === 'record' ? type.attributes : undefined;
  checkKeys(keys, props, attributes, path, place);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const child = props && Object.hasOwn(props, key) ? node(props[key], schema!.root) : undefined;
    const childType = attributes && Object.hasOwn(attributes, key) ? attributes[key] : undefined;
    // A key the schemas name is named in the record; any other may be the caller's secret.
    const named = child !== undefined || childType !== undefined;
    const [childPath, childPlace] = [`${path}.${key}`, `${place}${named ? `.${key}` : '[*]'}`];
    const lands = readings ? readings.land(at, key, path, childPath, childPlace) : ROOT;
    // setOwn: a `__proto__` key stays data.
    setOwn(out, key, inOrder(record[key], child, childType, childPath, childPlace, readings, lands));
  }
  return out;
}

/** Does any key, at any depth, hold a path separator (".", "[", "]")? */
function hasDottedKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasDottedKey);
  for (const [key, child] of Object.entries(value)) if (isPathKey(key) || hasDottedKey(child)) return true;
  return false;
}

/** The place of the args themselves among {@link DottedReadings}' places. */
const ROOT = 0;

/**
 * Where each arg of a call lands when every key is read as a dotted path, as MongoDB, lodash's
 * `set` and Elasticsearch read them (`{"o.n": 1}` as `{"o": {"n": 1}}`, `items.0` as the first
 * element; segments folded as {@link foldKey} folds keys): one number per place, so that two
 * args landing on one place are found in one walk.
 */
class DottedReadings {
  /** `${place}.${folded segment}` to the place it leads to (a segment never holds a "."). */
  private readonly steps = new Map<string, number>();
  private readonly held = new Set<number>();
  private places = ROOT + 1;

  /**
   * The place `key` leads to from the place `from` of the object at `path`, now held by the arg
   * at `argPath`; refused when another arg of the call is there already.
   */
  land(from: number, key: string, path: string, argPath: string, argPlace: string): number {
    let at = from;
    // Folded as keys of one object are (checkKeys): `{"O.n": …}` lands where `o.n` does.
    for (const segment of keyPath(key)) {
      const step = `${at}.${foldKey(segment)}`;
      let next = this.steps.get(step);
      if (next === undefined) this.steps.set(step, (next = this.places++));
      at = next;
    }
    if (this.held.has(at))
      throw new MandateError(
        'invalid_args',
        `${argPath}: two args of the call are at this path when keys holding "." are read as dotted paths, as MongoDB, lodash's set and Elasticsearch read them ({"o.n": …} as {"o": {"n": …}}); the policies and limits read one, such an upstream could act on the other`,
        {
          details: { path },
          // SECURITY: the path is the caller's keys (one may be a secret); the record names the place by the schema.
          recorded: `${argPlace}: two args at one path when keys holding "." are read as dotted paths`,
        },
      );
    this.held.add(at);
    return at;
  }
}

/**
 * Refuses two keys one fold apart, an undeclared key one fold from a declared name, and a key
 * holding "." whose part before it is (or is one fold from) a declared name.
 */
function checkKeys(
  keys: readonly string[],
  props: Record<string, unknown> | undefined,
  attributes: Readonly<Record<string, ArgType>> | undefined,
  path: string,
  place: string,
): void {
  const declared = [...Object.keys(props ?? {}), ...Object.keys(attributes ?? {})];
  if (keys.length < 2 && declared.length === 0) return;
  const seen = new Map<string, string>();
  for (const key of keys) {
    const folded = foldKey(key);
    const other = seen.get(folded);
    if (other !== undefined)
      throw new MandateError(
        'invalid_args',
        `${path}: keys ${quoted(other)} and ${quoted(key)} differ only in case or Unicode form; a decoder that matches keys case-insensitively would read them as one`,
        {
          details: { path },
          // SECURITY: the keys are the caller's (one may be a secret); the record names the place by the schema.
          recorded: `${place}: two keys of one object that differ only in case or Unicode form`,
        },
      );
    seen.set(folded, key);
  }
  if (declared.length === 0) return;
  const isDeclared = (k: string) =>
    (props !== undefined && Object.hasOwn(props, k)) ||
    (attributes !== undefined && Object.hasOwn(attributes, k));
  const byFold = new Map<string, string>();
  for (const name of declared) byFold.set(foldKey(name), name);
  for (const key of keys) {
    if (isDeclared(key)) continue;
    const name = byFold.get(foldKey(key));
    if (name !== undefined)
      throw new MandateError(
        'invalid_args',
        `${path}: key ${quoted(key)} is not declared, and differs from the declared ${JSON.stringify(name)} only in case or Unicode form; a decoder that matches keys case-insensitively would read it as ${JSON.stringify(name)}`,
        {
          details: { path },
          recorded: `${place}: an undeclared key that differs from the declared ${JSON.stringify(name)} only in case or Unicode form`,
        },
      );
    // SECURITY: `{"o.n": 100}` where `o` is declared: the policies and limits read `o.n` nested and
    // see nothing (or what `o` holds), while a dotted-path reader acts on 100. Only the part before
    // the first "." counts: a dotted reading can reach no other declared arg from this object.
    if (!isPathKey(key)) continue;
    const head = keyPath(key)[0]!;
    const entered = isDeclared(head) ? head : byFold.get(foldKey(head));
    if (entered !== undefined)
      throw new MandateError(
        'invalid_args',
        `${path}: key ${quoted(key)} holds "."; read as a dotted path, as MongoDB, lodash's set and Elasticsearch read keys, it is inside the declared ${JSON.stringify(entered)}, which the policies and limits read as sent nested`,
        {
          details: { path },
          recorded: `${place}: a key holding "." whose dotted reading is inside the declared ${JSON.stringify(entered)}`,
        },
      );
  }
}

// --- The JSON schema, read as far as it names properties: `properties` (also inside `allOf`,
// --- `anyOf`, `oneOf`), `items`/`prefixItems`, and local `$ref`s (`#/$defs/…`, as generated
// --- schemas nest models). Anything else names nothing: only the fold between keys applies there.

interface SchemaNode {
  schema: Record<string, unknown>;
  root: unknown;
}

/** Hops through `$ref`s and schema combinators before giving up (a schema may refer to itself). */
const MAX_HOPS = 16;

function node(schema: unknown, root: unknown, hops = 0): SchemaNode | undefined {
  if (!isObject(schema) || hops > MAX_HOPS) return undefined;
  const ref = schema.$ref;
  if (typeof ref === 'string' && ref.startsWith('#')) {
    const target = resolvePointer(root, ref.slice(1));
    return target === undefined ? { schema, root } : node(target, root, hops + 1);
  }
  return { schema, root };
}

/** Every property a schema level declares, its subschemas unioned (first declaration wins). */
function properties(n: SchemaNode, hops = 0): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  const add = (props: unknown) => {
    if (!isObject(props)) return;
    for (const k of Object.keys(props)) if (!out || !Object.hasOwn(out, k)) setOwn((out ??= {}), k, props[k]);
  };
  add(n.schema.properties);
  if (hops < MAX_HOPS)
    for (const combinator of ['allOf', 'anyOf', 'oneOf'])
      for (const member of asArray(n.schema[combinator])) {
        const m = node(member, n.root, hops + 1);
        if (m) add(properties(m, hops + 1));
      }
  return out;
}

function itemSchema(n: SchemaNode | undefined, i: number): SchemaNode | undefined {
  if (!n) return undefined;
  const { prefixItems, items } = n.schema;
  if (Array.isArray(prefixItems) && i < prefixItems.length) return node(prefixItems[i], n.root);
  if (Array.isArray(items)) return i < items.length ? node(items[i], n.root) : undefined;
  return node(items, n.root);
}

function resolvePointer(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  if (!pointer.startsWith('/')) return undefined;
  let v: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (!isObject(v) && !Array.isArray(v)) return undefined;
    if (!Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
