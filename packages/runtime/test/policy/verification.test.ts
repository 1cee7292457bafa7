// Issue 13 §1 "verification in production": a sample of the compiled engine's answers is asked
// again of cedar-wasm off the answer's path; a difference is reported, and a setting makes the
// engine answer with cedar-wasm from then on. A compiler bug is simulated by rewriting a policy's
// JSON form before it is compiled (the condition dropped: a wrong allow).
import { afterEach, describe, expect, it } from 'vitest';
import { createCedarEngine, type CompiledPolicySet, type Divergence } from '../../src/policy/index.js';
import { request, source } from './fixtures.js';

const POLICY = `@id("small") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount <= 100 };`;
const live: CompiledPolicySet[] = [];
afterEach(() => {
  for (const s of live.splice(0)) s.dispose();
});

/** Drops every `when` condition from the JSON form the compiler sees: a compiler that forgets them. */
const dropConditions = (json: unknown) => ({ ...(json as Record<string, unknown>), conditions: [] });
const refund = (amount: number) => request({ args: { customerId: 'c1', amount } });
const settle = () => new Promise((r) => setImmediate(() => setImmediate(r)));

function engine(o: { hook?: boolean; sample: number; switchOn?: boolean; found: Divergence[] }) {
  const e = createCedarEngine({
    memoEntries: 0,
    evaluator: 'compiled',
    verifySample: o.sample,
    switchOnDivergence: o.switchOn ?? false,
    onDivergence: (d) => o.found.push(d),
    ...(o.hook ? { compileHook: dropConditions } : {}),
  });
  const set = e.compile(source({ 'p.cedar': POLICY }));
  live.push(set);
  return { e, set };
}

describe('verification of the compiled engine in production', () => {
  it('a correct compiled engine, every answer verified: no divergence', async () => {
    const found: Divergence[] = [];
    const { e, set } = engine({ sample: 1, found });
    for (const amount of [50, 100, 101, 5000]) set.evaluate(refund(amount));
    await settle();
    expect(found).toEqual([]);
    expect(e.divergences?.()).toBe(0);
    expect(set.evaluate(refund(5000)).effect).toBe('deny');
  });

  it('a wrong compiled allow is found and reported with both answers; with switchOnDivergence the engine then answers with cedar-wasm', async () => {
    const found: Divergence[] = [];
    const { e, set } = engine({ hook: true, sample: 1, switchOn: true, found });
    // The broken compiler allows what the policy forbids: the first answer is wrong …
    expect(set.evaluate(refund(5000)).effect).toBe('allow');
    await settle();
    // … and verification finds it.
    expect(found).toEqual([
      {
        action: 'payments.refund',
        principal: 'Agent::a1',
        compiled: { effect: 'allow', satisfied: ['small'], errors: [] },
        reference: { effect: 'deny', satisfied: [], errors: [] },
      },
    ]);
    expect(e.divergences?.()).toBe(1);
    // From then on, cedar-wasm answers: deny, and the allow next to it still allows.
    expect(set.evaluate(refund(5000)).effect).toBe('deny');
    expect(set.evaluate(refund(50)).effect).toBe('allow');
    // Sets compiled later by the same engine too.
    const later = e.compile(source({ 'p.cedar': POLICY }));
    live.push(later);
    expect(later.evaluate(refund(5000)).effect).toBe('deny');
  });

  it('without sampling nothing is verified; without switchOnDivergence the compiled engine keeps answering', async () => {
    const none: Divergence[] = [];
    const unsampled = engine({ hook: true, sample: 0, found: none });
    unsampled.set.evaluate(refund(5000));
    await settle();
    expect(none).toEqual([]);
    const found: Divergence[] = [];
    const noSwitch = engine({ hook: true, sample: 1, found });
    noSwitch.set.evaluate(refund(5000));
    await settle();
    expect(found).toHaveLength(1);
    expect(noSwitch.set.evaluate(refund(5000)).effect).toBe('allow');
  });
});
