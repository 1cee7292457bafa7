/**
 * Differential testing of the compiled evaluator against cedar-wasm (ADR 0012): a seeded generator
 * of policy sets (well-typed for one schema, so strict validation mostly passes), entities and
 * requests (deliberately not always conforming: missing entities and attributes, wrong types,
 * Longs near 2^53, parent cycles, values the compiled evaluator hands to cedar-wasm), and a runner
 * that evaluates every request with both engines and compares decision, determining policy ids
 * and erroring policy ids.
 *
 * Used by packages/runtime/test/policy/differential.test.ts (bounded, in `npm test`) and by
 * packages/runtime/scripts/differential.mjs (`--cases 1000000`).
 */
import { isMandateError } from '../kernel/index.js';
import { createCedarEngine } from '../policy/index.js';
import type {
  CompiledPolicySet,
  PolicyEntity,
  PolicyEvaluation,
  PolicyRequest,
  PolicySetSource,
} from '../policy/index.js';
import { createPrng } from '../kernel/index.js';

/** Its principals are Person, not User: Mandate refuses parents on Agent and User (cedar/analysis.ts). */
export const DIFF_SCHEMA = `
entity Team in [Team] { name: String, level: Long };
entity Person in [Team] {
  name: String, level: Long, active: Bool, tags: Set<String>, nums: Set<Long>,
  manager?: Person, profile: { dept: String, score: Long }
};
entity Folder in [Folder] { owner: Person, name: String };
entity Doc in [Folder] { owner: Person, title: String, size: Long, public: Bool, labels: Set<String> };
type Ctx = { n: Long, s: String, flag: Bool, tags: Set<String>, rec: { a: Long, b?: String }, who?: Person };
action edit;
action read appliesTo { principal: [Person], resource: [Doc], context: Ctx };
action write in [edit] appliesTo { principal: [Person], resource: [Doc], context: Ctx };
action share in [edit] appliesTo { principal: [Person], resource: [Folder], context: Ctx };
`;

type Rnd = () => number;
type Res = 'Doc' | 'Folder' | undefined;

const USERS = ['alice', 'bob', 'carol'];
const TEAMS = ['t1', 't2', 't3'];
const FOLDERS = ['f1', 'f2'];
const DOCS = ['d1', 'd2'];
const STRINGS = ['', 'a', 'b', 'ab', 'a*b', '*', 'é', 'x y', 'ba', 'aab'];
const PATTERNS = ['*', 'a*', '*b', 'a*b', 'a\\*b', '\\**', '', 'é', '*a*', 'a**b', 'x y'];
const SMALL_LONGS = [-3, -1, 0, 1, 2, 3, 7, 100];
const BIG_LONGS = [2 ** 31, 3037000500, 4294967296, 9007199254740991, -9007199254740991, 2 ** 52];

class Gen {
  constructor(private readonly rnd: Rnd) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  long(d: number, res: Res): string {
    const leaf = (): string => {
      const k = this.int(7);
      if (k === 0) return String(this.pick(SMALL_LONGS));
      if (k === 1) return String(this.pick(BIG_LONGS));
      if (k === 2) return 'principal.level';
      if (k === 3) return 'context.n';
      if (k === 4) return 'context.rec.a';
      if (k === 5) return 'principal.profile.score';
      return res === 'Doc' ? 'resource.size' : 'resource.owner.level';
    };
    if (d <= 0 || this.chance(0.45)) return leaf();
    const k = this.int(5);
    if (k === 0) return `(${this.long(d - 1, res)} + ${this.long(d - 1, res)})`;
    if (k === 1) return `(${this.long(d - 1, res)} - ${this.long(d - 1, res)})`;
    if (k === 2) return `(${this.long(d - 1, res)} * ${this.long(d - 1, res)})`;
    if (k === 3) return `(-${this.long(d - 1, res)})`;
    return `(if ${this.bool(d - 1, res)} then ${this.long(d - 1, res)} else ${this.long(d - 1, res)})`;
  }

  str(d: number, res: Res): string {
    const k = this.int(d > 0 ? 7 : 6);
    if (k === 0) return JSON.stringify(this.pick(STRINGS));
    if (k === 1) return 'principal.name';
    if (k === 2) return 'context.s';
    if (k === 3) return 'principal.profile.dept';
    if (k === 4) return res === 'Doc' ? 'resource.title' : 'resource.owner.name';
    if (k === 5) return '{ a: "a", b: "b" }.b';
    return `(if ${this.bool(d - 1, res)} then ${this.str(d - 1, res)} else ${this.str(d - 1, res)})`;
  }

  strSet(d: number, res: Res): string {
    const k = this.int(4);
    if (k === 0) return 'principal.tags';
    if (k === 1) return 'context.tags';
    if (k === 2 && res === 'Doc') return 'resource.labels';
    return `[${this.str(d - 1, res)}, ${this.str(d - 1, res)}]`;
  }

  team(): string {
    return `Team::"${this.pick(TEAMS)}"`;
  }

  bool(d: number, res: Res): string {
    const leaves = (): string => {
      const k = this.int(12);
      if (k === 0) return this.pick(['true', 'false']);
      if (k === 1) return 'principal.active';
      if (k === 2) return 'context.flag';
      if (k === 3) return `principal in ${this.team()}`;
      if (k === 4) return `principal in [${this.team()}, ${this.team()}]`;
      if (k === 5) return `resource in Folder::"${this.pick(FOLDERS)}"`;
      if (k === 6) return `principal == Person::"${this.pick(USERS)}"`;
      if (k === 7) return this.pick(['principal has manager', 'context has who', 'context.rec has b']);
      if (k === 8) return `resource is ${this.pick(['Doc', 'Folder'])}`;
      if (k === 9) return `resource.owner in ${this.team()}`;
      if (k === 10) return res === 'Doc' ? 'resource.public' : `resource.owner == principal`;
      return `(principal has manager && principal.manager in ${this.team()})`;
    };
    if (d <= 0 || this.chance(0.3)) return leaves();
    const k = this.int(18);
    switch (k) {
      case 0:
        return `(${this.bool(d - 1, res)} && ${this.bool(d - 1, res)})`;
      case 1:
        return `(${this.bool(d - 1, res)} || ${this.bool(d - 1, res)})`;
      case 2:
        return `!(${this.bool(d - 1, res)})`;
      case 3:
        return `(${this.long(d - 1, res)} ${this.pick(['<', '<=', '>', '>='])} ${this.long(d - 1, res)})`;
      case 4:
        return `(${this.long(d - 1, res)} ${this.pick(['==', '!='])} ${this.long(d - 1, res)})`;
      case 5:
        return `(${this.str(d - 1, res)} ${this.pick(['==', '!='])} ${this.str(d - 1, res)})`;
      case 6:
        return `${this.strSet(d - 1, res)}.contains(${this.str(d - 1, res)})`;
      case 7:
        return `${this.strSet(d - 1, res)}.${this.pick(['containsAll', 'containsAny'])}(${this.strSet(d - 1, res)})`;
      case 8:
        return `${this.strSet(d - 1, res)}.isEmpty()`;
      case 9:
        return `(${this.str(d - 1, res)} like "${this.pick(PATTERNS).replace(/"/g, '\\"')}")`;
      case 10:
        return `(if ${this.bool(d - 1, res)} then ${this.bool(d - 1, res)} else ${this.bool(d - 1, res)})`;
      case 11:
        return `(principal has manager && principal.manager.level ${this.pick(['<', '>='])} ${this.long(d - 1, res)})`;
      case 12:
        return `(context has who && (context.who.name == ${this.str(d - 1, res)} || context.who in ${this.team()}))`;
      case 13:
        return `(context.rec has b && context.rec.b like "${this.pick(PATTERNS)}")`;
      case 14:
        return `([${this.long(d - 1, res)}, ${this.long(d - 1, res)}] == [${this.long(d - 1, res)}, ${this.long(d - 1, res)}])`;
      case 15:
        return `({ a: ${this.long(d - 1, res)}, s: ${this.str(d - 1, res)} } == { s: ${this.str(d - 1, res)}, a: ${this.long(d - 1, res)} })`;
      case 16:
        return `principal.nums.contains(${this.long(d - 1, res)})`;
      default:
        return `(principal is Person in ${this.team()})`;
    }
  }

  policy(index: number): string {
    const scope = this.pick([
      ['action == Action::"read"', 'Doc'],
      ['action == Action::"write"', 'Doc'],
      ['action in [Action::"read", Action::"write"]', 'Doc'],
      ['action == Action::"share"', 'Folder'],
      ['action in Action::"edit"', undefined],
      ['action', undefined],
    ] as const);
    const principal = this.pick([
      'principal',
      'principal',
      'principal is Person',
      `principal in ${this.team()}`,
      `principal == Person::"${this.pick(USERS)}"`,
    ]);
    let resource = 'resource';
    if (scope[1] !== undefined && this.chance(0.3)) resource = `resource is ${scope[1]}`;
    else if (this.chance(0.15)) resource = `resource in Folder::"${this.pick(FOLDERS)}"`;
    const effect = this.chance(0.7) ? 'permit' : 'forbid';
    const notes = [`@id("p${index}")`];
    if (effect === 'permit' && this.chance(0.2)) notes.push(`@approval("${this.pick(['mgr', 'lead'])}")`);
    const conds: string[] = [];
    const n = this.int(3);
    for (let i = 0; i < n; i++) {
      const body = this.chance(0.03) ? this.extension() : this.bool(3, scope[1]);
      conds.push(`${this.chance(0.75) ? 'when' : 'unless'} { ${body} }`);
    }
    return `${notes.join(' ')}\n${effect} (${principal}, ${scope[0]}, ${resource})\n${conds.join('\n')};`;
  }

  /** A construct the compiled evaluator leaves to cedar-wasm (extension calls). */
  extension(): string {
    return this.pick([
      'decimal("1.5").lessThan(decimal("2.25"))',
      'ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))',
    ]);
  }

  /** A value: usually of the declared type, sometimes not (runtime errors), sometimes odd. */
  value(kind: 'long' | 'string' | 'bool' | 'strset' | 'longset' | 'user'): unknown {
    if (this.chance(0.03)) return this.pick<unknown>([1, 'a', true, ['a'], { a: 1 }, 1.5]);
    switch (kind) {
      case 'long':
        return this.chance(0.2) ? this.pick(BIG_LONGS) : this.pick(SMALL_LONGS);
      case 'string':
        return this.chance(0.01) ? '\ud800' : this.pick(STRINGS);
      case 'bool':
        return this.chance(0.5);
      case 'strset':
        return Array.from({ length: this.int(4) }, () => this.pick(STRINGS));
      case 'longset':
        return Array.from({ length: this.int(4) }, () => this.pick(SMALL_LONGS));
      case 'user':
        return { __entity: { type: 'Person', id: this.pick(USERS) } };
    }
  }

  attrs(spec: Record<string, Parameters<Gen['value']>[0] | 'profile'>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, kind] of Object.entries(spec)) {
      if (this.chance(0.03)) continue;
      out[k] =
        kind === 'profile' ? { dept: this.value('string'), score: this.value('long') } : this.value(kind);
    }
    return out;
  }

  /** Parents later in the pool (a DAG), and now and then any, cycles included (Cedar refuses those). */
  parents(pool: readonly string[], type: string, self?: string): { type: string; id: string }[] {
    const after = self === undefined ? 0 : pool.indexOf(self) + 1;
    const any = this.chance(0.03);
    return pool.filter((_, i) => (any || i >= after) && this.chance(0.4)).map((id) => ({ type, id }));
  }

  entities(): PolicyEntity[] {
    const out: PolicyEntity[] = [];
    const add = (e: PolicyEntity) => {
      if (this.chance(0.95)) out.push(e);
    };
    for (const id of TEAMS)
      add({
        uid: { type: 'Team', id },
        attrs: this.attrs({ name: 'string', level: 'long' }),
        parents: this.parents(TEAMS, 'Team', id),
      });
    for (const id of USERS) {
      const attrs = this.attrs({
        name: 'string',
        level: 'long',
        active: 'bool',
        tags: 'strset',
        nums: 'longset',
        profile: 'profile',
      });
      if (this.chance(0.5)) attrs.manager = this.value('user');
      add({ uid: { type: 'Person', id }, attrs, parents: this.parents(TEAMS, 'Team') });
    }
    for (const id of FOLDERS)
      add({
        uid: { type: 'Folder', id },
        attrs: this.attrs({ owner: 'user', name: 'string' }),
        parents: this.parents(FOLDERS, 'Folder', id),
      });
    for (const id of DOCS)
      add({
        uid: { type: 'Doc', id },
        attrs: this.attrs({ owner: 'user', title: 'string', size: 'long', public: 'bool', labels: 'strset' }),
        parents: this.parents(FOLDERS, 'Folder'),
      });
    return out;
  }

  request(entities: PolicyEntity[]): PolicyRequest {
    const action = this.pick(['read', 'write', 'share']);
    const folder = action === 'share' ? !this.chance(0.05) : this.chance(0.05);
    const context: Record<string, unknown> = {
      n: this.chance(0.05) ? 2.5 : this.value('long'),
      s: this.value('string'),
      flag: this.value('bool'),
      tags: this.value('strset'),
      rec: this.chance(0.5) ? { a: this.value('long'), b: this.value('string') } : { a: this.value('long') },
    };
    if (this.chance(0.4)) context.who = this.value('user');
    if (this.chance(0.1)) delete context[this.pick(['n', 's', 'rec'])];
    return {
      principal: { type: 'Person', id: this.pick(USERS) },
      action,
      resource: folder ? { type: 'Folder', id: this.pick(FOLDERS) } : { type: 'Doc', id: this.pick(DOCS) },
      context,
      entities,
    };
  }
}

/** One case family: a policy set and requests over it, all from one seed. */
export function generateCase(
  seed: number,
  requests: number,
): { source: PolicySetSource; requests: PolicyRequest[] } {
  const g = new Gen(createPrng(seed));
  const n = 1 + g.int(6);
  const text = Array.from({ length: n }, (_, i) => g.policy(i)).join('\n\n');
  const out: PolicyRequest[] = [];
  let entities = g.entities();
  for (let i = 0; i < requests; i++) {
    if (i % 4 === 3) entities = g.entities();
    out.push(g.request(entities));
  }
  return { source: { policies: { 'gen.cedar': text }, schema: DIFF_SCHEMA }, requests: out };
}

/** What must be equal between the engines. */
export function comparable(e: PolicyEvaluation): {
  effect: string;
  satisfied: string[];
  errors: string[];
  approval: string | null;
} {
  return {
    effect: e.effect,
    satisfied: e.satisfied.map((s) => s.policyId),
    errors: [...new Set(e.errors.map((x) => x.policyId))].sort(),
    approval: e.approval ? `${e.approval.policyId}:${e.approval.role}:${e.approval.quorum}` : null,
  };
}

export interface DifferentialStats {
  /** Requests evaluated by both engines. */
  cases: number;
  /** Of those, answered by the compiled evaluator itself (not handed to cedar-wasm). */
  compiled: number;
  policySets: number;
  /** Generated sets strict validation rejected (the rest of their policies was retried). */
  invalidPolicies: number;
  effects: Record<string, number>;
  withErrors: number;
  divergences: {
    seed: number;
    request: number;
    cedar: unknown;
    compiled: unknown;
    /** cedar-wasm's error messages, and its answer from a freshly compiled set (a reference fault shows here). */
    cedarMessages: string[];
    cedarFresh: unknown;
    source: string;
  }[];
}

export function newStats(): DifferentialStats {
  return {
    cases: 0,
    compiled: 0,
    policySets: 0,
    invalidPolicies: 0,
    effects: {},
    withErrors: 0,
    divergences: [],
  };
}

const cedarEngine = createCedarEngine({ memoEntries: 0 });
let fellBack = false;
const compiledEngine = createCedarEngine({
  memoEntries: 0,
  evaluator: 'compiled',
  onFallback: () => {
    fellBack = true;
  },
});

/** Runs one seed: both engines on every request; divergences are recorded in `stats`. */
export function runSeed(seed: number, requestsPerSet: number, stats: DifferentialStats): void {
  const generated = generateCase(seed, requestsPerSet);
  let source = generated.source;
  let a: CompiledPolicySet | undefined;
  for (let attempt = 0; attempt < 3 && a === undefined; attempt++) {
    try {
      a = cedarEngine.compile(source);
    } catch (err) {
      if (!isMandateError(err) || err.code !== 'policy_invalid') throw err;
      // Drop the policies the validator rejects (the generator aims at well-typed, not always).
      const problems = (err.details ?? []) as { policyId?: string }[];
      const bad = new Set(problems.map((p) => p.policyId).filter((id) => id !== undefined));
      stats.invalidPolicies += bad.size;
      const kept = source.policies['gen.cedar']!.split('\n\n').filter(
        (p) => ![...bad].some((id) => p.startsWith(`@id("${id}")`)),
      );
      if (kept.length === 0 || bad.size === 0) return;
      source = { ...source, policies: { 'gen.cedar': kept.join('\n\n') } };
    }
  }
  if (a === undefined) return;
  const b = compiledEngine.compile(source);
  stats.policySets++;
  try {
    generated.requests.forEach((request, i) => {
      const reference = a.evaluate(request);
      const expected = comparable(reference);
      fellBack = false;
      const actual = comparable(b.evaluate(request));
      stats.cases++;
      if (!fellBack) stats.compiled++;
      stats.effects[expected.effect] = (stats.effects[expected.effect] ?? 0) + 1;
      if (expected.errors.length > 0) stats.withErrors++;
      if (JSON.stringify(expected) !== JSON.stringify(actual)) {
        let cedarFresh: unknown;
        try {
          const fresh = cedarEngine.compile(source);
          try {
            cedarFresh = comparable(fresh.evaluate(request));
          } finally {
            fresh.dispose();
          }
        } catch (err) {
          // cedar-wasm itself failing (e.g. a trapped instance) is a reference fault; record it.
          cedarFresh = {
            fault: err instanceof Error ? err.message : String(err),
            details: (err as { details?: unknown }).details,
          };
        }
        stats.divergences.push({
          seed,
          request: i,
          cedar: expected,
          compiled: actual,
          cedarMessages: reference.errors.map((e) => e.message),
          cedarFresh,
          source: source.policies['gen.cedar']!,
        });
      }
    });
  } finally {
    a.dispose();
    b.dispose();
  }
}
