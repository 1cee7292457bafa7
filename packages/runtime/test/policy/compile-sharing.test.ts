// ADR 0027: identical scopes and expressions of one set share one closure. What a policy decides
// must still be its own: its effect, `when` against `unless` of the same body, another scope with
// the same conditions. Each case against cedar-wasm, the allow next to its deny.
import { afterEach, describe, expect, it } from 'vitest';
import { createCedarEngine, type CompiledPolicySet, type PolicyRequest } from '../../src/policy/index.js';
import { comparable } from '../../src/bench/differential.js';
import { compiledEngine, request, source } from './fixtures.js';

const live: CompiledPolicySet[] = [];
afterEach(() => {
  for (const s of live.splice(0)) s.dispose();
});

const cedar = createCedarEngine({ memoEntries: 0 });
const { engine: compiled, fallbacks } = compiledEngine();

const SMALL = 'context.args has amount && context.args.amount <= 100';

function decide(policies: string, req: PolicyRequest) {
  const s = source({ 'p.cedar': policies });
  const a = cedar.compile(s);
  const b = compiled.compile(s);
  live.push(a, b);
  const expected = a.evaluate(req);
  const actual = b.evaluate(req);
  expect(comparable(actual)).toEqual(comparable(expected));
  return actual;
}

describe('closures shared between policies of one set', () => {
  it('`when` and `unless` of the same condition stay opposite', () => {
    const policies = [
      `@id("small") permit (principal, action == Action::"payments.refund", resource) when { ${SMALL} };`,
      `@id("large") @approval("finance-manager") permit (principal, action == Action::"payments.refund", resource) unless { ${SMALL} };`,
    ].join('\n');
    const small = decide(policies, request({ args: { amount: 50 } }));
    expect(small.effect).toBe('allow');
    expect(small.satisfied.map((p) => p.policyId)).toEqual(['small']);
    const large = decide(policies, request({ args: { amount: 5000 } }));
    expect(large.effect).toBe('approval_required');
    expect(large.satisfied.map((p) => p.policyId)).toEqual(['large']);
    expect(fallbacks).toEqual([]);
  });

  it('a permit and a forbid with the same condition keep their effects; another scope keeps its own', () => {
    const policies = [
      `@id("allow-small") permit (principal, action == Action::"payments.refund", resource) when { ${SMALL} };`,
      `@id("no-small-charge") forbid (principal, action == Action::"payments.charge", resource) when { ${SMALL} };`,
      `@id("charge") permit (principal, action == Action::"payments.charge", resource);`,
    ].join('\n');
    expect(decide(policies, request({ args: { amount: 50 } })).effect).toBe('allow');
    const charge = decide(policies, request({ action: 'payments.charge', args: { amount: 50 } }));
    expect(charge.effect).toBe('deny');
    expect(charge.satisfied.map((p) => p.policyId)).toEqual(['no-small-charge']);
    expect(decide(policies, request({ action: 'payments.charge', args: { amount: 500 } })).effect).toBe(
      'allow',
    );
    expect(decide(policies, request({ args: { amount: 500 } })).effect).toBe('deny');
    expect(fallbacks).toEqual([]);
  });

  it('a shared expression that errors is an error of each policy holding it (deny)', () => {
    const policies = [
      `@id("a") permit (principal, action == Action::"payments.refund", resource) when { resource.tenant == "t1" };`,
      `@id("b") permit (principal is Agent, action == Action::"payments.refund", resource) when { resource.tenant == "t1" };`,
    ].join('\n');
    const ok = decide(policies, request());
    expect(ok.effect).toBe('allow');
    expect(ok.satisfied.map((p) => p.policyId)).toEqual(['a', 'b']);
    // Without the resource entity, reading its attribute errors in both policies.
    const req = request();
    const missing = decide(policies, {
      ...req,
      entities: req.entities.filter((e) => e.uid.type !== 'Customer'),
    });
    expect(missing.effect).toBe('deny');
    expect([...new Set(missing.errors.map((e) => e.policyId))].sort()).toEqual(['a', 'b']);
    expect(fallbacks).toEqual([]);
  });
});
