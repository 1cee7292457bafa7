/**
 * The compiled evaluator's fast path (plans per request shape, one-walk conversion) must give
 * exactly the general path's answers — the whole answer object, messages included — and the
 * one-walk conversion exactly the reference conversion's output, or none.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCedarEngine,
  REQUEST_ERROR_POLICY_ID,
  type CompiledPolicySet,
  type PolicyEntity,
  type PolicyEvaluation,
  type PolicyRequest,
  type PolicySetSource,
} from '../../src/policy/index.js';
import { convertPlain } from '../../src/policy/compiled/convert.js';
import { evaluateCompiled } from '../../src/policy/compiled/request.js';
import { toCedarEntities, toCedarRecord } from '../../src/policy/cedar/values.js';
import { pickNames } from '../../src/policy/attributes.js';
import { comparable, generateCase } from '../../src/bench/differential.js';
import { compiledEngine, request, source } from './fixtures.js';

const cedar = createCedarEngine({ memoEntries: 0 });
const { engine: fast, fallbacks: fastFallbacks } = compiledEngine();
const { engine: general, fallbacks: generalFallbacks } = compiledEngine({ fastPath: false });
const live: CompiledPolicySet[] = [];

afterEach(() => {
  for (const set of live.splice(0)) set.dispose();
  fastFallbacks.length = 0;
  generalFallbacks.length = 0;
});

function sets(s: PolicySetSource): [CompiledPolicySet, CompiledPolicySet, CompiledPolicySet] {
  const out: [CompiledPolicySet, CompiledPolicySet, CompiledPolicySet] = [
    fast.compile(s),
    general.compile(s),
    cedar.compile(s),
  ];
  live.push(...out);
  return out;
}

/** The fast path's whole answer equals the general path's; both agree with cedar-wasm. */
function same(s: PolicySetSource, req: PolicyRequest) {
  const [a, b, c] = sets(s);
  const answer = a.evaluate(req);
  const expected = b.evaluate(req);
  expect(answer).toEqual(expected);
  // Key order too: answers end up in audit records.
  expect(JSON.stringify(answer)).toBe(JSON.stringify(expected));
  expect(comparable(answer)).toEqual(comparable(c.evaluate(req)));
  expect(fastFallbacks).toEqual(generalFallbacks);
  return answer;
}

/**
 * cedar-wasm's own failure messages (a parent cycle) name whichever vertex it met first, which
 * varies between calls; everything else must be equal.
 */
function cedarMessagesAside(e: PolicyEvaluation): PolicyEvaluation {
  return {
    ...e,
    errors: e.errors.map((x) => (x.message.startsWith('cedar: ') ? { ...x, message: 'cedar: …' } : x)),
  };
}

/** Deep equality that also holds prototypes and the order of keys (toStrictEqual trips on a `constructor` key). */
function identical(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) =>
    identical((a as Record<string | symbol, unknown>)[k], (b as Record<string | symbol, unknown>)[k]),
  );
}

describe('compiled fast path: the same answers as the general path', () => {
  it('on generated policy sets and requests, every answer object equal (and each outcome exercised)', () => {
    const effects: Record<string, number> = {};
    let cases = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const { source: s, requests } = generateCase(seed * 7919, 40);
      let a: CompiledPolicySet;
      let b: CompiledPolicySet;
      try {
        [a, b] = [fast.compile(s), general.compile(s)];
      } catch {
        continue; // a generated set strict validation refuses: nothing to compare
      }
      live.push(a, b);
      for (const req of requests) {
        fastFallbacks.length = 0;
        generalFallbacks.length = 0;
        const x = a.evaluate(req);
        expect(cedarMessagesAside(x)).toEqual(cedarMessagesAside(b.evaluate(req)));
        expect(fastFallbacks).toEqual(generalFallbacks);
        effects[x.effect] = (effects[x.effect] ?? 0) + 1;
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(1000);
    expect(Object.keys(effects).sort()).toEqual(['allow', 'approval_required', 'deny']);
  });

  const scoped = source({
    'p.cedar': `
@id("agents-refund") permit(principal is Agent, action == Action::"payments.refund", resource is Customer);
@id("users-refund") permit(principal is User, action == Action::"payments.refund", resource);
@id("payments-group") @approval("finance-manager") permit(principal, action in Action::"payments", resource) when { context.args has amount && context.args.amount > 100 };
@id("no-users-crm") forbid(principal is User, action in [Action::"crm"], resource);
@id("a1-only") permit(principal == Agent::"a1", action == Action::"ops.restart", resource);
`,
  });

  it('a scope decided by the shape admits the policy for its shape (allow)…', () => {
    const r = same(scoped, request());
    expect(r.effect).toBe('allow');
    expect(r.satisfied.map((p) => p.policyId)).toEqual(['agents-refund']);
  });

  it('…and rules it out for another shape (deny: no principal-type or action match)', () => {
    expect(same(scoped, request({ action: 'payments.charge' })).effect).toBe('deny');
    expect(same(scoped, request({ action: 'crm.read_customer' })).effect).toBe('deny');
  });

  it('an action group decided once per action: a member action asks approval, a non-member is denied', () => {
    const r = same(scoped, request({ action: 'payments.charge', args: { amount: 500 } }));
    expect(r.effect).toBe('approval_required');
    expect(r.approval?.policyId).toBe('payments-group');
    expect(same(scoped, request({ action: 'crm.update_customer', args: { amount: 500 } })).effect).toBe(
      'deny',
    );
  });

  it('a forbid decided by the shape still denies its shape, and the answer names it', () => {
    const r = same(scoped, request({ action: 'crm.read_customer', principal: { type: 'User', id: 'u1' } }));
    expect(r.effect).toBe('deny');
    expect(r.satisfied.map((p) => p.policyId)).toEqual(['no-users-crm']);
  });

  it('a scope left per request (principal ==) is still tested per request: a1 allowed, a2 denied', () => {
    expect(same(scoped, request({ action: 'ops.restart' })).effect).toBe('allow');
    expect(
      same(scoped, request({ action: 'ops.restart', principal: { type: 'Agent', id: 'a2' } })).effect,
    ).toBe('deny');
  });

  it('errors: every erroring policy is reported in id order, and the answer denies', () => {
    const s = source({
      'p.cedar': `
@id("z-err") permit(principal is Agent, action, resource) when { context.args has n && context.args.n * context.args.n > 0 };
@id("a-err") forbid(principal is Agent, action, resource) when { context.args has n && context.args.n * context.args.n < 0 };
@id("m-ok") permit(principal is Agent, action, resource);
`,
    });
    // 64-bit overflow in both: each errors, and the answer is a deny that names both, in id order.
    const r = same(s, request({ args: { n: 2 ** 53 - 1 } }));
    expect(r.effect).toBe('deny');
    expect(r.errors.map((e) => e.policyId)).toEqual(['a-err', 'z-err']);
    expect(same(s, request({ args: { n: 3 } })).effect).toBe('allow');
  });

  it('requests the one-walk conversion leaves to the general path get its exact answer', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal is Agent, action, resource) when { context.args has amount && context.args.amount < 500 };`,
    });
    const withProto = request();
    withProto.context = JSON.parse(
      '{"args":{"amount":1},"time":{"hour":1,"minute":0,"weekday":"x"},"__proto__":{"a":1}}',
    ) as Record<string, unknown>;
    const undef = request({ args: { amount: 1, customerId: undefined } });
    const decimal = request({ args: { amount: 1, ratio: 0.25 } });
    const escape = request({ args: { amount: 1, ratio: { __extn: { fn: 'decimal', arg: '0.5' } } } });
    const badExtn = request({ args: { amount: 1, x: { __extn: { fn: 'ip', arg: '10.0.0.1' } } } });
    const nulled = request({ args: { amount: 1, customerId: null } });
    const surrogate = request({ args: { amount: 1, customerId: '\ud800' } });
    const deep = request({ args: { amount: 1, x: JSON.parse('['.repeat(70) + ']'.repeat(70)) as unknown } });
    const badType = request();
    badType.entities.push({ uid: { type: 'not a type', id: 'x' }, attrs: {}, parents: [] });
    const action = request();
    action.entities.push({ uid: { type: 'Action', id: 'payments.refund' }, attrs: {}, parents: [] });
    for (const req of [
      withProto,
      undef,
      decimal,
      escape,
      badExtn,
      nulled,
      surrogate,
      deep,
      badType,
      action,
    ]) {
      same(s, req);
    }
    expect(same(s, decimal).effect).toBe('allow');
    expect(same(s, nulled).errors[0]?.policyId).toBe(REQUEST_ERROR_POLICY_ID);
    expect(same(s, action).effect).toBe('deny');
  });

  it('two entities with one uid: the same request error as the general path (deny), one of them alone allows', () => {
    const s = source({ 'p.cedar': `@id("p") permit(principal, action, resource);` });
    const req = request();
    const dup: PolicyRequest = { ...req, entities: [...req.entities, req.entities[0]!] };
    const r = same(s, dup);
    expect(r.effect).toBe('deny');
    expect(r.errors[0]?.policyId).toBe(REQUEST_ERROR_POLICY_ID);
    expect(same(s, req).effect).toBe('allow');
    // Past the pairwise comparison: the same, found through a set of uids.
    const many: PolicyEntity[] = Array.from({ length: 20 }, (_, i) => ({
      uid: { type: 'Customer', id: `x${i}` },
      attrs: { tenant: 't1', tags: [] },
      parents: [],
    }));
    const manyDup = same(s, { ...req, entities: [...req.entities, ...many, many[7]!] });
    expect(manyDup.effect).toBe('deny');
    expect(manyDup.errors[0]?.policyId).toBe(REQUEST_ERROR_POLICY_ID);
    expect(same(s, { ...req, entities: [...req.entities, ...many] }).effect).toBe('allow');
  });

  it('a parent cycle goes to cedar-wasm from the fast path too (deny), without it the fast path allows', () => {
    const s = source({ 'p.cedar': `@id("p") permit(principal, action, resource);` });
    const team = (parents: { type: string; id: string }[]): PolicyRequest => {
      const req = request();
      const [p, ...rest] = req.entities;
      return {
        ...req,
        entities: [
          { ...p!, parents: [{ type: 'Team', id: 't' }] },
          ...rest,
          { uid: { type: 'Team', id: 't' }, attrs: {}, parents },
        ],
      };
    };
    expect(same(s, team([{ type: 'Team', id: 't' }])).effect).toBe('deny');
    expect(fastFallbacks).toEqual(['entity parent cycle']);
    fastFallbacks.length = 0;
    generalFallbacks.length = 0;
    expect(same(s, team([])).effect).toBe('allow');
    expect(fastFallbacks).toEqual([]);
  });

  it('many entities (found through the index, not by comparing): same answers', () => {
    const s = source({
      'p.cedar': `@id("p") permit(principal is Agent, action, resource) when { principal.tenant == resource.tenant };`,
    });
    const req = request();
    const extra: PolicyEntity[] = Array.from({ length: 12 }, (_, i) => ({
      uid: { type: 'Customer', id: `x${i}` },
      attrs: { tenant: 'other', tags: [] },
      parents: [],
    }));
    expect(same(s, { ...req, entities: [...extra, ...req.entities] }).effect).toBe('allow');
    const other = { ...req, entities: [...extra, ...req.entities], resource: { type: 'Customer', id: 'x3' } };
    expect(same(s, other).effect).toBe('deny');
  });
});

/** Cedar JSON values, mostly plain, and now and then the odd things a request can hold. */
const key = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b', 'v', 'type', 'id', 'constructor', '0'), weight: 12 },
  { arbitrary: fc.constantFrom('__entity', '__extn', '__expr', '__proto__', '\ud800'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 4 }), weight: 2 },
);
const odd = fc.oneof(
  fc.constantFrom(
    '\udc00x',
    0.5,
    -0,
    1.25,
    2 ** 53,
    1e21,
    NaN,
    Infinity,
    123456789012345.5,
    0.00001,
    3.14159,
  ),
  fc.constant(null),
  fc.constant(undefined),
  fc.constantFrom(
    { __entity: { type: 'User', id: 'u' } },
    { __entity: { type: 'bad type', id: 'u' } },
    { __entity: { type: 'User', id: 'u', extra: 1 } },
    { __entity: 'x' },
    { __extn: { fn: 'decimal', arg: '1.5' } },
    { type: 'User', id: 'implicit' },
  ),
);
const leaf = fc.oneof(
  { arbitrary: fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean()), weight: 30 },
  { arbitrary: odd, weight: 1 },
);
const value = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('record')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  record: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
})).value;

/**
 * The reference conversion's output narrowed as the cedar-wasm path narrows it for a slice reading
 * `names` (policy/cedar/engine.ts, entities.ts), or the fact that it refuses.
 */
function reference(context: unknown, entities: PolicyEntity[], names: Set<string>, whole: boolean): unknown {
  let converted;
  try {
    converted = { context: toCedarRecord(context, 'context'), entities: toCedarEntities(entities, 'Action') };
  } catch {
    return 'refused';
  }
  return {
    context: whole ? converted.context : pickNames(converted.context, names),
    entities: converted.entities.map((e) => ({ ...e, attrs: pickNames(e.attrs, names) })),
  };
}

describe('one-walk conversion: exactly the reference conversion, or the general path', () => {
  it('gives the reference output (same keys, order, values) or nothing; never where the reference refuses', () => {
    let taken = 0;
    fc.assert(
      fc.property(
        value,
        value,
        fc.constantFrom('User', 'User', 'User', 'Action', 'a b'),
        fc.subarray(['a', 'b', 'v', 'id', 'type', 'constructor', '__entity']),
        fc.boolean(),
        (ctx, attrs, type, picked, whole) => {
          const context = ctx !== null && typeof ctx === 'object' && !Array.isArray(ctx) ? ctx : { v: ctx };
          const entities = [
            { uid: { type, id: 'e' }, attrs: (attrs ?? {}) as Record<string, unknown>, parents: [] },
          ] as PolicyEntity[];
          const names = new Set(picked);
          const mine = convertPlain(context, entities, 'Action', names, whole);
          if (mine === undefined) return;
          taken++;
          const ref = reference(context, entities, names, whole);
          expect(ref).not.toBe('refused');
          expect(JSON.stringify(mine)).toBe(JSON.stringify(ref));
          expect(identical(mine, ref)).toBe(true);
          // What it produces, and what it only checked, needs no scan: the general evaluation of the
          // whole reference conversion never hands it to cedar-wasm.
          expect(() =>
            evaluateCompiled(
              [],
              {
                principal: { type: 'User', id: 'u' },
                action: 'a',
                resource: { type: 'User', id: 'u' },
                context: toCedarRecord(context, 'context'),
                entities: toCedarEntities(entities, 'Action'),
                names: new Set(),
                actionType: 'Action',
              },
              { ancestors: new Map(), entities: new Map() },
            ),
          ).not.toThrow();
        },
      ),
      { numRuns: 4000, seed: 0x13 },
    );
    // The property means something only if the conversion takes a fair share of the cases itself.
    expect(taken).toBeGreaterThan(400);
  });

  it('takes the plain bench-like request itself (the fast path is used)', () => {
    const req = request({ args: { amount: 5, customerId: 'c' } });
    req.context.onBehalfOf = { __entity: { type: 'User', id: 'u1' } };
    const names = new Set(['args', 'tenant']);
    expect(
      identical(
        convertPlain(req.context, req.entities, 'Action', names, false),
        reference(req.context, req.entities, names, false),
      ),
    ).toBe(true);
  });
});
