import { randomUUID } from 'node:crypto';
import { MandateError, setOwn, silentLogger, yieldToLoop, type Logger } from '../../kernel/index.js';
import { createIsolatedScreen, type IsolatedScreen } from './isolated.js';
import { createCanary } from './canary.js';
import { checkPolicyTextBounds } from '../bounds.js';
import { routeApproval } from '../approval-route.js';
import type {
  ApprovalRequirement,
  CompiledPolicySet,
  ArgType,
  PolicyEngine,
  PolicyEntity,
  PolicyErrorInfo,
  PolicyEvaluation,
  PolicyInfo,
  PolicyRequest,
  PolicySetSource,
  SatisfiedPolicy,
} from '../port.js';
import { actionAncestors, createSliceIndex, type SliceIndex } from '../slicing.js';
import { policySetVersion } from '../version.js';
import { CedarValueError, toCedarEntities, toCedarRecord, toRef } from './values.js';
import { pickNames } from '../attributes.js';
import {
  cedarGeneration,
  reinstantiateCedar,
  preparsePolicySet,
  statefulIsAuthorized,
  isAuthorizedPartial,
  type CedarValueJson,
  type AuthorizationAnswer,
  type EntityJson,
} from './wasm.js';
import {
  CEDAR_ACTION_TYPE,
  analyse,
  byCodeUnits,
  readAhead,
  isSource,
  messageOf,
  type ActionDecl,
  type AnalysedPolicy,
  type Analysis,
} from './analysis.js';
import { entityRefsIn, reachableEntities, uidKey } from './entities.js';
import { Unsupported, compilePolicyParts, compileSharing, wholePolicy } from '../compiled/compile.js';
import {
  actionGraph,
  evaluateCompiled,
  evaluatePlanned,
  planShape,
  plainTypeName,
  type ActionGraph,
  type CompiledInput,
  type CompiledMember,
  type PlannedMember,
  type PlannedOutcome,
} from '../compiled/request.js';
import { convertPlain, hasDuplicateUid } from '../compiled/convert.js';
import { Fallback, type Ref } from '../compiled/values.js';

export { CEDAR_ACTION_TYPE } from './analysis.js';

/**
 * The `policyId` of an error that belongs to the request rather than to one policy (a value Cedar
 * cannot represent, a Cedar `failure` answer, a disposed set). Policy ids are never empty.
 */
export const REQUEST_ERROR_POLICY_ID = '';

/**
 * The Cedar implementation of the policy-engine port.
 *
 * Per call, only the slice of policies that can match (action × principal type) is handed to
 * Cedar, preparsed once per slice and cached in the compiled set; the schema is used at compile
 * time only (strict validation, action groups), never per call.
 */
/** Options of {@link createCedarEngine}. */
export interface CedarEngineOptions {
  /**
   * Most answers remembered per compiled set, keyed by the exact input handed to Cedar (see
   * `CedarPolicySet.run`); 0 turns the memo off. Default 4096.
   */
  memoEntries?: number;
  /**
   * `cedar` (default): every evaluation is a cedar-wasm call. `compiled`: each policy's JSON form is
   * compiled into JavaScript closures at activation (policy/compiled) and a slice whose policies all
   * compiled is evaluated in JavaScript; any other slice, and any request holding a value the
   * compiled evaluator does not read exactly, goes to cedar-wasm (ADR 0012).
   */
  evaluator?: 'cedar' | 'compiled';
  /** Where the isolated screening worker reports its failures. */
  logger?: Logger;
  /** Called for each request the compiled evaluator hands to cedar-wasm, with why (tests and metrics). */
  onFallback?: (reason: string) => void;
  /**
   * Verification in production (`compiled` only): this share of the compiled evaluator's answers
   * is evaluated again by cedar-wasm after the answer, off its path; a difference in effect,
   * determining or erroring policies is reported to `onDivergence`.
   */
  verifySample?: number;
  onDivergence?: (d: Divergence) => void;
  /** After the first divergence, every later evaluation of every set of this engine goes to cedar-wasm. */
  switchOnDivergence?: boolean;
  /**
   * A set whose text is at least this many UTF-16 code units is parsed and validated by cedar-wasm
   * in a child process that exits after (ADR 0027); a smaller one in the live instance. Default
   * `READ_IN_CHILD_FROM` (256 Ki); tests set 0 to read every set in a child.
   */
  readInChildFrom?: number;
  /** Fault injection for tests: rewrites a policy's JSON form before it is compiled (a compiler bug). */
  compileHook?: (json: unknown) => unknown;
  /**
   * Tests only: false makes `evaluate` skip the compiled evaluator's fast path (plans per request
   * shape, one-walk conversion), so its answers can be compared with the general path's.
   */
  fastPath?: boolean;
}

interface EngineState {
  referenceOnly: boolean;
  divergences: number;
}

/** A compiled answer that cedar-wasm, asked the same, answered otherwise. */
export interface Divergence {
  action: string;
  principal: string;
  compiled: AnswerSummary;
  reference: AnswerSummary;
}
export interface AnswerSummary {
  effect: string;
  satisfied: string[];
  errors: string[];
}

const summary = (e: PolicyEvaluation): AnswerSummary => ({
  effect: e.effect,
  satisfied: e.satisfied.map((s) => s.policyId).sort(),
  errors: e.errors.map((x) => x.policyId).sort(),
});

/**
 * The wasm instance (by generation) a canary found broken, shared by every engine of the process
 * (they share the instance). SECURITY: fail closed — every set compiled in that instance denies
 * from then on, whichever evaluator answers, until the instance is replaced (`reinstantiate`) and
 * the set compiled again; the compiled evaluator does not need wasm, but a node that reports its
 * engine broken must not be the one that answers allow.
 */
let brokenGeneration: number | null = null;

/** Sets this large give the event loop a turn between their analysis and their build (ADR 0034). */
const YIELD_BEFORE_BUILD_FROM = 100;

/** What {@link CompiledPolicySet.entityParentTypes} answers for a type declared without parents. */
const NO_PARENTS: readonly string[] = Object.freeze([]);

export function createCedarEngine(options: CedarEngineOptions = {}): PolicyEngine {
  const memoEntries = Math.max(0, Math.floor(options.memoEntries ?? 4096));
  // Shared by every set this engine compiles: once true, the compiled evaluator is no longer used.
  const state: EngineState = { referenceOnly: false, divergences: 0 };
  const setOptions = { ...options, state };
  const readOptions =
    options.readInChildFrom === undefined ? {} : { readInChildFrom: options.readInChildFrom };
  /** PERF: a large set's cedar-wasm read runs in a child the loop does not wait on (ADR 0034). */
  const readingAhead = async (source: PolicySetSource) => {
    const reader = await readAhead(source, readOptions);
    // PERF: the child's answers were just decoded in one block; the analysis is the next one.
    if (reader) await yieldToLoop();
    return reader ? { ...readOptions, reader } : readOptions;
  };
  const compiled = (source: PolicySetSource, analysis: Analysis): CedarPolicySet => {
    if (analysis.problems.length > 0) {
      throw new MandateError('policy_invalid', 'policy set is invalid', { details: analysis.problems });
    }
    return new CedarPolicySet(policySetVersion(source), analysis, memoEntries, setOptions);
  };
  let isolated: IsolatedScreen | null = null;
  const canary = createCanary();
  return {
    async screen(source) {
      const bounds = isSource(source) ? checkPolicyTextBounds(source) : [];
      if (bounds.length > 0 || !isSource(source)) return bounds;
      isolated ??= createIsolatedScreen({ logger: options.logger ?? silentLogger });
      return isolated.screen(source);
    },
    health() {
      const found = canary();
      if (!found.ok) brokenGeneration = cedarGeneration();
      return found;
    },
    divergences: () => state.divergences,
    reinstantiate() {
      reinstantiateCedar();
    },
    async close() {
      await isolated?.close();
      isolated = null;
    },
    validate(source) {
      const { problems } = analyse(source, readOptions);
      return problems.length === 0 ? { ok: true } : { ok: false, problems };
    },
    async validateAsync(source) {
      const { problems } = analyse(source, await readingAhead(source));
      return problems.length === 0 ? { ok: true } : { ok: false, problems };
    },
    compile(source) {
      return compiled(source, analyse(source, readOptions));
    },
    async compileAsync(source) {
      const analysis = analyse(source, await readingAhead(source));
      // PERF: building the slices and closures is a block of its own (~0.3 s at 10,000 policies).
      if (analysis.problems.length === 0 && analysis.policies.length >= YIELD_BEFORE_BUILD_FROM) {
        await yieldToLoop();
      }
      return compiled(source, analysis);
    },
  };
}

/** A slice of the set: the policies one (action, principal type) can match. */
interface Slice {
  /**
   * The slice preparsed in the live cedar-wasm instance; undefined for the empty slice, which needs
   * no Cedar call, and, with the compiled evaluator, until cedar-wasm is first asked about it (see
   * `preparsedId`).
   */
  id: string | undefined;
  /** Its policies, by index into the set. */
  members: readonly number[];
  size: number;
  /** Attribute names its policies can read; the rest of the request is not sent to Cedar. */
  names: ReadonlySet<string>;
  wholeContext: boolean;
  /** Set when the compiled evaluator is on and every policy of the slice compiled. */
  compiled?: Member[];
}

/** A compiled policy of the set, with what its answer names. */
interface Member extends CompiledMember {
  policy: HeldPolicy;
}

/**
 * What `evaluate` does for one request shape (action, principal type, resource type): the slice,
 * and, when the compiled evaluator answers it, the slice's members that shape admits, sorted by
 * policy id (the order of every list in the answer), reduced to their per-request tests.
 */
interface Plan {
  slice: Slice;
  planned: PlannedMember<Member>[] | undefined;
}

class CedarPolicySet implements CompiledPolicySet {
  readonly version: string;
  readonly policies: readonly PolicyInfo[];
  readonly actions: readonly string[];
  readonly attributeNames: ReadonlySet<string>;

  private readonly analysed: readonly HeldPolicy[];
  private readonly byId = new Map<string, HeldPolicy>();
  private readonly declared: Map<string, ActionDecl>;
  private readonly entityShapes: Map<string, ArgType>;
  private readonly entityParents: Map<string, readonly string[]>;
  private readonly ancestors: Map<string, ReadonlySet<string>>;
  private readonly index: SliceIndex;
  /** Preparsed-set ids live in wasm thread-local storage: unique per compiled instance and slice. */
  private readonly idPrefix: string;
  private readonly sliceByKey = new Map<string, Slice>();
  private readonly sliceByMembers = new Map<string, Slice>();
  private readonly actionEntities = new Map<string, EntityJson[]>();
  private readonly preparsed: string[] = [];
  private whole: Slice | undefined;
  private disposed = false;
  /** The wasm instance its slices are preparsed in; another one does not know them. */
  private readonly generation = cedarGeneration();
  /** Cedar's answers by the exact call handed to it (ADR 0010); insertion order is recency. */
  private readonly memo = new Map<string, PolicyEvaluation>();
  /** The compiled evaluator's closures by policy index; undefined for a policy left to cedar-wasm. */
  private readonly compiled: (Member | undefined)[] | undefined;
  private readonly actionGraph: ActionGraph;
  /** The compiled evaluator's plans by action, principal type and resource type (all from the schema). */
  private readonly plans = new Map<string, Map<string, Map<string, Plan>>>();

  constructor(
    version: string,
    analysis: Analysis,
    private readonly memoEntries: number,
    private readonly options: CedarEngineOptions & { state: EngineState },
  ) {
    this.version = version;
    // What a policy's evaluation, slicing and reporting read; its JSON form is only compiled (below)
    // and is not kept: for a large set it was most of the set's heap (ADR 0027).
    this.analysed = analysis.policies.map((p) => ({
      info: p.info,
      meta: p.meta,
      scope: p.scope,
      uses: p.uses,
    }));
    this.policies = Object.freeze(this.analysed.map((p) => Object.freeze({ ...p.info })));
    for (const p of this.analysed) this.byId.set(p.info.id, p);
    this.attributeNames = new Set(analysis.policies.flatMap((p) => [...p.uses.names]));
    this.declared = analysis.actions;
    this.entityShapes = analysis.entityShapes;
    this.entityParents = analysis.entityParents;
    this.actions = Object.freeze([...analysis.actions.keys()].sort(byCodeUnits));
    this.ancestors = actionAncestors(new Map([...analysis.actions].map(([name, a]) => [name, a.memberOf])));
    this.index = createSliceIndex(
      analysis.policies.map((p) => p.scope),
      this.ancestors,
    );
    this.idPrefix = `mandate:${version}:${randomUUID()}`;
    this.actionGraph = actionGraph(
      this.ancestors,
      new Map([...analysis.actions].map(([name, a]) => [name, a.memberOf])),
      CEDAR_ACTION_TYPE,
    );
    if (options.evaluator === 'compiled') {
      // Compiled within compileSharing (identical scopes and conditions share a closure, ADR 0027);
      // a member keeps the slim held copy of its policy, not the JSON form it was compiled from.
      this.compiled = compileSharing(() =>
        analysis.policies.map((p, i) => {
          try {
            const json = options.compileHook ? (options.compileHook(p.json) as typeof p.json) : p.json;
            const parts = compilePolicyParts(json);
            const member: Member = {
              policyId: p.info.id,
              effect: p.info.effect,
              run: wholePolicy(parts),
              parts,
              policy: this.analysed[i]!,
            };
            return member;
          } catch (err) {
            if (err instanceof Unsupported) return undefined;
            throw err;
          }
        }),
      );
    }
  }

  evaluate(request: PolicyRequest): PolicyEvaluation {
    return this.run(
      request,
      () => this.sliceFor(request.action, request.principal.type),
      false,
      this.compiled !== undefined && this.options.fastPath !== false,
    );
  }

  private sliceFor(action: string, principalType: string): Slice {
    const key = this.index.key(action, principalType);
    let slice = this.sliceByKey.get(key);
    if (slice === undefined) {
      slice = this.preparse(this.index.select(action, principalType));
      this.sliceByKey.set(key, slice);
    }
    return slice;
  }

  argsType(action: string): ArgType | undefined {
    return this.declared.get(action)?.args;
  }

  entityShape(type: string): ArgType | undefined {
    return this.entityShapes.get(type);
  }

  entityParentTypes(type: string): readonly string[] {
    return this.entityParents.get(type) ?? NO_PARENTS;
  }

  couldPermit(principal: PolicyEntity, action: string, contextKeys: readonly string[]): boolean {
    if (this.disposed) return false;
    const decl = this.declared.get(action);
    if (decl === undefined || !decl.principalTypes.has(principal.uid.type)) return false;
    const members = this.index
      .select(action, principal.uid.type)
      .filter((i) => this.analysed[i]!.info.effect === 'permit');
    if (members.length === 0) return false;
    const staticPolicies = policyTexts(members.map((i) => this.analysed[i]!.info));
    try {
      const answer = isAuthorizedPartial({
        principal: toRef(principal.uid, 'principal'),
        action: { type: CEDAR_ACTION_TYPE, id: action },
        resource: null,
        context: Object.fromEntries(
          contextKeys.map((k) => [k, { __extn: { fn: 'unknown', arg: `context.${k}` } }]),
        ) as Record<string, CedarValueJson>,
        policies: { staticPolicies },
        entities: [...toCedarEntities([principal], CEDAR_ACTION_TYPE), ...this.actionEntitiesFor(action)],
      });
      if (answer.type !== 'residuals') return true;
      const r = answer.response;
      if (r.satisfied.length > 0 || r.errored.length > 0) return true;
      // A residual permit whose `when` conditions reduce to a conjunction holding a literal false can
      // never be satisfied, whatever the unknowns turn out to be.
      return Object.entries(r.residuals).some(
        ([id, p]) =>
          staticPolicies[id] !== undefined &&
          !p.conditions.some((c) => c.kind === 'when' && provablyFalse(c.body)),
      );
    } catch {
      return true;
    }
  }

  evaluateUnsliced(request: PolicyRequest): PolicyEvaluation {
    return this.run(request, () => {
      this.whole ??= this.preparse(this.analysed.map((_, i) => i));
      return this.whole;
    });
  }

  usable(): boolean {
    return !this.disposed && this.generation === cedarGeneration();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // A replaced instance took its preparsed sets with it; the current one never had them.
    if (this.generation !== cedarGeneration()) this.preparsed.length = 0;
    // cedar-wasm has no call to drop a preparsed set; overwriting each id with an empty set frees
    // the policies and leaves only the (tiny) map entry behind.
    for (const id of this.preparsed) {
      try {
        preparsePolicySet(id, { staticPolicies: {} });
      } catch {
        // Nothing more can be freed; the set is unusable either way.
      }
    }
    this.preparsed.length = 0;
    this.sliceByKey.clear();
    this.sliceByMembers.clear();
    this.memo.clear();
    this.plans.clear();
    this.actionEntities.clear();
    this.whole = undefined;
  }

  /** Asks cedar-wasm the same after the answer left, and reports a difference (ADR 0012). */
  private verifyLater(request: PolicyRequest, pick: () => Slice, compiled: PolicyEvaluation): void {
    setImmediate(() => {
      if (this.disposed) return;
      const reference = this.run(request, pick, true);
      const a = summary(compiled);
      const b = summary(reference);
      if (JSON.stringify(a) === JSON.stringify(b)) return;
      this.options.state.divergences++;
      if (this.options.switchOnDivergence) this.options.state.referenceOnly = true;
      this.options.onDivergence?.({
        action: request.action,
        principal: `${request.principal.type}::${request.principal.id}`,
        compiled: a,
        reference: b,
      });
    });
  }

  private run(request: PolicyRequest, pick: () => Slice, reference = false, fast = false): PolicyEvaluation {
    // SECURITY: fail closed — every way out of here that is not a clean Cedar answer is a deny.
    let size = 0;
    try {
      if (this.disposed) return requestError(0, 'policy set was disposed');
      if (this.generation !== cedarGeneration())
        return requestError(0, 'the policy engine was restarted; the set is being compiled again');
      if (brokenGeneration === this.generation)
        return requestError(0, 'the policy engine failed its canary check; denying until it is replaced');
      // SECURITY: fail closed — an action the schema does not declare (or a pure group, which
      // applies to nothing) is denied without evaluation.
      const decl = this.declared.get(request.action);
      if (decl === undefined || decl.principalTypes.size === 0 || decl.resourceTypes.size === 0) {
        return { effect: 'deny', satisfied: [], errors: [], sliceSize: 0 };
      }
      // SECURITY: fail closed — strict validation typed every policy for the schema's appliesTo;
      // a request outside it could satisfy a policy the validator never checked for it.
      const principal = toRef(request.principal, 'principal');
      const resource = toRef(request.resource, 'resource');
      if (!decl.principalTypes.has(principal.type) || !decl.resourceTypes.has(resource.type)) {
        return requestError(
          0,
          `principal type "${principal.type}" / resource type "${resource.type}" not allowed for action "${request.action}" by the schema`,
        );
      }
      // Set when the fast path found the request needs cedar-wasm (and reported it).
      let fellBack = false;
      if (fast && !reference && !this.options.state.referenceOnly) {
        const answer = this.runPlanned(request, pick, principal, resource);
        if (answer === FELL_BACK) fellBack = true;
        else if (answer !== undefined) return answer;
      }
      const context = toCedarRecord(request.context, 'context');
      const entities = toCedarEntities(request.entities, CEDAR_ACTION_TYPE);
      // SECURITY: fail closed — two entities with one uid mean two answers; Cedar would only notice
      // when their (sent) attributes differ.
      const uids = new Set<string>();
      for (const e of request.entities) {
        const key = uidKey(e.uid.type, e.uid.id);
        if (uids.has(key)) throw new CedarValueError(`entity ${e.uid.type}::"${e.uid.id}" appears twice`);
        uids.add(key);
      }
      const slice = pick();
      size = slice.size;
      const sentContext = slice.wholeContext ? context : (pickNames(context, slice.names) as typeof context);
      if (slice.size === 0) return { effect: 'deny', satisfied: [], errors: [], sliceSize: 0 };
      if (slice.compiled !== undefined && !reference && !this.options.state.referenceOnly && !fellBack) {
        const answer = this.runCompiled(slice.compiled, {
          principal,
          action: request.action,
          resource,
          context: sentContext,
          entities,
          names: slice.names,
          actionType: CEDAR_ACTION_TYPE,
        });
        if (answer !== undefined) {
          const result = this.interpret(answer, size);
          const sample = this.options.verifySample ?? 0;
          if (sample > 0 && Math.random() < sample) this.verifyLater(request, pick, result);
          return result;
        }
      } else if (this.compiled !== undefined && !fellBack) {
        this.options.onFallback?.('a policy of this slice did not compile');
      }
      const call = {
        principal,
        action: { type: CEDAR_ACTION_TYPE, id: request.action },
        resource,
        // Every value is converted (and so checked) in JS, but only what the slice's policies can
        // read crosses into wasm, where each field costs (see policy/attributes.ts).
        context: sentContext,
        entities: [
          ...reachableEntities(entities, [principal, resource, ...entityRefsIn(sentContext)], slice.names),
          ...this.actionEntitiesFor(request.action),
        ],
        preparsedPolicySetId: this.preparsedId(slice),
      };
      if (this.memoEntries === 0) return this.interpret(statefulIsAuthorized(call), size);
      // Cedar is a pure function of this call (the preparsed slice it names never changes, and it
      // reads no clock): the same text gets the same answer, so an answer is kept under it.
      const key = JSON.stringify(call);
      const known = this.memo.get(key);
      if (known !== undefined) {
        this.memo.delete(key);
        this.memo.set(key, known);
        return known;
      }
      const evaluation = freezeEvaluation(this.interpret(statefulIsAuthorized(call), size));
      if (this.memo.size >= this.memoEntries) this.memo.delete(this.memo.keys().next().value!);
      this.memo.set(key, evaluation);
      return evaluation;
    } catch (err) {
      return requestError(
        size,
        err instanceof CedarValueError ? err.message : `policy evaluation failed: ${messageOf(err)}`,
      );
    }
  }

  /** The compiled evaluator's answer in Cedar's shape, or undefined when cedar-wasm must answer. */
  private runCompiled(members: CompiledMember[], input: CompiledInput): AuthorizationAnswer | undefined {
    try {
      const out = evaluateCompiled(members, input, this.actionGraph);
      // Cedar's diagnostics: the satisfied forbids when one is satisfied, else the satisfied permits.
      const reason = out.forbids.length > 0 ? out.forbids : out.permits;
      return {
        type: 'success',
        response: {
          decision: out.forbids.length === 0 && out.permits.length > 0 ? 'allow' : 'deny',
          diagnostics: {
            reason,
            errors: out.errors.map((e) => ({
              policyId: e.policyId,
              error: { message: e.message, help: null, code: null, url: null, severity: null },
            })),
          },
        },
        warnings: [],
      };
    } catch (err) {
      if (!(err instanceof Fallback)) throw err;
      this.options.onFallback?.(err.message);
      return undefined;
    }
  }

  /**
   * The compiled evaluator's fast path for `evaluate`: the plan of the request's shape (made once),
   * the request converted in one walk, the planned members evaluated, the answer built from them.
   * Undefined when the general path must take the request from the start (a slice not compiled, a
   * value or entity list the one-walk conversion leaves to the reference conversion); FELL_BACK when
   * the evaluation needs cedar-wasm (reported to `onFallback` here, so not again).
   */
  private runPlanned(
    request: PolicyRequest,
    pick: () => Slice,
    principal: Ref,
    resource: Ref,
  ): PolicyEvaluation | typeof FELL_BACK | undefined {
    const plan = this.planFor(request.action, principal.type, resource.type);
    if (plan.planned === undefined) return undefined;
    // SECURITY: never guess — an entity type name Cedar might read otherwise goes to cedar-wasm
    // (the general path's scan); the ids are well-formed (toRef).
    if (!plainTypeName(principal.type) || !plainTypeName(resource.type)) return undefined;
    const slice = plan.slice;
    // Narrowed to what the slice reads, as the cedar-wasm path sends it (see `convertPlain`).
    const converted = convertPlain(
      request.context,
      request.entities,
      CEDAR_ACTION_TYPE,
      slice.names,
      slice.wholeContext,
    );
    // SECURITY: fail closed — the general path refuses two entities with one uid, naming them.
    if (converted === undefined || hasDuplicateUid(converted.entities)) return undefined;
    try {
      const out = evaluatePlanned(
        plan.planned,
        {
          principal,
          action: request.action,
          resource,
          context: converted.context,
          entities: converted.entities,
          names: slice.names,
          actionType: CEDAR_ACTION_TYPE,
        },
        this.actionGraph,
      );
      const result = answerPlanned(out, slice.size);
      const sample = this.options.verifySample ?? 0;
      if (sample > 0 && Math.random() < sample) this.verifyLater(request, pick, result);
      return result;
    } catch (err) {
      // SECURITY: fail closed — as the general path answers an unexpected failure of the evaluator.
      if (!(err instanceof Fallback))
        return requestError(slice.size, `policy evaluation failed: ${messageOf(err)}`);
      this.options.onFallback?.(err.message);
      return FELL_BACK;
    }
  }

  private planFor(action: string, principalType: string, resourceType: string): Plan {
    let byPrincipal = this.plans.get(action);
    if (byPrincipal === undefined) this.plans.set(action, (byPrincipal = new Map()));
    let byResource = byPrincipal.get(principalType);
    if (byResource === undefined) byPrincipal.set(principalType, (byResource = new Map()));
    let plan = byResource.get(resourceType);
    if (plan === undefined) {
      const slice = this.sliceFor(action, principalType);
      const members =
        slice.compiled === undefined
          ? undefined
          : [...slice.compiled].sort((a, b) => byCodeUnits(a.policyId, b.policyId));
      plan = {
        slice,
        planned:
          members === undefined || slice.size === 0
            ? undefined
            : planShape(
                members,
                { action, principalType, resourceType, actionType: CEDAR_ACTION_TYPE },
                this.actionGraph,
              ),
      };
      byResource.set(resourceType, plan);
    }
    return plan;
  }

  private interpret(answer: AuthorizationAnswer, sliceSize: number): PolicyEvaluation {
    if (answer.type === 'failure') {
      // SECURITY: fail closed — e.g. malformed entities: Cedar could not decide, so we deny.
      return requestError(sliceSize, `cedar: ${answer.errors.map((e) => e.message).join('; ')}`);
    }
    const { decision, diagnostics } = answer.response;
    const errors: PolicyErrorInfo[] = diagnostics.errors
      .map((e) => ({
        policyId: e.policyId,
        effect: this.byId.get(e.policyId)?.info.effect ?? ('forbid' as const),
        message: e.error.message,
      }))
      .sort((a, b) => byCodeUnits(a.policyId, b.policyId) || byCodeUnits(a.message, b.message));
    const reasons: HeldPolicy[] = [];
    for (const id of [...diagnostics.reason].sort(byCodeUnits)) {
      const p = this.byId.get(id);
      // SECURITY: fail closed — a determining policy we do not know cannot justify anything.
      if (p === undefined) return requestError(sliceSize, `cedar named an unknown policy "${id}"`, errors);
      reasons.push(p);
    }

    const forbids = reasons.filter((p) => p.info.effect === 'forbid');
    if (forbids.length > 0) return { effect: 'deny', satisfied: forbids.map(satisfied), errors, sliceSize };
    // SECURITY: fail closed — Cedar skips an erroring policy (an erroring forbid would not stop
    // a matching permit); any error at all makes the decision a deny.
    if (errors.length > 0) return { effect: 'deny', satisfied: [], errors, sliceSize };
    if (decision !== 'allow') return { effect: 'deny', satisfied: [], errors: [], sliceSize };
    return fromPermits(reasons, sliceSize);
  }

  private preparse(members: number[]): Slice {
    if (members.length === 0)
      return { id: undefined, members, size: 0, names: new Set(), wholeContext: false };
    const signature = members.join(',');
    const known = this.sliceByMembers.get(signature);
    if (known !== undefined) return known;
    const names = new Set<string>();
    let wholeContext = false;
    for (const i of members) {
      const uses = this.analysed[i]!.uses;
      for (const n of uses.names) names.add(n);
      wholeContext ||= uses.wholeContext;
    }
    const slice: Slice = { id: undefined, members, size: members.length, names, wholeContext };
    if (this.compiled !== undefined) {
      const compiled = members.map((i) => this.compiled![i]);
      if (compiled.every((c) => c !== undefined)) slice.compiled = compiled;
    }
    // A slice the compiled evaluator answers is preparsed in cedar-wasm only once cedar-wasm is
    // asked about it (a fallback, a verification, the reference engine after a divergence): the
    // live instance's memory, which never shrinks, holds only what it was asked for (ADR 0027).
    if (slice.compiled === undefined) this.preparsedId(slice);
    this.sliceByMembers.set(signature, slice);
    return slice;
  }

  /** The slice's preparsed set in the live instance, preparsed now if it was not yet. */
  private preparsedId(slice: Slice): string {
    if (slice.id !== undefined) return slice.id;
    const id = `${this.idPrefix}:${this.preparsed.length}`;
    const staticPolicies = policyTexts(slice.members.map((i) => this.analysed[i]!.info));
    const answer = preparsePolicySet(id, { staticPolicies });
    if (answer.type === 'failure') {
      throw new Error(`slice could not be prepared: ${answer.errors.map((e) => e.message).join('; ')}`);
    }
    this.preparsed.push(id);
    slice.id = id;
    return id;
  }

  /** The request action and all its groups, with parents from the schema (Cedar needs each hop). */
  private actionEntitiesFor(action: string): EntityJson[] {
    let entities = this.actionEntities.get(action);
    if (entities === undefined) {
      entities = [...(this.ancestors.get(action) ?? [action])].map((id) => ({
        uid: { type: CEDAR_ACTION_TYPE, id },
        attrs: {},
        parents: (this.declared.get(id)?.memberOf ?? []).map((parent) => ({
          type: CEDAR_ACTION_TYPE,
          id: parent,
        })),
      }));
      this.actionEntities.set(action, entities);
    }
    return entities;
  }
}

/** What a compiled set keeps of each analysed policy. */
type HeldPolicy = Omit<AnalysedPolicy, 'json' | 'validationId'>;

/** runPlanned's "cedar-wasm must answer this request". */
const FELL_BACK = Symbol('fell back');

/**
 * `interpret` of the compiled evaluator's answer, built from the planned members directly: their
 * order is by policy id (as `interpret` sorts), each has at most one error, and a compiled answer
 * never names a policy the set does not hold.
 */
function answerPlanned(out: PlannedOutcome<Member>, sliceSize: number): PolicyEvaluation {
  const errors: PolicyErrorInfo[] = out.errors.map((e) => ({
    policyId: e.member.policyId,
    effect: e.member.effect,
    message: e.message,
  }));
  if (out.forbids.length > 0) {
    return { effect: 'deny', satisfied: out.forbids.map((m) => satisfied(m.policy)), errors, sliceSize };
  }
  // SECURITY: fail closed — any error at all makes the decision a deny (see `interpret`).
  if (errors.length > 0) return { effect: 'deny', satisfied: [], errors, sliceSize };
  return fromPermits(
    out.permits.map((m) => m.policy),
    sliceSize,
  );
}

/**
 * The answer of the permits that applied (sorted by policy id), once no forbid applied and no
 * policy erred — for both evaluators: none is a deny; any plain permit allows; only @approval
 * permits: the one approval that meets them all ({@link routeApproval}: the same role, its highest
 * quorum), or — when they ask different roles — a deny, `approval_conflict` on each of them. The
 * outcome depends neither on the policies' order nor on their ids.
 */
function fromPermits(reasons: readonly HeldPolicy[], sliceSize: number): PolicyEvaluation {
  if (reasons.length === 0) return { effect: 'deny', satisfied: [], errors: [], sliceSize };
  const permits = reasons.map(satisfied);
  if (reasons.some((p) => p.meta.approval === undefined)) {
    return { effect: 'allow', satisfied: permits, errors: [], sliceSize };
  }
  const needs = permits.map((p) => p.approval!);
  const route = routeApproval(needs);
  if (!route.ok) {
    // SECURITY: fail closed — no one approval meets them all, and taking one (by id, by order)
    // would let whoever satisfies a second permit choose the approver.
    return { effect: 'deny', satisfied: [], errors: needs.map((n) => approvalConflict(n, needs)), sliceSize };
  }
  return {
    effect: 'approval_required',
    satisfied: permits,
    errors: [],
    approval: route.requirement,
    sliceSize,
  };
}

/** The `approval_conflict` of one @approval permit: the permits that ask another role. */
function approvalConflict(need: ApprovalRequirement, needs: readonly ApprovalRequirement[]): PolicyErrorInfo {
  const others = needs.filter((n) => n.role !== need.role);
  const named = others.map((n) => `${n.policyId} @approval("${n.role}")`).join(', ');
  return {
    policyId: need.policyId,
    effect: 'permit',
    code: 'approval_conflict',
    message: `@approval("${need.role}") conflicts with ${named}, which also ${others.length === 1 ? 'applies' : 'apply'} to this call: one call is approved by one role, so it is denied — make the permits' conditions exclusive, or have them ask the same role`,
  };
}

/** A remembered answer is shared between decisions: nobody may change it. */
function freezeEvaluation(e: PolicyEvaluation): PolicyEvaluation {
  for (const s of e.satisfied) {
    if (s.approval) Object.freeze(s.approval);
    Object.freeze(s);
  }
  for (const x of e.errors) Object.freeze(x);
  Object.freeze(e.satisfied);
  Object.freeze(e.errors);
  if (e.approval) Object.freeze(e.approval);
  return Object.freeze(e);
}

function satisfied(p: HeldPolicy): SatisfiedPolicy {
  const out: SatisfiedPolicy = { policyId: p.info.id, effect: p.info.effect };
  if (p.meta.reason !== undefined) out.reason = p.meta.reason;
  if (p.meta.approval !== undefined) out.approval = { ...p.meta.approval, policyId: p.info.id };
  return out;
}

function requestError(sliceSize: number, message: string, errors: PolicyErrorInfo[] = []): PolicyEvaluation {
  return {
    effect: 'deny',
    satisfied: [],
    errors: [{ policyId: REQUEST_ERROR_POLICY_ID, effect: 'forbid', message }, ...errors],
    sliceSize,
  };
}

/** Is a residual expression false whatever its unknowns are (or an error, which denies too)? */
function provablyFalse(e: unknown): boolean {
  if (e === null || typeof e !== 'object') return false;
  const o = e as Record<string, unknown>;
  if ('Value' in o) return o.Value === false;
  const and = o['&&'] as { left: unknown; right: unknown } | undefined;
  if (and) return provablyFalse(and.left) || provablyFalse(and.right);
  const or = o['||'] as { left: unknown; right: unknown } | undefined;
  if (or) return provablyFalse(or.left) && provablyFalse(or.right);
  return false;
}

/**
 * The texts of `policies` by id, as cedar-wasm takes a policy set. SECURITY: ids are the policy
 * authors', and `out[id] = text` with the id `__proto__` sets the object's prototype instead: that
 * policy was left out of every set handed to cedar-wasm (a forbid that never fired; a probe).
 */
function policyTexts(policies: readonly { id: string; text: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of policies) setOwn(out, p.id, p.text);
  return out;
}
