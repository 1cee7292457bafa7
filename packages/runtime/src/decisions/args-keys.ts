/**
 * The keys of a call's args: one order and one spelling. What is decided, bound to an approval,
 * shown to people, recorded and run is the object this module returns (`PreparedCall.args`, the
 * `args` of every decision's outcome and answer).
 */
import { MandateError, setOwn } from '../kernel/index.js';
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
 */
export function decidedArgs(args: Record<string, unknown>, declared: DeclaredArgs): Record<string, unknown> {
  const root = declared.schema;
  return inOrder(args, node(root, root), declared.type, 'args', 'args') as Record<string, unknown>;
}

/** Printable ASCII and ASCII controls: NFKC and the ignorables leave them as they are. */
// eslint-disable-next-line no-control-regex
const ASCII = /^[\u0000-\u007f]*$/;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * A key as a case-insensitive decoder may match it: NFKC, default-ignorable code points removed,
 * then upper- and lower-cased (full mappings) and NFKC again — an over-approximation of Unicode's
 * NFKC_Casefold that also joins what simple, per-character folding joins (Go's `bytes.EqualFold`:
 * `K`/U+212A KELVIN SIGN, `s`/U+017F LONG S, `σ`/`ς`, `ß`/U+1E9E `ẞ`; Java's `equalsIgnoreCase`:
 * `İ`/`i`; .NET's OrdinalIgnoreCase: `ı`/`i`). Where it joins more (`ß`/`ss`), it refuses a call
 * that meant two keys: failing closed on a rare key pair, never opening on one.
 *
 * SECURITY: one round is not a fold: `ẞ` upper-cases to itself and lower-cases to `ß`, which only
 * the next round takes to `ss` — `straße` and `straẞe` came out as two keys while Go reads them as
 * one, and a forbid on `args["straße"]` allowed the call (a probe). The round is repeated until it
 * changes nothing (a test checks every code point reaches it within the bound).
 */
export function foldKey(key: string): string {
  if (ASCII.test(key)) return key.toLowerCase();
  let folded = key;
  for (let round = 0; round < MAX_FOLD_ROUNDS; round++) {
    const next = foldOnce(folded);
    if (next === folded) break;
    folded = next;
  }
  return folded;
}

/** Rounds of {@link foldOnce} before {@link foldKey} stops: a bound on the loop, never reached. */
const MAX_FOLD_ROUNDS = 4;

function foldOnce(key: string): string {
  return key
    .normalize('NFKC')
    .replace(IGNORABLE, '')
    .replace(/\u0130/g, 'i')
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC');
}

/** The key as the caller-facing message quotes it (never recorded: a key can be a secret). */
const quoted = (key: string) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);

function inOrder(
  value: unknown,
  schema: SchemaNode | undefined,
  type: ArgType | undefined,
  path: string,
  place: string,
): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const element = type?.kind === 'set' ? type.element : undefined;
    return value.map((el, i) => inOrder(el, itemSchema(schema, i), element, `${path}[${i}]`, `${place}[]`));
  }
  const record = value as Record<string, unknown>;
  // What canonicalize hashes: own enumerable keys, an undefined value absent, sorted by code units.
  const keys = Object.keys(record).filter((k) => record[k] !== undefined);
  keys.sort();
  const props = schema ? properties(schema) : undefined;
  const attributes = type?.kind === 'record' ? type.attributes : undefined;
  checkKeys(keys, props, attributes, path, place);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const child = props && Object.hasOwn(props, key) ? node(props[key], schema!.root) : undefined;
    const childType = attributes && Object.hasOwn(attributes, key) ? attributes[key] : undefined;
    // A key the schemas name is named in the record; any other may be the caller's secret.
    const named = child !== undefined || childType !== undefined;
    // setOwn: a `__proto__` key stays data.
    setOwn(
      out,
      key,
      inOrder(record[key], child, childType, `${path}.${key}`, `${place}${named ? `.${key}` : '[*]'}`),
    );
  }
  return out;
}

/** Refuses two keys one fold apart, and an undeclared key one fold from a declared name. */
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
