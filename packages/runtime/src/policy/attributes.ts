import { setOwn } from '../kernel/index.js';

/**
 * Which attribute names a policy can read. Cedar reads attributes only through `e.attr` and
 * `e has attr` (there are no computed attribute names), and entities compare by uid, never by
 * their attributes; so an entity attribute no policy of a slice names cannot change that slice's
 * answer and need not cross into wasm, where every field costs (see ADR 0002). The same holds for
 * top-level context keys unless a policy uses `context` as a whole value.
 */
export interface AttributeUse {
  names: ReadonlySet<string>;
  /** True when `context` appears other than as `context.x` / `context has x`: then keep it whole. */
  wholeContext: boolean;
  /** True when a condition reads Cedar entity tags (`hasTag`, `getTag`), which Mandate refuses (ADR 0036). */
  tags: boolean;
  /**
   * True when `context.args` (or `context`) is used as a whole value — compared, put in a set or
   * record — rather than read attribute by attribute. Mandate refuses it (ADR 0036): args the schema
   * does not declare are in `context.args`, so such a comparison fails for a call with one more arg.
   */
  wholeArgs: boolean;
}

/** Operators whose argument is `{ arg: expr }`. */
const UNARY = new Set(['!', 'neg', 'isEmpty']);
/** Operators whose argument is `{ left: expr, right: expr }`. */
const BINARY = new Set([
  '==',
  '!=',
  'in',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  '+',
  '-',
  '*',
  'contains',
  'containsAll',
  'containsAny',
  'hasTag',
  'getTag',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Walks the JSON form of a policy's conditions (Cedar's `PolicyJson.conditions[].body`, the EST) by
 * its structure: an expression is an object with exactly one key, its operator, and only the
 * operator's operands are expressions — a Record literal's keys, a `Value`'s JSON, a `like`
 * pattern and an entity type name are data, never operators (a record key `has` or `.` is not an
 * attribute access). SECURITY: fail closed — a form this walk does not know is read conservatively:
 * every string inside it may be an attribute name and any `context` inside it is the whole context.
 * Too many names only cost performance; one too few would keep an attribute from the engine.
 */
export function attributeUse(conditions: readonly { body: unknown }[]): AttributeUse {
  const names = new Set<string>();
  let wholeContext = false;
  let tags = false;
  let wholeArgs = false;
  const isContext = (n: unknown) => isObject(n) && Object.keys(n).length === 1 && n.Var === 'context';

  /** Anything not read by its structure: all its strings are names, `context` in it is whole. */
  const unknown = (v: unknown, depth: number): void => {
    if (depth > MAX_WALK) throw new Error(TOO_DEEP);
    if (typeof v === 'string') {
      names.add(v);
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) unknown(x, depth + 1);
      return;
    }
    if (!isObject(v)) return;
    for (const [k, x] of Object.entries(v)) {
      names.add(k);
      if (k === 'Var' && x === 'context') wholeContext = true;
      if ((k === 'hasTag' || k === 'getTag') && isObject(x) && 'left' in x && 'right' in x) tags = true;
      unknown(x, depth + 1);
    }
  };

  /** `accessed`: the node is the left side of `.` / `has` (read attribute by attribute). */
  const expr = (node: unknown, depth: number, accessed = false): void => {
    if (depth > MAX_WALK) throw new Error(TOO_DEEP);
    if (!isObject(node)) return unknown(node, depth);
    const keys = Object.keys(node);
    if (keys.length !== 1) return unknown(node, depth);
    const op = keys[0]!;
    const arg = node[op];
    if (op === 'Value' || op === 'Slot' || op === 'Unknown') return; // data, no attribute read
    if (op === 'Var') {
      if (typeof arg !== 'string') return unknown(node, depth);
      if (arg === 'context') wholeContext = wholeArgs = true;
      return;
    }
    if (op === '.' || op === 'has') {
      if (!isObject(arg)) return unknown(node, depth);
      const attrs = Array.isArray(arg.attr) ? (arg.attr as unknown[]) : [arg.attr];
      if (attrs.length === 0 || !attrs.every((a) => typeof a === 'string')) return unknown(node, depth);
      for (const a of attrs as string[]) names.add(a);
      // `context.args` as a value (not `context.args.x` / `context.args has x`).
      if (op === '.' && !accessed && isContext(arg.left) && attrs.includes('args')) wholeArgs = true;
      // `context.x` / `context has x` reads one top-level key, not the whole context.
      if (!isContext(arg.left)) expr(arg.left, depth + 1, true);
      for (const k of Object.keys(arg)) if (k !== 'left' && k !== 'attr') unknown(arg[k], depth + 1);
      return;
    }
    if (!isObject(arg) && !Array.isArray(arg)) return unknown(node, depth);
    const operands = (...known: string[]): void => {
      const a = arg as Record<string, unknown>;
      for (const k of Object.keys(a)) {
        if (known.includes(k)) expr(a[k], depth + 1);
        else unknown(a[k], depth + 1);
      }
    };
    if (UNARY.has(op) && isObject(arg)) return operands('arg');
    if (BINARY.has(op) && isObject(arg)) {
      if (op === 'hasTag' || op === 'getTag') tags = true;
      return operands('left', 'right');
    }
    if (op === 'if-then-else' && isObject(arg)) return operands('if', 'then', 'else');
    if (op === 'is' && isObject(arg)) {
      expr(arg.left, depth + 1);
      if (arg.in !== undefined) expr(arg.in, depth + 1);
      for (const k of Object.keys(arg))
        if (k !== 'left' && k !== 'in' && k !== 'entity_type') unknown(arg[k], depth + 1);
      return;
    }
    if (op === 'like' && isObject(arg)) {
      expr(arg.left, depth + 1);
      for (const k of Object.keys(arg)) if (k !== 'left' && k !== 'pattern') unknown(arg[k], depth + 1);
      return;
    }
    // A Record literal: its keys are data, its values expressions.
    if (op === 'Record' && isObject(arg)) {
      for (const v of Object.values(arg)) expr(v, depth + 1);
      return;
    }
    // A Set literal, or an extension function or method call (`decimal`, `lessThan`, …): a list
    // of expressions.
    if (Array.isArray(arg)) {
      for (const v of arg) expr(v, depth + 1);
      return;
    }
    unknown(node, depth);
  };
  for (const c of conditions) expr(c.body, 0);
  return { names, wholeContext, tags, wholeArgs };
}

/**
 * Far deeper than policy/bounds.ts lets a policy's text nest. SECURITY: fail closed — past it the
 * walk throws (the analysis reports the set as not analysable) rather than miss a name.
 */
const MAX_WALK = 512;
const TOO_DEEP = 'a policy condition nested too deeply to read which attributes it uses';

/** Keeps only the named keys of a record (a shallow copy; nested values are kept whole). */
export function pickNames(
  record: Record<string, unknown>,
  names: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(record)) if (names.has(k)) setOwn(out, k, record[k]);
  return out;
}
