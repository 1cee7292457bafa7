/**
 * One compiled evaluation: the environment the closures read (the same context and the same
 * reachable entities the cedar-wasm path sends, policy/cedar/entities.ts), the scan that sends a
 * request to cedar-wasm when it holds a value this evaluator does not read exactly, and the loop
 * over the slice.
 */
import type { EntityJson } from '../cedar/wasm.js';
import { entityRefsIn, indexEntities, reachable, uidKey } from '../cedar/entities.js';
import { EvalError, Fallback, DECIMAL_ARG, sameRef, type EntityValue, type Ref } from './values.js';
import { allOf, type CompiledPolicy, type Env, type PolicyParts } from './compile.js';

/** What the schema says of actions, for `action in …` (Cedar is given the request action and its groups). */
export interface ActionGraph {
  /** The action itself and all its groups, transitively. */
  ancestors: ReadonlyMap<string, ReadonlySet<string>>;
  /** Each declared action as an entity: no attributes, its direct groups as parents. */
  entities: ReadonlyMap<string, EntityData>;
}

/** Builds the {@link ActionGraph} once per compiled set. */
export function actionGraph(
  ancestors: ReadonlyMap<string, ReadonlySet<string>>,
  memberOf: ReadonlyMap<string, readonly string[]>,
  actionType: string,
): ActionGraph {
  const entities = new Map<string, EntityData>();
  for (const [id, groups] of memberOf) {
    entities.set(id, {
      attrs: NO_ATTRS,
      parents: Object.freeze(groups.map((g) => Object.freeze({ type: actionType, id: g }))),
    });
  }
  return { ancestors, entities };
}

export interface EntityData {
  attrs: Record<string, unknown>;
  parents: readonly Ref[];
}

const NO_ATTRS: Record<string, unknown> = Object.freeze({});

export interface CompiledInput {
  principal: Ref;
  action: string;
  resource: Ref;
  /** The context as sent to Cedar (already checked and converted, possibly narrowed to `names`). */
  context: Record<string, unknown>;
  /** The request's entities, checked and converted (policy/cedar/values.ts). */
  entities: readonly EntityJson[];
  /** Attribute names the slice's policies read. */
  names: ReadonlySet<string>;
  actionType: string;
  /**
   * Every entity of `entities` is visible, actions included (as when Cedar is handed a whole entity
   * store, e.g. in Cedar's own integration tests); by default only those the cedar-wasm path would
   * send, and actions from the schema.
   */
  allVisible?: boolean;
}

export interface CompiledMember {
  policyId: string;
  effect: 'permit' | 'forbid';
  run: CompiledPolicy;
  /** The same policy in its parts (see {@link planShape}); without them `run` is used whole. */
  parts?: PolicyParts;
}

export interface CompiledOutcome {
  forbids: string[];
  permits: string[];
  errors: { policyId: string; message: string }[];
}

/** Evaluates every member (as Cedar does: all errors are reported). Throws Fallback. */
export function evaluateCompiled(
  members: readonly CompiledMember[],
  input: CompiledInput,
  actions: ActionGraph,
): CompiledOutcome {
  scanRequest(input);
  const env = new RequestEnv(input, actions);
  const out: CompiledOutcome = { forbids: [], permits: [], errors: [] };
  for (const m of members) {
    try {
      if (m.run(env)) (m.effect === 'forbid' ? out.forbids : out.permits).push(m.policyId);
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      out.errors.push({ policyId: m.policyId, message: err.message });
    }
  }
  return out;
}

/** A member of a slice reduced to what a request of one shape still has to test. */
export interface PlannedMember<M extends CompiledMember> {
  member: M;
  run: CompiledPolicy;
}

/** The shape of a request: what {@link planShape} decides once instead of per request. */
export interface RequestShape {
  action: string;
  principalType: string;
  resourceType: string;
  actionType: string;
}

/**
 * The members of a slice that can apply to requests of one shape (action, principal type, resource
 * type), each reduced to the tests such a request still has to run. A scope part decided by the
 * shape alone — `is T`, and the action scope, which reads only the request action and the schema's
 * action groups — is decided here, once: a member it rules out is dropped (a scope is never an
 * error, so per request it could only have made the policy "not satisfied"), a member it admits
 * loses that test. The remaining tests run in Cedar's order. Members without parts keep `run`.
 */
export function planShape<M extends CompiledMember>(
  members: readonly M[],
  shape: RequestShape,
  actions: ActionGraph,
): PlannedMember<M>[] {
  const env = new RequestEnv(
    {
      principal: { type: shape.principalType, id: '' },
      action: shape.action,
      resource: { type: shape.resourceType, id: '' },
      context: {},
      // The action scope reads action entities only, which come from the schema, never the request.
      entities: [],
      names: new Set(),
      actionType: shape.actionType,
    },
    actions,
  );
  const out: PlannedMember<M>[] = [];
  for (const m of members) {
    const p = m.parts;
    if (p === undefined) {
      out.push({ member: m, run: m.run });
      continue;
    }
    if (p.principal.kind === 'type' && p.principal.type !== shape.principalType) continue;
    if (p.resource.kind === 'type' && p.resource.type !== shape.resourceType) continue;
    if (p.action !== undefined && !p.action(env)) continue;
    const rest: CompiledPolicy[] = [];
    if (p.principal.kind === 'dynamic') rest.push(p.principal.test);
    if (p.resource.kind === 'dynamic') rest.push(p.resource.test);
    rest.push(...p.conditions);
    out.push({ member: m, run: allOf(rest) });
  }
  return out;
}

export interface PlannedOutcome<M extends CompiledMember> {
  forbids: M[];
  permits: M[];
  errors: { member: M; message: string }[];
}

/**
 * {@link evaluateCompiled} over planned members, for a request of their shape whose values
 * policy/compiled/convert.ts converted (so already scanned: only the parent-cycle check is left).
 * Outcomes keep the members' order. Throws Fallback.
 */
export function evaluatePlanned<M extends CompiledMember>(
  planned: readonly PlannedMember<M>[],
  input: CompiledInput,
  actions: ActionGraph,
): PlannedOutcome<M> {
  checkCycles(input.entities);
  const env = new RequestEnv(input, actions);
  const out: PlannedOutcome<M> = { forbids: [], permits: [], errors: [] };
  for (const p of planned) {
    try {
      if (p.run(env)) (p.member.effect === 'forbid' ? out.forbids : out.permits).push(p.member);
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      out.errors.push({ member: p.member, message: err.message });
    }
  }
  return out;
}

class RequestEnv implements Env {
  readonly principal: EntityValue;
  readonly resource: EntityValue;
  readonly context: Record<string, unknown>;
  private actionValue: EntityValue | undefined;
  private byUid: Map<string, EntityJson> | undefined;
  private visibleSet: Set<EntityJson> | undefined;
  private sentActionIds: ReadonlySet<string> | undefined;
  /** The principal's and the resource's entities, looked up once (null: not given). */
  private principalData: EntityData | null | undefined;
  private resourceData: EntityData | null | undefined;
  /** Their attributes as Cedar is given them, looked up once (null: none). */
  private principalAttrs: Record<string, unknown> | null | undefined;
  private resourceAttrs: Record<string, unknown> | null | undefined;

  constructor(
    private readonly input: CompiledInput,
    private readonly actions: ActionGraph,
  ) {
    this.principal = { __entity: input.principal };
    this.resource = { __entity: input.resource };
    this.context = input.context;
  }

  get action(): EntityValue {
    return (this.actionValue ??= { __entity: { type: this.input.actionType, id: this.input.action } });
  }

  private get sentActions(): ReadonlySet<string> {
    return (this.sentActionIds ??=
      this.actions.ancestors.get(this.input.action) ?? new Set([this.input.action]));
  }

  attrs(ref: Ref): Record<string, unknown> | undefined {
    return this.visible(ref)?.attrs;
  }

  varAttrs(v: 'principal' | 'resource'): Record<string, unknown> | undefined {
    if (v === 'principal') {
      if (this.principalAttrs === undefined) this.principalAttrs = this.attrs(this.input.principal) ?? null;
      return this.principalAttrs ?? undefined;
    }
    if (this.resourceAttrs === undefined) this.resourceAttrs = this.attrs(this.input.resource) ?? null;
    return this.resourceAttrs ?? undefined;
  }

  isIn(a: Ref, b: Ref): boolean {
    if (sameRef(a, b)) return true;
    const start = this.visible(a);
    if (start === undefined || start.parents.length === 0) return false;
    // Parents of an entity Cedar is given are given too (see `reachable`): no check past the start.
    const seen = new Set<string>([uidKey(a.type, a.id)]);
    const stack = [...start.parents];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (sameRef(p, b)) return true;
      const key = uidKey(p.type, p.id);
      if (seen.has(key)) continue;
      seen.add(key);
      const d = this.data(p);
      if (d !== undefined) for (const q of d.parents) stack.push(q);
    }
    return false;
  }

  /** The entity as Cedar would be given it for this request, or undefined. */
  private visible(ref: Ref): EntityData | undefined {
    if (ref.type === this.input.actionType && this.input.allVisible !== true) return this.data(ref);
    if (sameRef(ref, this.input.principal)) {
      if (this.principalData === undefined) this.principalData = this.data(ref) ?? null;
      return this.principalData ?? undefined;
    }
    if (sameRef(ref, this.input.resource)) {
      if (this.resourceData === undefined) this.resourceData = this.data(ref) ?? null;
      return this.resourceData ?? undefined;
    }
    const d = this.data(ref);
    if (d === undefined || this.input.allVisible === true) return d;
    this.visibleSet ??= new Set(
      reachable(
        this.index(),
        [this.input.principal, this.input.resource, ...entityRefsIn(this.input.context)],
        this.input.names,
      ),
    );
    return this.visibleSet.has(d as EntityJson) ? d : undefined;
  }

  private data(ref: Ref): EntityData | undefined {
    if (ref.type === this.input.actionType && this.input.allVisible !== true) {
      return this.sentActions.has(ref.id) ? this.actions.entities.get(ref.id) : undefined;
    }
    const entities = this.input.entities;
    if (entities.length <= LINEAR_LOOKUP) {
      // A few entities: comparing beats building uid keys. From the end, as the index keeps the last.
      for (let i = entities.length - 1; i >= 0; i--) {
        const uid = entities[i]!.uid as Ref;
        if (uid.id === ref.id && uid.type === ref.type) return entities[i] as EntityData;
      }
      return undefined;
    }
    return this.index().get(uidKey(ref.type, ref.id)) as EntityData | undefined;
  }

  private index(): Map<string, EntityJson> {
    return (this.byUid ??= indexEntities(this.input.entities));
  }
}

/** Up to this many request entities, an entity is found by comparing uids rather than by an index. */
const LINEAR_LOOKUP = 8;

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*(::[_a-zA-Z][_a-zA-Z0-9]*)*$/;
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has']);
const checkedTypes = new Map<string, boolean>();

/** Is `type` an entity type name Cedar certainly parses as given? (Otherwise cedar-wasm answers.) */
export function plainTypeName(type: string): boolean {
  let ok = checkedTypes.get(type);
  if (ok === undefined) {
    ok = NAME.test(type) && type.split('::').every((s) => !RESERVED.has(s) && !s.startsWith('__cedar'));
    if (checkedTypes.size < 10_000) checkedTypes.set(type, ok);
  }
  return ok;
}

/**
 * SECURITY: never guess — everything in the request that Cedar could read differently from this
 * evaluator sends the request to cedar-wasm: a string that is not well-formed UTF-16 (Cedar's
 * strings are UTF-8), an entity type Cedar's parser may reject, an extension value other than a
 * plain decimal, an object that is not a plain record, a context whose top-level keys include an
 * escape name (below).
 *
 * The context and each entity's attributes are records, scanned key by key as the reference
 * conversion (policy/cedar/values.ts `record_`) converts them and as Cedar reads them: a top-level
 * key named `__entity` or `__extn` is an attribute name like any other, not an escape, and every
 * value beside it is scanned. Escapes are read only at value positions.
 */
function scanRequest(input: CompiledInput): void {
  checkRef(input.principal);
  checkRef(input.resource);
  scanContext(input.context);
  for (const e of input.entities) {
    checkRef(e.uid as Ref);
    for (const p of e.parents) checkRef(p as Ref);
    scanRecord(e.attrs);
  }
  checkCycles(input.entities);
}

/** Keys that make an object an escape in this evaluator's values (and in Cedar's JSON values). */
const ESCAPE_KEYS: ReadonlySet<string> = new Set(['__entity', '__extn', '__expr']);

/**
 * The context, a record as Cedar reads it. This evaluator holds the context as a value, though, in
 * which an `__entity` or `__extn` key makes an escape (`context.args` would read an entity's
 * attribute): a context with such a top-level key (or the reserved `__expr`) goes to cedar-wasm,
 * which reads it as a record. Entity attributes are only ever looked up by name, never held as a
 * value, so the compiled evaluator reads those itself.
 */
function scanContext(context: Record<string, unknown>): void {
  scanRecord(context);
  for (const k of ESCAPE_KEYS) if (Object.hasOwn(context, k)) throw new Fallback('escape key in context');
}

/** A context or an entity's attributes: every key is an attribute name, every value is scanned. */
function scanRecord(r: unknown): void {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Fallback('record');
  if (Object.getPrototypeOf(r) !== Object.prototype) throw new Fallback('object');
  const o = r as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!k.isWellFormed()) throw new Fallback('record key');
    scanValue(o[k]);
  }
}

/**
 * Cedar refuses a parent cycle among the entities it is given (a `failure`, so a deny). Any cycle
 * among all the request's entities — a superset of what Cedar is given — goes to cedar-wasm.
 */
export function checkCycles(entities: readonly EntityJson[]): void {
  let parents = false;
  for (const e of entities) if (e.parents.length > 0) parents = true;
  if (parents && hasCycle(indexEntities(entities))) throw new Fallback('entity parent cycle');
}

/** Is there a cycle along parent edges between entities of the request (iterative DFS, 3 colours)? */
function hasCycle(byUid: ReadonlyMap<string, EntityJson>): boolean {
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  for (const start of byUid.keys()) {
    if (state.has(start)) continue;
    const stack: { key: string; next: number }[] = [{ key: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const parents = byUid.get(top.key)!.parents as Ref[];
      if (top.next === parents.length) {
        state.set(top.key, 2);
        stack.pop();
        continue;
      }
      const p = parents[top.next++]!;
      const key = uidKey(p.type, p.id);
      if (!byUid.has(key)) continue;
      const s = state.get(key);
      if (s === 1) return true;
      if (s === undefined) {
        state.set(key, 1);
        stack.push({ key, next: 0 });
      }
    }
  }
  return false;
}

function checkRef(ref: Ref): void {
  const r = ref as { type?: unknown; id?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.type !== 'string' || typeof r.id !== 'string')
    throw new Fallback('entity reference');
  if (!plainTypeName(r.type) || !r.id.isWellFormed()) throw new Fallback('entity reference');
}

function scanValue(v: unknown): void {
  switch (typeof v) {
    case 'string':
      if (!v.isWellFormed()) throw new Fallback('string');
      return;
    case 'number':
      if (!Number.isSafeInteger(v)) throw new Fallback('number');
      return;
    case 'boolean':
      return;
    case 'object': {
      if (v === null) throw new Fallback('null');
      if (Array.isArray(v)) {
        for (const x of v) scanValue(x);
        return;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) throw new Fallback('object');
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      // At a value position, an object with an escape key is an escape, and only the exact ones
      // the reference conversion passes are read here: `{ __entity }` or `{ __extn }` alone.
      if (keys.some((k) => ESCAPE_KEYS.has(k))) {
        if (keys.length !== 1) throw new Fallback('malformed escape');
        if (keys[0] === '__entity') {
          checkRef(o.__entity as Ref);
          return;
        }
        const x = o.__extn as { fn?: unknown; arg?: unknown; args?: unknown } | null | undefined;
        if (
          keys[0] !== '__extn' ||
          typeof x !== 'object' ||
          x === null ||
          x.fn !== 'decimal' ||
          typeof x.arg !== 'string' ||
          x.args !== undefined ||
          !DECIMAL_ARG.test(x.arg)
        )
          throw new Fallback('extension value');
        return;
      }
      for (const k of keys) {
        if (!k.isWellFormed()) throw new Fallback('record key');
        scanValue(o[k]);
      }
      return;
    }
    default:
      throw new Fallback('value');
  }
}
