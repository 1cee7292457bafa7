/**
 * Compiles Cedar's JSON policy form (what cedar-wasm's `policyToJson` returns for a validated
 * policy) into JavaScript closures, once, at activation.
 *
 * Supported: the scope (`==`, `in`, `is … in`, action lists), `when`/`unless` in source order,
 * literals (Bool, safe-integer Long, String, entity), `principal`/`action`/`resource`/`context`,
 * `!`, unary `-`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `*` (64-bit overflow is an error),
 * short-circuit `&&`/`||`, `if-then-else`, `in` (entity or set of entities, over the hierarchy),
 * `is` (with `in`), `has` (also `a.b.c`), `.`, `like` (wildcards and escapes), set and record
 * literals, `contains`, `containsAll`, `containsAny`, `isEmpty`.
 *
 * Anything else (extension functions and methods, tags, templates' slots, a Long literal beyond
 * 2^53) makes {@link compilePolicy} throw {@link Unsupported}: that policy — and so every request
 * whose slice holds it — is evaluated by cedar-wasm. Never guessed.
 */
import {
  EvalError,
  Fallback,
  asBool,
  asLong,
  asSet,
  asString,
  checkSetWork,
  isEntity,
  kindOf,
  likeMatch,
  longResult,
  refOf,
  sameRef,
  setHas,
  valueEq,
  type EntityValue,
  type Ref,
} from './values.js';

/** What one evaluation gives the compiled closures. */
export interface Env {
  readonly principal: EntityValue;
  readonly action: EntityValue;
  readonly resource: EntityValue;
  readonly context: Record<string, unknown>;
  /** The attributes of an entity Cedar would be given for this request; undefined when it would not. */
  attrs(ref: Ref): Record<string, unknown> | undefined;
  /** `attrs(env[v].__entity)`, remembered for the request. */
  varAttrs(v: 'principal' | 'resource'): Record<string, unknown> | undefined;
  /** Cedar's `a in b`: a == b, or b is an ancestor of a in the entities Cedar would be given. */
  isIn(a: Ref, b: Ref): boolean;
}

export type Expr = (env: Env) => unknown;
/** A compiled policy: true when satisfied; throws EvalError (the policy errors) or Fallback. */
export type CompiledPolicy = (env: Env) => boolean;

/** A construct the compiler does not handle; the policy is left to cedar-wasm. */
export class Unsupported extends Error {
  override readonly name = 'Unsupported';
}

type Json = Record<string, unknown>;

/** Cedar's JSON form of one policy, as far as the compiler reads it. */
export interface PolicyJsonForm {
  principal: unknown;
  action: unknown;
  resource: unknown;
  conditions: readonly { kind: string; body: unknown }[];
}

/**
 * A principal or resource scope: `all` (unconstrained), `type` (`is T` alone: decided by the
 * entity type, which the request fixes) or `dynamic` (`==`, `in`, `is … in`: a test per request).
 */
export type ScopePart =
  { kind: 'all' } | { kind: 'type'; type: string } | { kind: 'dynamic'; test: CompiledPolicy };

/**
 * A compiled policy in its parts, in Cedar's order: principal, action and resource scope, then the
 * conditions. The action scope reads only the request's action and the schema's action groups
 * (policy/compiled/request.ts), so, like a `type` scope, it can be decided once per request shape.
 */
export interface PolicyParts {
  principal: ScopePart;
  /** undefined: unconstrained. */
  action: CompiledPolicy | undefined;
  resource: ScopePart;
  /** `when` / `unless` bodies, in source order, each true when it lets the policy apply. */
  conditions: CompiledPolicy[];
}

/** Compiles a policy into its {@link PolicyParts}. Throws {@link Unsupported}. */
export function compilePolicyParts(json: PolicyJsonForm): PolicyParts {
  // Within compileSharing, identical scopes and conditions of a set share one closure (ADR 0027).
  const principal = share('principal', json.principal, () => compileScope(json.principal, 'principal'));
  const action = share('action', json.action, () => compileActionScope(json.action));
  const resource = share('resource', json.resource, () => compileScope(json.resource, 'resource'));
  const conditions: CompiledPolicy[] = [];
  for (const c of json.conditions) {
    const kind = c.kind;
    if (kind !== 'when' && kind !== 'unless') throw new Unsupported(`condition kind ${String(kind)}`);
    conditions.push(share(kind, c.body, () => condition(kind, compileExpr(c.body))));
  }
  return { principal, action, resource, conditions };
}

// The closures a policy keeps are made in functions of their own, which see only what the closure
// needs: a closure made in `compilePolicyParts` would keep its scope, the policy's whole JSON form, alive.
function condition(kind: 'when' | 'unless', body: Expr): CompiledPolicy {
  return kind === 'when'
    ? (env) => {
        const v = body(env);
        return typeof v === 'boolean' ? v : asBool(v, 'when');
      }
    : (env) => {
        const v = body(env);
        return typeof v === 'boolean' ? !v : !asBool(v, 'unless');
      };
}

/** The scope test of a principal or resource scope part; undefined when unconstrained. */
export function scopeTest(part: ScopePart, v: 'principal' | 'resource'): CompiledPolicy | undefined {
  switch (part.kind) {
    case 'all':
      return undefined;
    case 'type': {
      const type = part.type;
      return (env) => env[v].__entity.type === type;
    }
    case 'dynamic':
      return part.test;
  }
}

/** All of `parts` in order (a conjunction that stops at the first false). */
export function allOf(parts: readonly CompiledPolicy[]): CompiledPolicy {
  if (parts.length === 0) return () => true;
  if (parts.length === 1) return parts[0]!;
  return (env) => {
    for (const p of parts) if (!p(env)) return false;
    return true;
  };
}

/** Compiles a whole policy: true when satisfied. Throws {@link Unsupported}. */
export function compilePolicy(json: PolicyJsonForm): CompiledPolicy {
  return wholePolicy(compilePolicyParts(json));
}

/** The whole policy of its parts (sharing their closures): true when satisfied. */
export function wholePolicy(p: PolicyParts): CompiledPolicy {
  const parts: CompiledPolicy[] = [];
  for (const s of [scopeTest(p.principal, 'principal'), p.action, scopeTest(p.resource, 'resource')])
    if (s !== undefined) parts.push(s);
  return allOf([...parts, ...p.conditions]);
}

/**
 * Closures already made for the set being compiled, by the kind and JSON text of what they compile;
 * set only inside {@link compileSharing}.
 */
let shared: Map<string, unknown> | undefined;

/**
 * Runs `compile` (which compiles a set's policies) so that identical scopes and expressions of the
 * set get one closure between them instead of one each: policies of a large set repeat the same
 * tests (`principal has tenant && principal.tenant == resource.tenant`, a role, a threshold), and
 * the closures were most of a compiled set's heap (ADR 0027). A closure is a pure function of the
 * evaluation's `Env` — it holds no state of its policy — so a shared one answers exactly as its
 * copies did. The table is dropped when `compile` returns.
 */
export function compileSharing<T>(compile: () => T): T {
  const outer = shared;
  shared = new Map();
  try {
    return compile();
  } finally {
    shared = outer;
  }
}

/** `make()`, or the closure it made earlier in this set for the same kind and JSON. */
function share<T>(kind: string, json: unknown, make: () => T): T {
  if (shared === undefined) return make();
  let key: string;
  try {
    key = `${kind} ${JSON.stringify(json)}`;
  } catch {
    // Not JSON text (a BigInt, a cycle): compiled on its own.
    return make();
  }
  if (shared.has(key)) return shared.get(key) as T;
  const made = make();
  shared.set(key, made);
  return made;
}

function entityOf(json: unknown): Ref {
  const o = json as { __entity?: Ref; type?: unknown; id?: unknown } | null;
  const ref = (o && typeof o === 'object' && o.__entity) || o;
  const r = ref as { type?: unknown; id?: unknown } | null;
  if (!r || typeof r.type !== 'string' || typeof r.id !== 'string') throw new Unsupported('entity form');
  return { type: r.type, id: r.id };
}

function compileScope(json: unknown, v: 'principal' | 'resource'): ScopePart {
  const s = json as Json;
  const ref = (env: Env) => env[v].__entity;
  switch (s.op) {
    case 'All':
      return { kind: 'all' };
    case '==': {
      if (!('entity' in s)) throw new Unsupported(`${v} scope slot`);
      const target = entityOf(s.entity);
      return { kind: 'dynamic', test: (env) => sameRef(ref(env), target) };
    }
    case 'in': {
      if (!('entity' in s)) throw new Unsupported(`${v} scope slot`);
      const target = entityOf(s.entity);
      return { kind: 'dynamic', test: (env) => env.isIn(ref(env), target) };
    }
    case 'is': {
      const type = s.entity_type;
      if (typeof type !== 'string') throw new Unsupported(`${v} is`);
      if (s.in === undefined) return { kind: 'type', type };
      const inner = s.in as Json;
      if (!('entity' in inner)) throw new Unsupported(`${v} scope slot`);
      const target = entityOf(inner.entity);
      return { kind: 'dynamic', test: (env) => ref(env).type === type && env.isIn(ref(env), target) };
    }
    default:
      throw new Unsupported(`${v} scope ${String(s.op)}`);
  }
}

function compileActionScope(json: unknown): CompiledPolicy | undefined {
  const s = json as Json;
  const ref = (env: Env) => env.action.__entity;
  if (s.op === 'All') return undefined;
  if (s.op === '==') {
    const target = entityOf(s.entity);
    return (env) => sameRef(ref(env), target);
  }
  if (s.op === 'in') {
    const targets = Array.isArray(s.entities) ? s.entities.map(entityOf) : [entityOf(s.entity)];
    return (env) => targets.some((t) => env.isIn(ref(env), t));
  }
  throw new Unsupported(`action scope ${String(s.op)}`);
}

function binary(json: unknown): [Expr, Expr] {
  const b = json as { left: unknown; right: unknown };
  return [compileExpr(b.left), compileExpr(b.right)];
}

const RESERVED_RECORD_KEYS = new Set(['__entity', '__extn', '__expr', '__proto__']);

export function compileExpr(node: unknown): Expr {
  return share('expr', node, () => compileNode(node));
}

function compileNode(node: unknown): Expr {
  if (typeof node !== 'object' || node === null) throw new Unsupported('expression form');
  const keys = Object.keys(node);
  if (keys.length !== 1) throw new Unsupported('expression form');
  const op = keys[0]!;
  const arg = (node as Json)[op];
  switch (op) {
    case 'Value':
      return literal(arg);
    case 'Var': {
      if (arg === 'principal') return (env) => env.principal;
      if (arg === 'action') return (env) => env.action;
      if (arg === 'resource') return (env) => env.resource;
      if (arg === 'context') return (env) => env.context;
      throw new Unsupported(`variable ${String(arg)}`);
    }
    case '!': {
      const e = compileExpr((arg as Json).arg);
      return (env) => !asBool(e(env), '!');
    }
    case 'neg': {
      const e = compileExpr((arg as Json).arg);
      return (env) => {
        const x = asLong(e(env), 'negation');
        return longResult(0 - x, () => -BigInt(x), 'negation');
      };
    }
    case '==':
    case '!=': {
      const [l, r] = binary(arg);
      const eq = op === '==';
      // Against a Bool, Long or String literal, Cedar's `==` is `===` here (valueEq's first test;
      // any other value, an object, differs): no call.
      const lit = primitiveLiteral((arg as { right: unknown }).right);
      if (lit !== undefined) return (env) => (l(env) === lit.value) === eq;
      return (env) => valueEq(l(env), r(env)) === eq;
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return comparison(op, arg);
    case '+':
    case '-':
    case '*':
      return arithmetic(op, arg);
    case '&&':
    case '||':
      return chain(op, node);
    case 'if-then-else': {
      const a = arg as { if: unknown; then: unknown; else: unknown };
      const c = compileExpr(a.if);
      const t = compileExpr(a.then);
      const e = compileExpr(a.else);
      return (env) => (asBool(c(env), 'if') ? t(env) : e(env));
    }
    case 'in': {
      const [l, r] = binary(arg);
      return (env) => inOp(env, l(env), r(env));
    }
    case 'is': {
      const a = arg as { left: unknown; entity_type: unknown; in?: unknown };
      if (typeof a.entity_type !== 'string') throw new Unsupported('is');
      const type = a.entity_type;
      const l = compileExpr(a.left);
      if (a.in === undefined) return (env) => refOf(l(env), 'is').type === type;
      const r = compileExpr(a.in);
      // `e is T in x` is `e is T && e in x`: x is not evaluated when the type differs.
      return (env) => {
        const left = l(env);
        return refOf(left, 'is').type === type && inOp(env, left, r(env));
      };
    }
    case 'has':
      return hasOp(arg);
    case '.': {
      const a = arg as { left: unknown; attr: unknown };
      if (typeof a.attr !== 'string') throw new Unsupported('attribute access form');
      const attr = a.attr;
      const v = scopeVar(a.left);
      // `principal.x` / `resource.x`: the entity is known, only its attributes are looked up.
      // The lookups are written out here, not in a shared helper, so that each closure's property
      // access sees one attribute name (a fast, monomorphic access instead of a generic one).
      if (v !== undefined)
        return (env) => {
          const attrs = env.varAttrs(v);
          if (attrs === undefined || !Object.hasOwn(attrs, attr))
            return entityAttr(env[v].__entity, attrs, attr);
          return attrs[attr];
        };
      const l = compileExpr(a.left);
      return (env) => {
        const r = l(env);
        // A record (not a set, an entity or an extension value): `getAttr` without the call.
        if (
          typeof r === 'object' &&
          r !== null &&
          !Array.isArray(r) &&
          !Object.hasOwn(r, '__entity') &&
          !Object.hasOwn(r, '__extn') &&
          Object.hasOwn(r, attr)
        )
          return (r as Record<string, unknown>)[attr];
        return getAttr(env, r, attr);
      };
    }
    case 'like':
      return likeOp(arg);
    case 'Set': {
      if (!Array.isArray(arg)) throw new Unsupported('set form');
      const items = arg.map(compileExpr);
      return (env) => items.map((i) => i(env));
    }
    case 'Record': {
      if (typeof arg !== 'object' || arg === null) throw new Unsupported('record form');
      const entries = Object.entries(arg as Json).map(([k, v]) => {
        if (RESERVED_RECORD_KEYS.has(k)) throw new Unsupported(`record key ${k}`);
        return [k, compileExpr(v)] as const;
      });
      return (env) => {
        const out: Record<string, unknown> = {};
        for (const [k, e] of entries) out[k] = e(env);
        return out;
      };
    }
    case 'contains': {
      const [l, r] = binary(arg);
      // A Bool, Long or String literal equals exactly the elements `===` to it (see `==`).
      const lit = primitiveLiteral((arg as { right: unknown }).right);
      if (lit !== undefined) {
        const x = lit.value;
        return (env) => {
          const set = l(env);
          if (!Array.isArray(set)) asSet(set, 'contains');
          return (set as unknown[]).includes(x);
        };
      }
      return (env) => {
        const set = l(env);
        const v = r(env);
        return setHas(asSet(set, 'contains'), v);
      };
    }
    case 'containsAll':
    case 'containsAny': {
      const [l, r] = binary(arg);
      const all = op === 'containsAll';
      return (env) => {
        const a = asSet(l(env), op);
        const b = asSet(r(env), op);
        checkSetWork(a, b);
        return all ? b.every((x) => setHas(a, x)) : b.some((x) => setHas(a, x));
      };
    }
    case 'isEmpty': {
      const e = compileExpr((arg as Json).arg);
      return (env) => asSet(e(env), 'isEmpty').length === 0;
    }
    default:
      // Extension functions and methods (decimal, ip, datetime, …), tags, slots, unknowns.
      throw new Unsupported(`construct ${op}`);
  }
}

function literal(v: unknown): Expr {
  if (typeof v === 'boolean' || typeof v === 'string') return () => v;
  if (typeof v === 'number') {
    // SECURITY: never guess — the JSON form of a Long beyond 2^53 has already lost digits.
    if (!Number.isSafeInteger(v)) throw new Unsupported('a Long literal beyond 2^53');
    const n = v === 0 ? 0 : v;
    return () => n;
  }
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && '__entity' in v) {
    const value: EntityValue = Object.freeze({ __entity: Object.freeze(entityOf(v)) });
    return () => value;
  }
  throw new Unsupported('literal form');
}

function comparison(op: '<' | '<=' | '>' | '>=', json: unknown): Expr {
  const [l, r] = binary(json);
  const lit = primitiveLiteral((json as { right: unknown }).right);
  if (lit !== undefined && typeof lit.value === 'number') {
    // Against a Long literal: only the left side can be of the wrong type.
    const y = lit.value;
    return (env) => {
      const a = l(env);
      const x = typeof a === 'number' ? a : asLong(a, op);
      return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
    };
  }
  return (env) => {
    const a = l(env);
    const b = r(env);
    const x = typeof a === 'number' ? a : asLong(a, op);
    const y = typeof b === 'number' ? b : asLong(b, op);
    return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
  };
}

function arithmetic(op: '+' | '-' | '*', json: unknown): Expr {
  const [l, r] = binary(json);
  return (env) => {
    const a = l(env);
    const b = r(env);
    const x = asLong(a, op);
    const y = asLong(b, op);
    if (op === '+') return longResult(x + y, () => BigInt(x) + BigInt(y), op);
    if (op === '-') return longResult(x - y, () => BigInt(x) - BigInt(y), op);
    return longResult(x * y, () => BigInt(x) * BigInt(y), op);
  };
}

/** Cedar `in`: the left an entity, the right an entity or a set of entities (all checked first). */
function inOp(env: Env, left: unknown, right: unknown): boolean {
  const a = refOf(left, 'in');
  if (Array.isArray(right)) {
    const targets = right.map((t) => refOf(t, 'in'));
    return targets.some((t) => env.isIn(a, t));
  }
  if (isEntity(right)) return env.isIn(a, right.__entity);
  throw new EvalError(`in: expected an entity or a set, got ${kindOf(right)}`);
}

function hasOp(json: unknown): Expr {
  const a = json as { left: unknown; attr: unknown };
  const path = Array.isArray(a.attr) ? a.attr : [a.attr];
  if (path.length === 0 || !path.every((p): p is string => typeof p === 'string'))
    throw new Unsupported('has form');
  const v = scopeVar(a.left);
  if (v !== undefined && path.length === 1) {
    // `principal has x` / `resource has x`: the entity is known, only its attributes are looked up.
    const attr = path[0] as string;
    return (env) => {
      const attrs = env.varAttrs(v);
      return attrs !== undefined && Object.hasOwn(attrs, attr);
    };
  }
  const l = compileExpr(a.left);
  // `e has a.b` is `e has a && e.a has b`.
  return (env) => {
    let v = l(env);
    for (let i = 0; i < path.length; i++) {
      if (!hasAttr(env, v, path[i]!)) return false;
      if (i + 1 < path.length) v = getAttr(env, v, path[i]!);
    }
    return true;
  };
}

function hasAttr(env: Env, v: unknown, attr: string): boolean {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if (Object.hasOwn(v, '__entity')) {
      const attrs = env.attrs((v as EntityValue).__entity);
      return attrs !== undefined && Object.hasOwn(attrs, attr);
    }
    if (!Object.hasOwn(v, '__extn')) return Object.hasOwn(v, attr);
  }
  throw new EvalError(`has: expected an entity or a record, got ${kindOf(v)}`);
}

function getAttr(env: Env, v: unknown, attr: string): unknown {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if (Object.hasOwn(v, '__entity')) {
      const ref = (v as EntityValue).__entity;
      return entityAttr(ref, env.attrs(ref), attr);
    }
    if (!Object.hasOwn(v, '__extn')) {
      const r = v as Record<string, unknown>;
      if (!Object.hasOwn(r, attr)) throw new EvalError(`record attribute \`${attr}\` not found`);
      return r[attr];
    }
  }
  throw new EvalError(`.${attr}: expected an entity or a record, got ${kindOf(v)}`);
}

/** `e.attr` of an entity whose attributes (as Cedar is given them) are `attrs`. */
function entityAttr(ref: Ref, attrs: Record<string, unknown> | undefined, attr: string): unknown {
  if (attrs === undefined) throw new EvalError(`entity ${ref.type}::"${ref.id}" does not exist`);
  if (!Object.hasOwn(attrs, attr)) throw new EvalError(`attribute \`${attr}\` not found`);
  return attrs[attr];
}

/** `principal` or `resource` when the expression is just that variable. */
function scopeVar(node: unknown): 'principal' | 'resource' | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'Var') return undefined;
  const v = (node as Json).Var;
  return v === 'principal' || v === 'resource' ? v : undefined;
}

/** The value of a Bool, Long (safe integer) or String literal expression; undefined for anything else. */
function primitiveLiteral(node: unknown): { value: boolean | number | string } | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'Value') return undefined;
  const v = (node as Json).Value;
  if (typeof v === 'boolean' || typeof v === 'string') return { value: v };
  if (typeof v === 'number' && Number.isSafeInteger(v)) return { value: v === 0 ? 0 : v };
  return undefined;
}

/**
 * A chain of `&&` (or of `||`) as one closure: Cedar's `(a && b) && c` evaluates a, b, c in order,
 * each must be a Bool (else the `&&` errors), and stops at the first false (true for `||`).
 */
function chain(op: '&&' | '||', node: unknown): Expr {
  const operands: Expr[] = [];
  const flatten = (n: unknown): void => {
    const keys = typeof n === 'object' && n !== null ? Object.keys(n) : [];
    if (keys.length === 1 && keys[0] === op) {
      const b = (n as Json)[op] as { left: unknown; right: unknown };
      flatten(b.left);
      flatten(b.right);
    } else operands.push(compileExpr(n));
  };
  flatten(node);
  const stop = op === '||';
  return (env) => {
    for (const e of operands) {
      const v = e(env);
      if (typeof v !== 'boolean') asBool(v, op);
      if (v === stop) return stop;
    }
    return !stop;
  };
}

function likeOp(json: unknown): Expr {
  const a = json as { left: unknown; pattern: unknown };
  if (!Array.isArray(a.pattern)) throw new Unsupported('like pattern form');
  const pattern: number[] = [];
  for (const p of a.pattern) {
    if (p === 'Wildcard') pattern.push(-1);
    else if (typeof p === 'object' && p !== null && typeof (p as Json).Literal === 'string') {
      for (const c of (p as { Literal: string }).Literal) pattern.push(c.codePointAt(0)!);
    } else throw new Unsupported('like pattern element');
  }
  const l = compileExpr(a.left);
  return (env) => likeMatch(asString(l(env), 'like'), pattern);
}

export { EvalError, Fallback };
