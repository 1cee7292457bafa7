/**
 * The policy-engine port. The decision path knows only these types; `policy/cedar` is the one
 * implementation today (and the only folder that imports cedar-wasm), a faster evaluator can plug
 * in behind the same port later.
 */

/** An entity reference as Cedar's JSON format spells it. */
export interface EntityRef {
  type: string;
  id: string;
}

/**
 * An entity handed to the engine. Attribute values are plain JSON: arrays become sets, integers
 * Longs, `{ "__entity": { type, id } }` an entity reference, `{ "__extn": … }` an extension value;
 * non-integer numbers become `decimal` (at most 4 fractional digits) or the evaluation errors.
 */
export interface PolicyEntity {
  uid: EntityRef;
  attrs: Record<string, unknown>;
  parents: EntityRef[];
}

export interface PolicyRequest {
  principal: EntityRef;
  /** The action name, e.g. `payments.refund` (Cedar `Action::"payments.refund"`). */
  action: string;
  resource: EntityRef;
  context: Record<string, unknown>;
  /** Only the entities this decision needs (principal, resource, the user acted for …). */
  entities: PolicyEntity[];
}

export interface ApprovalRequirement {
  role: string;
  quorum: number;
  policyId: string;
}

export interface SatisfiedPolicy {
  policyId: string;
  effect: 'permit' | 'forbid';
  /** The `@reason` annotation, when present. */
  reason?: string;
  approval?: ApprovalRequirement;
}

export interface PolicyErrorInfo {
  policyId: string;
  effect: 'permit' | 'forbid';
  message: string;
  /**
   * Absent for an evaluation error (`policy_error`). `approval_conflict`: the policy evaluated, but
   * it is one of several satisfied `@approval` permits that ask different roles, so no one approval
   * meets them all (the message names only policy ids and roles, never a request's values).
   */
  code?: 'approval_conflict';
}

/**
 * One evaluation, with the approval semantics of DESIGN.md applied:
 * a satisfied forbid → deny; any evaluation error → deny (SECURITY: fail closed — Cedar skips an
 * erroring policy, we do not); a satisfied plain permit → allow; only `@approval` permits
 * satisfied → approval_required when they ask one role (its highest quorum), deny with an
 * `approval_conflict` error on each when they ask different roles; nothing satisfied → deny.
 */
export interface PolicyEvaluation {
  effect: 'allow' | 'deny' | 'approval_required';
  /** The determining policies: forbids when denied by a forbid, permits otherwise. */
  satisfied: SatisfiedPolicy[];
  errors: PolicyErrorInfo[];
  /**
   * Set when effect is approval_required: the one approval that meets every satisfied `@approval`
   * permit — their role, with the highest of their quorums (its policy's id; the lowest id among
   * equals, so it is deterministic).
   */
  approval?: ApprovalRequirement;
  /** How many policies the engine was handed for this request (the slice). */
  sliceSize: number;
}

export interface PolicyInfo {
  id: string;
  file: string;
  effect: 'permit' | 'forbid';
  annotations: Record<string, string>;
  text: string;
}

/**
 * What the schema declares for a value under `context.args`, as far as the decision path needs it
 * to hand the engine the type the policies were validated for (e.g. `37` where `decimal` is
 * declared becomes `decimal("37.0")`). `other` is anything else (entities, `ipaddr`, …).
 */
export type ArgType =
  | { kind: 'long' }
  | { kind: 'decimal' }
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'set'; element: ArgType }
  | { kind: 'record'; attributes: Readonly<Record<string, ArgType>> }
  /** An entity of this type (its name qualified by its namespace). */
  | { kind: 'entity'; type: string }
  /** `ipaddr`, `datetime` or `duration`: `fn` is the constructor Cedar's JSON form names (`ip` …). */
  | { kind: 'extension'; fn: string }
  | { kind: 'other' };

/** A validated, compiled, immutable policy set. Swapping the active set is one reference assignment. */
export interface CompiledPolicySet {
  /** `sha256:<hex>`. */
  readonly version: string;
  readonly policies: readonly PolicyInfo[];
  /**
   * Every attribute name any policy of the set can read (`e.attr`, `e has attr`, of entities and of
   * the context): an entity attribute not named here cannot change any of its answers.
   */
  readonly attributeNames: ReadonlySet<string>;
  /** Action names declared in the schema. */
  readonly actions: readonly string[];
  /** The type the schema declares for `context.args` of this action; undefined when it declares none. */
  argsType(action: string): ArgType | undefined;
  /** The record of attributes the schema declares for this entity type; undefined when it declares none. */
  entityShape(type: string): ArgType | undefined;
  /**
   * The parent types the schema declares for this entity type (`entity Doc in [Dir]` → `["Dir"]`);
   * empty when it declares none. Names as the schema writes them (only unqualified names pass
   * validation).
   */
  entityParentTypes(type: string): readonly string[];
  evaluate(request: PolicyRequest): PolicyEvaluation;
  /** The same evaluation over the whole set, without slicing (baseline for benchmarks and tests). */
  evaluateUnsliced(request: PolicyRequest): PolicyEvaluation;
  /**
   * Could some permit ever allow (or ask approval for) this principal to take this action — for some
   * resource and some context? Answered by partial evaluation with the resource and the named
   * context keys unknown. Conservative: true unless every permit is provably false for this
   * principal. Used only to hide tools nobody could let this principal call; never to allow.
   */
  couldPermit(principal: PolicyEntity, action: string, contextKeys: readonly string[]): boolean;
  /**
   * False once disposed, or once the engine instance it was compiled into was replaced
   * ({@link PolicyEngine.reinstantiate}, by any engine of the process): its evaluations then deny,
   * and it must be compiled again.
   */
  usable(): boolean;
  /** Frees engine-side caches; the set must not be used after. */
  dispose(): void;
}

export interface PolicySetSource {
  /** File name (e.g. `refunds.cedar`) → Cedar text. */
  policies: Record<string, string>;
  /** Cedar schema (human-readable `.cedarschema` syntax). */
  schema: string;
}

export interface PolicyProblem {
  file?: string;
  policyId?: string;
  message: string;
}

/** Whether the live engine answers a canary evaluation, and why not. */
export type EngineHealth = { ok: true } | { ok: false; reason: string };

export interface PolicyEngine {
  /** Parses and validates the whole set against its schema (strict mode). Never throws for bad input. */
  validate(source: PolicySetSource): { ok: true } | { ok: false; problems: PolicyProblem[] };
  /** {@link validate}, reading a large set off the event loop as {@link compileAsync} does. */
  validateAsync(source: PolicySetSource): Promise<{ ok: true } | { ok: false; problems: PolicyProblem[] }>;
  /** Validates then compiles; throws `MandateError('policy_invalid', …, { details: problems })` on any problem. */
  compile(source: PolicySetSource): CompiledPolicySet;
  /**
   * {@link compile}, with the slow part of a large set (cedar-wasm's parse and validation, in a
   * child process) done without blocking the event loop: what a serving node uses (ADR 0034).
   */
  compileAsync(source: PolicySetSource): Promise<CompiledPolicySet>;
  /**
   * Screens text from outside before {@link validate} or {@link compile} may see it: size and
   * nesting bounds first (no parsing), then the engine's own parse and validation in an isolated
   * instance, so text that would crash the engine cannot break the live one. Problems, or [] when
   * the text may go on to the live engine (which then reports ordinary problems itself).
   */
  screen(source: PolicySetSource): Promise<PolicyProblem[]>;
  /** A canary evaluation on the live engine: a broken one makes the node not ready. */
  health(): EngineHealth;
  /**
   * Replaces the live engine with a fresh instance. Every set compiled before is unusable after
   * (its evaluations deny): compile the active set again.
   */
  reinstantiate(): void;
  /** Stops what {@link screen} started. */
  close(): Promise<void>;
  /** Compiled answers that cedar-wasm, re-asked in production verification, answered otherwise. */
  divergences?(): number;
}
