import { afterEach, describe, expect, it } from 'vitest';
import {
  createCedarEngine,
  type CompiledPolicySet,
  type PolicyEngine,
  type PolicyEvaluation,
} from '../../src/policy/index.js';
import { comparable } from '../../src/bench/differential.js';
import { compiledEngine, request, source } from './fixtures.js';

/**
 * Several satisfied `@approval` permits of one principal (a probe): the lowest policy id chose the
 * route, so an agent that also satisfied a second permit — `@approval("self")` under a lower id —
 * moved a refund two CFOs had to approve to the user's own click. Now one role: its highest quorum;
 * two roles: deny, `approval_conflict` on each. The same on every evaluator.
 */
const engines: [string, PolicyEngine][] = [
  ['cedar-wasm', createCedarEngine({ memoEntries: 0 })],
  ['compiled (fast path)', compiledEngine().engine],
  ['compiled (general path)', compiledEngine({ fastPath: false }).engine],
];
const reference = createCedarEngine({ memoEntries: 0 });
const live: CompiledPolicySet[] = [];

afterEach(() => {
  for (const set of live.splice(0)) set.dispose();
});

const CFO_LARGE = `
@id("refund-cfo-large") @reason("refunds over 10,000 need two CFOs") @approval("cfo") @quorum("2")
permit (principal is Agent, action == Action::"payments.refund", resource)
when { context.args has amount && context.args.amount > 10000 };`;

const ACK = `
@id("refund-ack") @approval("self")
permit (principal is Agent, action == Action::"payments.refund", resource)
when { context.args has customerId };`;

const refund = (args: Record<string, unknown>) => request({ args });

describe.each(engines)('approval routes of one principal on %s', (_name, engine) => {
  function evaluate(policies: Record<string, string>, args: Record<string, unknown>): PolicyEvaluation {
    const set = engine.compile(source(policies));
    const ref = reference.compile(source(policies));
    live.push(set, ref);
    const answer = set.evaluate(refund(args));
    // SECURITY: the engine differential — the compiled evaluator answers what cedar-wasm answers.
    expect(comparable(answer)).toEqual(comparable(ref.evaluate(refund(args))));
    return answer;
  }

  it('the agent satisfying a second permit that asks another role is denied, approval_conflict — not routed to it', () => {
    const policies = { 'p.cedar': CFO_LARGE + ACK };
    // Each alone routes to its own role.
    expect(evaluate(policies, { amount: 50_000 }).approval).toEqual({
      role: 'cfo',
      quorum: 2,
      policyId: 'refund-cfo-large',
    });
    expect(evaluate(policies, { amount: 50, customerId: 'c1' }).approval).toEqual({
      role: 'self',
      quorum: 1,
      policyId: 'refund-ack',
    });
    // Both: "refund-ack" < "refund-cfo-large" took the route to self.
    const both = evaluate(policies, { amount: 50_000, customerId: 'c1' });
    expect(both.effect).toBe('deny');
    expect(both.approval).toBeUndefined();
    expect(both.satisfied).toEqual([]);
    expect(both.errors.map((e) => [e.policyId, e.effect, e.code])).toEqual([
      ['refund-ack', 'permit', 'approval_conflict'],
      ['refund-cfo-large', 'permit', 'approval_conflict'],
    ]);
    expect(both.errors[0]!.message).toMatch(
      /@approval\("self"\) conflicts with refund-cfo-large @approval\("cfo"\)/,
    );
    expect(both.errors[1]!.message).toMatch(
      /@approval\("cfo"\) conflicts with refund-ack @approval\("self"\)/,
    );
  });

  it('a plain permit beside conflicting @approval permits allows: nothing is asked, nothing conflicts', () => {
    const plain = `@id("refund-trusted") permit (principal, action == Action::"payments.refund", resource) when { principal.roles.contains("trusted") };`;
    const policies = { 'p.cedar': CFO_LARGE + ACK + plain };
    const allowed = request({ args: { amount: 50_000, customerId: 'c1' }, roles: ['trusted'] });
    const set = engine.compile(source(policies));
    live.push(set);
    expect(set.evaluate(allowed).effect).toBe('allow');
    expect(evaluate(policies, { amount: 50_000, customerId: 'c1' }).effect).toBe('deny');
  });

  it.each([
    ['the lower id asks the lower quorum', 'a-any-refund', 'b-huge-refund'],
    ['the lower id asks the higher quorum', 'b-any-refund', 'a-huge-refund'],
  ])('one role asked twice takes the highest quorum, whatever the ids (%s)', (_case, anyId, hugeId) => {
    const policies = {
      'p.cedar': `
@id("${anyId}") @approval("cfo")
permit (principal is Agent, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount > 100 };
@id("${hugeId}") @approval("cfo") @quorum("2")
permit (principal is Agent, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount > 10000 };`,
    };
    expect(evaluate(policies, { amount: 500 }).approval).toEqual({ role: 'cfo', quorum: 1, policyId: anyId });
    const huge = evaluate(policies, { amount: 50_000 });
    expect(huge.effect).toBe('approval_required');
    expect(huge.approval).toEqual({ role: 'cfo', quorum: 2, policyId: hugeId });
    // Both permits are met by that one approval: both are the decision's reasons.
    expect(huge.satisfied.map((s) => s.policyId).sort()).toEqual([anyId, hugeId].sort());
    expect(huge.errors).toEqual([]);
  });

  it('among equal quorums of one role the lowest policy id is named (deterministic)', () => {
    const policies = {
      'z.cedar': `@id("z-two") @approval("cfo") @quorum("2") permit (principal, action == Action::"payments.refund", resource);`,
      'a.cedar': `@id("m-two") @approval("cfo") @quorum("2") permit (principal, action == Action::"payments.refund", resource);`,
    };
    expect(evaluate(policies, {}).approval).toEqual({ role: 'cfo', quorum: 2, policyId: 'm-two' });
  });

  it('three permits, two roles: every one of them carries the conflict', () => {
    const policies = {
      'p.cedar': `
@id("p1") @approval("cfo") permit (principal, action == Action::"payments.refund", resource);
@id("p2") @approval("cfo") @quorum("3") permit (principal, action == Action::"payments.refund", resource);
@id("p3") @approval("legal") permit (principal, action == Action::"payments.refund", resource);`,
    };
    const r = evaluate(policies, {});
    expect(r.effect).toBe('deny');
    expect(r.errors.map((e) => e.policyId)).toEqual(['p1', 'p2', 'p3']);
    expect(r.errors[2]!.message).toMatch(
      /conflicts with p1 @approval\("cfo"\), p2 @approval\("cfo"\), which also apply/,
    );
  });
});
