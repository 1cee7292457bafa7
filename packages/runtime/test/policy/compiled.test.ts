import { ConfigSchema } from '../../src/config/index.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { EntitiesDocumentSchema, ToolsDocumentSchema } from '@mandate/protocol';
import {
  createCedarEngine,
  loadPolicyDir,
  REQUEST_ERROR_POLICY_ID,
  type CompiledPolicySet,
  type PolicyRequest,
  type PolicySetSource,
} from '../../src/policy/index.js';
import { runPolicyCases } from '../../src/app/index.js';
import { comparable, newStats, runSeed } from '../../src/bench/differential.js';
import { SCHEMA, compiledEngine, request, source } from './fixtures.js';

const root = join(import.meta.dirname, '../../../..');
const cedar = createCedarEngine({ memoEntries: 0 });
const { engine: compiled, fallbacks } = compiledEngine();
const live: CompiledPolicySet[] = [];

afterEach(() => {
  for (const set of live.splice(0)) set.dispose();
  fallbacks.length = 0;
});

function both(s: PolicySetSource): [CompiledPolicySet, CompiledPolicySet] {
  const pair: [CompiledPolicySet, CompiledPolicySet] = [cedar.compile(s), compiled.compile(s)];
  live.push(...pair);
  return pair;
}

/** Evaluates with both engines, expects the same comparable answer, returns the compiled one. */
function agree(s: PolicySetSource, req: PolicyRequest) {
  const [a, b] = both(s);
  const expected = a.evaluate(req);
  const actual = b.evaluate(req);
  expect(comparable(actual)).toEqual(comparable(expected));
  return actual;
}

const PERMIT_ALL = `@id("all") permit(principal, action, resource);`;

describe('compiled evaluator: differential against cedar-wasm', () => {
  it('agrees on decision, determining policies and erroring policies for generated cases', () => {
    const stats = newStats();
    const started = performance.now();
    // fast-check picks the seeds (and reports a failing one); each seed is a policy set and 200 requests.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const before = stats.divergences.length;
        runSeed(seed, 200, stats);
        return stats.divergences.length === before;
      }),
      { numRuns: 100, seed: 0x6d616e64 },
    );
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `differential: ${stats.cases} cases (${stats.compiled} answered by the compiled evaluator, ` +
        `the rest handed to cedar-wasm) over ${stats.policySets} policy sets in ${seconds.toFixed(1)} s; ` +
        `effects ${JSON.stringify(stats.effects)}, ${stats.withErrors} with errors\n`,
    );
    expect(stats.divergences).toEqual([]);
    expect(stats.cases).toBeGreaterThanOrEqual(20_000);
    // The comparison means something only when the compiled evaluator answers most cases itself.
    expect(stats.compiled / stats.cases).toBeGreaterThan(0.7);
    // Every outcome is exercised.
    expect(Object.keys(stats.effects).sort()).toEqual(['allow', 'approval_required', 'deny']);
    expect(stats.withErrors).toBeGreaterThan(0);
  }, 180_000);
});

describe('compiled evaluator: divergences found, kept as permanent cases', () => {
  // Found by the differential run: Cedar refuses entities whose parents form a cycle (a failure,
  // so a deny); a compiled evaluator that walks the hierarchy with a visited set would allow.
  const withTeam = (teamParents: { type: string; id: string }[]): PolicyRequest => {
    const req = request({ action: 'payments.refund' });
    const [principal, ...rest] = req.entities;
    return {
      ...req,
      entities: [
        { ...principal!, parents: [{ type: 'Team', id: 't' }] },
        ...rest,
        { uid: { type: 'Team', id: 't' }, attrs: {}, parents: teamParents },
      ],
    };
  };

  it('denies, with a request error, when the entities given form a parent cycle', () => {
    const cyclic = withTeam([{ type: 'Team', id: 't' }]);
    const r = agree(source({ 'p.cedar': PERMIT_ALL }), cyclic);
    expect(r.effect).toBe('deny');
    expect(r.errors[0]?.policyId).toBe(REQUEST_ERROR_POLICY_ID);
  });

  it('allows the same request without the cycle', () => {
    const acyclic = withTeam([]);
    const r = agree(source({ 'p.cedar': PERMIT_ALL }), acyclic);
    expect(r.effect).toBe('allow');
    expect(fallbacks).toEqual([]);
  });
});

describe('compiled evaluator: escape names as top-level keys (found by a probe, 2026-12-01)', () => {
  // The context and an entity's attributes are records: Cedar (and the reference conversion,
  // policy/cedar/values.ts) read a top-level key `__entity` / `__extn` as an attribute name. The
  // scan read such a record as an escape and skipped its other values, so a malformed decimal
  // beside it never sent the request to cedar-wasm: the compiled engine allowed, cedar-wasm denied.
  const schema = SCHEMA.replace('status: String };', 'status: String, score?: decimal };');
  const hasScore = source(
    { 'p.cedar': `@id("p") permit(principal is Agent, action, resource) when { principal has score };` },
    schema,
  );
  const agentWith = (attrs: Record<string, unknown>): PolicyRequest => {
    const req = request();
    req.entities = req.entities.map((e) =>
      e.uid.type === 'Agent' ? { ...e, attrs: { ...e.attrs, ...attrs } } : e,
    );
    return req;
  };
  const garbage = { __extn: { fn: 'decimal', arg: 'garbage' } };
  const SIBLINGS: [string, unknown][] = [
    ['__entity', { type: 'X', id: 'y' }],
    ['__extn', { fn: 'decimal', arg: '1.0' }],
    ['__expr', 'x'],
  ];

  it('a malformed decimal attribute denies (an error), alone or beside an escape-named attribute', () => {
    const alone = agree(hasScore, agentWith({ score: garbage }));
    expect(alone.effect).toBe('deny');
    expect(alone.errors.map((e) => e.policyId)).toEqual([REQUEST_ERROR_POLICY_ID]);
    for (const [key, value] of SIBLINGS) {
      const r = agree(hasScore, agentWith({ score: garbage, [key]: value }));
      expect(r.effect, key).toBe('deny');
      expect(r.errors.map((e) => e.policyId)).toEqual([REQUEST_ERROR_POLICY_ID]);
    }
    expect(fallbacks.length).toBeGreaterThan(0);
  });

  it('a well-formed decimal beside an escape-named attribute allows, answered by the compiled evaluator', () => {
    for (const [key, value] of SIBLINGS) {
      fallbacks.length = 0;
      const r = agree(
        hasScore,
        agentWith({ score: { __extn: { fn: 'decimal', arg: '1.5' } }, [key]: value }),
      );
      expect(r.effect, key).toBe('allow');
      expect(r.satisfied.map((p) => p.policyId)).toEqual(['p']);
      expect(fallbacks).toEqual([]);
    }
  });

  it('the context: an escape-named top-level key beside the args gives the same answer in both engines, one inside args as values.ts reads it', () => {
    const whole = source(
      {
        'p.cedar': `@id("p") permit(principal, action, resource) when { context.args has ratio && context has args };`,
      },
      schema,
    );
    const withTop = (args: Record<string, unknown>, key: string, value: unknown): PolicyRequest => {
      const req = request({ args });
      req.context = { ...req.context, [key]: value };
      return req;
    };
    for (const [key, value] of SIBLINGS) {
      fallbacks.length = 0;
      const good = agree(whole, withTop({ ratio: 0.5 }, key, value));
      expect(good.effect, key).toBe('allow');
      const bad = agree(whole, withTop({ ratio: garbage }, key, value));
      expect(bad.effect, key).toBe('deny');
      expect(bad.errors.map((e) => e.policyId)).toEqual([REQUEST_ERROR_POLICY_ID]);
    }
    // An arg named like an escape, beside others: the reference conversion refuses it (deny).
    for (const [key, value] of SIBLINGS) {
      const r = agree(whole, request({ args: { ratio: 0.5, [key]: value } }));
      expect(r.effect, key).toBe('deny');
      expect(r.errors.map((e) => e.policyId)).toEqual([REQUEST_ERROR_POLICY_ID]);
      const nested = agree(whole, request({ args: { ratio: 0.5, x: { [key]: value, other: 1 } } }));
      expect(nested.effect, key).toBe('deny');
    }
  });
});

describe('compiled evaluator: exact semantics, and cedar-wasm where it is not sure', () => {
  const amountPolicy = (cond: string) =>
    source({
      'p.cedar': `@id("p") permit(principal, action == Action::"payments.refund", resource) when { context.args has n && ${cond} };`,
    });

  it('64-bit overflow is an error (deny), a sum inside 64 bits is not', () => {
    const overflow = agree(
      amountPolicy('context.args.n * context.args.n > 0'),
      request({ args: { n: 2 ** 53 - 1 } }),
    );
    expect(overflow.effect).toBe('deny');
    expect(overflow.errors.map((e) => e.policyId)).toEqual(['p']);
    const small = agree(amountPolicy('context.args.n * context.args.n > 0'), request({ args: { n: 3 } }));
    expect(small.effect).toBe('allow');
    expect(fallbacks).toEqual([]);
  });

  it('hands a Long between 2^53 and 2^63 to cedar-wasm instead of rounding it', () => {
    const r = agree(
      amountPolicy('context.args.n * context.args.n == 9223372030926249001'),
      request({ args: { n: 3037000499 } }),
    );
    expect(fallbacks.length).toBeGreaterThan(0);
    expect(r.effect).toBe('allow');
  });

  it('like: * is a wildcard, \\* a literal star', () => {
    const s = (p: string) =>
      source({
        'p.cedar': `@id("p") permit(principal, action, resource) when { context.args has customerId && context.args.customerId like "${p}" };`,
      });
    expect(agree(s('a*c'), request({ args: { customerId: 'abbbc' } })).effect).toBe('allow');
    expect(agree(s('a\\*c'), request({ args: { customerId: 'abbbc' } })).effect).toBe('deny');
    expect(agree(s('a\\*c'), request({ args: { customerId: 'a*c' } })).effect).toBe('allow');
    expect(fallbacks).toEqual([]);
  });

  it('leaves a policy using an extension function to cedar-wasm, with the same answer', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal, action, resource) when { context.args has ratio && context.args.ratio.lessThan(decimal("0.5")) };`,
    });
    expect(agree(s, request({ args: { ratio: 0.25 } })).effect).toBe('allow');
    expect(agree(s, request({ args: { ratio: 0.75 } })).effect).toBe('deny');
    expect(fallbacks.length).toBeGreaterThan(0);
  });

  it('an entity named only in a policy is not given to Cedar: its attributes are an error, as in cedar-wasm', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal, action, resource) when { Customer::"other".tenant == "t1" };`,
    });
    const req = request();
    const withOther: PolicyRequest = {
      ...req,
      entities: [
        ...req.entities,
        { uid: { type: 'Customer', id: 'other' }, attrs: { tenant: 't1', tags: [] }, parents: [] },
      ],
    };
    const r = agree(s, withOther);
    expect(r.effect).toBe('deny');
    expect(r.errors.map((e) => e.policyId)).toEqual(['p']);
  });

  it('reads an attribute named __proto__ as cedar-wasm does: an attribute, its keys not inherited', () => {
    const s = source({
      'p.cedar': `@id("evil") permit(principal is Agent, action, resource) when { principal.tenant == "evil" };`,
    });
    const req = request();
    req.entities = req.entities.map((e) =>
      e.uid.type === 'Agent'
        ? {
            ...e,
            attrs: JSON.parse('{"roles":[],"status":"active","__proto__":{"tenant":"evil"}}') as Record<
              string,
              unknown
            >,
          }
        : e,
    );
    expect(agree(s, req).effect).toBe('deny');
    expect(fallbacks).toEqual([]);
  });

  it('hands equality of two large sets to cedar-wasm (pairwise comparison would be quadratic)', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal is Agent, action, resource) when { principal.roles == resource.tags };`,
    });
    const many = Array.from({ length: 100 }, (_, i) => `r${i}`);
    expect(agree(s, request({ roles: many, tags: [...many].reverse() })).effect).toBe('allow');
    expect(fallbacks).toContain('large sets');
    fallbacks.length = 0;
    expect(agree(s, request({ roles: ['a', 'b'], tags: ['b', 'a'] })).effect).toBe('allow');
    expect(fallbacks).toEqual([]);
  });

  it('denies a string that is not well-formed UTF-16 in both engines, before either evaluates', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal, action, resource) when { context.args has customerId && context.args.customerId == "x" };`,
    });
    const r = agree(s, request({ args: { customerId: '\ud800' } }));
    expect(r.effect).toBe('deny');
    expect(r.errors.map((e) => e.policyId)).toEqual([REQUEST_ERROR_POLICY_ID]);
  });
});

describe('compiled evaluator: the example’s YAML decision cases', () => {
  it('gives the same reports through both engines, all passing', async () => {
    const dir = join(root, 'examples/fintech-support');
    const policySource = await loadPolicyDir(join(dir, 'policies'));
    const doc = parseYaml(await readFile(join(dir, 'policies/tests/stories.yaml'), 'utf8')) as {
      cases: unknown[];
    };
    const config = JSON.parse(await readFile(join(root, 'mandate.config.json'), 'utf8')) as {
      grants?: unknown;
      policies?: { timeZone?: string };
    };
    const seed = {
      tools: ToolsDocumentSchema.parse(JSON.parse(await readFile(join(dir, 'tools.json'), 'utf8'))).tools,
      entities: EntitiesDocumentSchema.parse(JSON.parse(await readFile(join(dir, 'entities.json'), 'utf8'))),
      // The grants as the config loader gives them (defaults filled in).
      grants: ConfigSchema.shape.grants.parse(config.grants ?? []),
    };
    const run = (engine: typeof cedar) =>
      runPolicyCases({
        engine,
        source: policySource,
        cases: doc.cases,
        seed,
        timeZone: config.policies?.timeZone ?? 'UTC',
      });
    const [a, b] = [await run(cedar), await run(compiled)];
    expect(a.failed, JSON.stringify(a.results.filter((r) => !r.ok))).toBe(0);
    expect(b.results).toEqual(a.results);
    expect(b.passed).toBe(doc.cases.length);
  });
});
