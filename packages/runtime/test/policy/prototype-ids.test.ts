import { describe, expect, it } from 'vitest';
import { createCedarEngine } from '../../src/policy/index.js';
import { CONTEXT_KEYS, agentEntity } from '../../src/decisions/index.js';
import { compiledEngine, request, source } from './fixtures.js';

/**
 * A probe: a forbid with `@id("__proto__")` was left out of every set handed to cedar-wasm — the
 * slice was built as `staticPolicies[id] = text`, and that assignment sets an object's prototype
 * — so the cedar engine, and the compiled engine wherever it hands a request to cedar-wasm, allowed
 * what the forbid refuses. Policy ids are the author's: any that names a member of
 * `Object.prototype` is a policy like any other.
 */
const IDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

const permitAll = '@id("allow-all") permit (principal, action, resource);\n';
const forbidLarge = (id: string) =>
  `@id("${id}") forbid (principal, action, resource) when { context.args has n && context.args.n * 1000000000 > 0 };\n`;

describe.each(IDS)('a policy with @id("%s")', (id) => {
  const set = (engine = createCedarEngine({ memoEntries: 0 })) =>
    engine.compile(source({ 'p.cedar': permitAll + forbidLarge(id) }));

  it('is evaluated by the cedar engine (a forbid denies; the allow without it stays)', () => {
    const s = set();
    const denied = s.evaluate(request({ args: { n: 5 } }));
    expect(denied.effect).toBe('deny');
    expect(denied.satisfied.map((p) => p.policyId)).toContain(id);
    expect(s.evaluate(request({ args: {} })).effect).toBe('allow');
  });

  it('is evaluated by cedar-wasm where the compiled engine hands a request to it', () => {
    const { engine, fallbacks } = compiledEngine();
    const s = set(engine);
    // A product beyond 2^53: the compiled evaluator hands the request to cedar-wasm.
    const denied = s.evaluate(request({ args: { n: 10_000_000 } }));
    expect(fallbacks.length).toBeGreaterThan(0);
    expect(denied.effect).toBe('deny');
    expect(denied.satisfied.map((p) => p.policyId)).toContain(id);
    // The compiled evaluator's own answer agrees.
    expect(s.evaluate(request({ args: { n: 5 } })).effect).toBe('deny');
  });

  it('is a permit couldPermit sees', () => {
    const s = createCedarEngine().compile(
      source({
        'p.cedar': `@id("${id}") permit (principal is Agent, action == Action::"crm.read_customer", resource);\n`,
      }),
    );
    const agent = agentEntity({ id: 'a1', roles: [], status: 'active', attributes: { tenant: 't' } });
    expect(s.couldPermit(agent, 'crm.read_customer', CONTEXT_KEYS)).toBe(true);
    expect(s.couldPermit(agent, 'crm.update_customer', CONTEXT_KEYS)).toBe(false);
  });
});
