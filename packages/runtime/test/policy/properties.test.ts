import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createCedarEngine,
  type CompiledPolicySet,
  type PolicyEvaluation,
  type PolicyRequest,
} from '../../src/policy/index.js';
import { ACTIONS, request, source } from './fixtures.js';

/**
 * THREATS.md "Policy core": properties over generated policy sets and requests. The generators
 * stay inside the fixture schema so every generated set passes strict validation; conditions
 * include one that errors at runtime (Long overflow) so fail-closed paths are exercised too.
 */

const engine = createCedarEngine();
const RUNS = 100;

interface GenPolicy {
  effect: 'permit' | 'forbid';
  principal: string;
  action: string;
  resource: string;
  condition: string;
  approval?: { role: string; quorum?: number };
  reason?: string;
}

const principalScope = fc.constantFrom(
  'principal',
  'principal is Agent',
  'principal is User',
  'principal == Agent::"a1"',
  'principal == User::"u1"',
  'principal in Agent::"a2"',
);

const actionScope = fc.oneof(
  fc.constant('action'),
  fc.constantFrom(...ACTIONS).map((a) => `action == Action::"${a}"`),
  fc
    .subarray([...ACTIONS], { minLength: 1, maxLength: 3 })
    .map((as) => `action in [${as.map((a) => `Action::"${a}"`).join(', ')}]`),
  fc.constantFrom('payments', 'crm', 'finance').map((g) => `action in Action::"${g}"`),
);

const resourceScope = fc.constantFrom('resource', 'resource == Customer::"c1"', 'resource is Customer');

const condition = fc.oneof(
  { arbitrary: fc.constant(''), weight: 3 },
  fc.integer({ min: -2, max: 40 }).map((k) => `when { context.args has n && context.args.n > ${k} }`),
  fc.integer({ min: 0, max: 23 }).map((h) => `unless { context.time.hour < ${h} }`),
  fc.constant('when { resource.tags.contains("vip") }'),
  fc.constant('when { principal.roles.contains("r1") }'),
  // Errors at runtime once |n| >= 2: Long overflow, which strict validation cannot rule out.
  fc.constant('when { context.args has n && context.args.n * 4611686018427387904 > 0 }'),
);

const policy: fc.Arbitrary<GenPolicy> = fc
  .record({
    // Permits outnumber forbids so that allows are common enough to test.
    effect: fc.oneof(
      { arbitrary: fc.constant('permit' as const), weight: 3 },
      { arbitrary: fc.constant('forbid' as const), weight: 1 },
    ),
    principal: principalScope,
    action: actionScope,
    resource: resourceScope,
    condition,
    approval: fc.option(
      fc.record({
        role: fc.constantFrom('ops', 'finance', 'legal'),
        quorum: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
      }),
      {
        nil: undefined,
        freq: 3,
      },
    ),
    reason: fc.option(fc.constantFrom('because', 'policy says so'), { nil: undefined }),
  })
  .map((p) => (p.effect === 'forbid' ? { ...p, approval: undefined } : p) as GenPolicy);

const policies = fc.array(policy, { minLength: 0, maxLength: 10 });

const forbid = policy.map((p) => ({ ...p, effect: 'forbid' as const, approval: undefined }));

const genRequest: fc.Arbitrary<PolicyRequest> = fc
  .record({
    action: fc.constantFrom(...ACTIONS),
    principal: fc.constantFrom(
      { type: 'Agent', id: 'a1' },
      { type: 'Agent', id: 'a2' },
      { type: 'User', id: 'u1' },
      { type: 'User', id: 'u2' },
    ),
    customer: fc.constantFrom('c1', 'c2'),
    tags: fc.subarray(['vip', 'legal_hold']),
    roles: fc.subarray(['r1', 'r2']),
    n: fc.option(fc.integer({ min: -3, max: 45 }), { nil: undefined }),
    hour: fc.integer({ min: 0, max: 23 }),
  })
  .map((r) =>
    request({
      action: r.action,
      principal: r.principal as { type: 'Agent' | 'User'; id: string },
      customer: r.customer,
      tags: r.tags,
      roles: r.roles,
      args: r.n === undefined ? {} : { n: r.n },
      hour: r.hour,
    }),
  );

const requests = fc.array(genRequest, { minLength: 1, maxLength: 6 });

function render(p: GenPolicy, id: string): string {
  const annotations = [`@id("${id}")`];
  if (p.approval) {
    annotations.push(`@approval("${p.approval.role}")`);
    if (p.approval.quorum !== undefined) annotations.push(`@quorum("${p.approval.quorum}")`);
  }
  if (p.reason) annotations.push(`@reason("${p.reason}")`);
  return `${annotations.join(' ')}\n${p.effect}(${p.principal}, ${p.action}, ${p.resource}) ${p.condition};\n`;
}

/** Compiles policies (rendered with the given ids) spread over `files` files, round robin. */
function compileSet(list: { policy: GenPolicy; id: string }[], files = 1): CompiledPolicySet {
  const texts: Record<string, string> = {};
  for (let f = 0; f < files; f++) texts[`f${f}.cedar`] = '';
  list.forEach(({ policy: p, id }, i) => {
    texts[`f${i % files}.cedar`] += render(p, id);
  });
  return engine.compile(source(texts));
}

function withIds(list: GenPolicy[]): { policy: GenPolicy; id: string }[] {
  return list.map((p, i) => ({ policy: p, id: `p${i}` }));
}

function withSets<T>(build: () => CompiledPolicySet[], body: (sets: CompiledPolicySet[]) => T): T {
  const sets: CompiledPolicySet[] = [];
  try {
    sets.push(...build());
    return body(sets);
  } finally {
    for (const s of sets) s.dispose();
  }
}

function withoutSize(e: PolicyEvaluation): Omit<PolicyEvaluation, 'sliceSize'> {
  const { sliceSize: _ignored, ...rest } = e;
  return rest;
}

describe('policy core properties (fast-check)', () => {
  it('(a) the sliced evaluation equals the unsliced one for every request', () => {
    fc.assert(
      fc.property(policies, requests, (list, reqs) =>
        withSets(
          () => [compileSet(withIds(list))],
          ([set]) => {
            for (const req of reqs) {
              const sliced = set!.evaluate(req);
              const whole = set!.evaluateUnsliced(req);
              expect(withoutSize(sliced)).toEqual(withoutSize(whole));
              expect(sliced.sliceSize).toBeLessThanOrEqual(whole.sliceSize);
            }
          },
        ),
      ),
      { numRuns: RUNS },
    );
  });

  it('(b) decisions do not change when policies are reordered or regrouped into files', () => {
    fc.assert(
      fc.property(
        policies.chain((list) =>
          fc.tuple(
            fc.constant(list),
            fc.shuffledSubarray(withIds(list), { minLength: list.length, maxLength: list.length }),
          ),
        ),
        fc.integer({ min: 1, max: 3 }),
        requests,
        ([list, shuffled], files, reqs) =>
          withSets(
            () => [compileSet(withIds(list)), compileSet(shuffled, files)],
            ([a, b]) => {
              for (const req of reqs) expect(b!.evaluate(req)).toEqual(a!.evaluate(req));
            },
          ),
      ),
      { numRuns: RUNS },
    );
  });

  it('(b) decisions do not change when a policy is duplicated under a new id', () => {
    fc.assert(
      fc.property(
        policies
          .filter((l) => l.length > 0)
          .chain((list) => fc.tuple(fc.constant(list), fc.nat({ max: list.length - 1 }))),
        requests,
        ([list, which], reqs) =>
          withSets(
            () => {
              const ids = withIds(list);
              return [compileSet(ids), compileSet([...ids, { policy: list[which]!, id: `p${which}-dup` }])];
            },
            ([a, b]) => {
              for (const req of reqs) {
                const before = a!.evaluate(req);
                const after = b!.evaluate(req);
                expect(after.effect).toBe(before.effect);
                expect(after.errors.length > 0).toBe(before.errors.length > 0);
              }
            },
          ),
      ),
      { numRuns: RUNS },
    );
  });

  it('(c) adding a forbid never turns a deny or an approval_required into an allow', () => {
    fc.assert(
      fc.property(policies, forbid, requests, (list, extra, reqs) =>
        withSets(
          () => {
            const ids = withIds(list);
            return [compileSet(ids), compileSet([...ids, { policy: extra, id: 'added-forbid' }])];
          },
          ([a, b]) => {
            for (const req of reqs) {
              const before = a!.evaluate(req).effect;
              const after = b!.evaluate(req).effect;
              if (before === 'deny') expect(after).toBe('deny');
              if (before === 'approval_required') expect(['approval_required', 'deny']).toContain(after);
            }
          },
        ),
      ),
      { numRuns: RUNS },
    );
  });

  it('(e) the answer memo never changes an answer, across repeats, evictions and attribute changes', () => {
    const memoOff = createCedarEngine({ memoEntries: 0 });
    // Three entries: the generated sequences overflow it, so eviction is exercised too.
    const tinyMemo = createCedarEngine({ memoEntries: 3 });
    fc.assert(
      fc.property(
        policies,
        requests.chain((reqs) =>
          fc.shuffledSubarray([...reqs, ...reqs, ...reqs], {
            minLength: reqs.length * 3,
            maxLength: reqs.length * 3,
          }),
        ),
        (list, sequence) =>
          withSets(
            () => {
              const texts: Record<string, string> = { 'f0.cedar': '' };
              for (const { policy: p, id } of withIds(list)) texts['f0.cedar'] += render(p, id);
              return [memoOff.compile(source(texts)), tinyMemo.compile(source(texts))];
            },
            ([plain, memoized]) => {
              for (const req of sequence) expect(memoized!.evaluate(req)).toEqual(plain!.evaluate(req));
            },
          ),
      ),
      { numRuns: RUNS },
    );
  });

  it('(d) an action the schema does not declare is denied', () => {
    fc.assert(
      fc.property(
        policies,
        genRequest,
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.constantFrom('payments', 'finance', 'crm', 'payments.refund ', 'PAYMENTS.REFUND'),
        ),
        (list, req, action) => {
          fc.pre(!(ACTIONS as readonly string[]).includes(action));
          return withSets(
            () => [
              compileSet(
                withIds([
                  ...list,
                  {
                    effect: 'permit',
                    principal: 'principal',
                    action: 'action',
                    resource: 'resource',
                    condition: '',
                  },
                ]),
              ),
            ],
            ([set]) => {
              const unknown = { ...req, action };
              expect(set!.evaluate(unknown)).toMatchObject({ effect: 'deny', satisfied: [], sliceSize: 0 });
              expect(set!.evaluateUnsliced(unknown).effect).toBe('deny');
            },
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});
