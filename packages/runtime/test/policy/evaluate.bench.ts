/**
 * Micro-check of the per-call cost of slicing (DESIGN.md "Performance budget"); numbers only, never
 * asserted. Run by hand: `npx vitest bench --run packages/runtime/test/policy`.
 */
import { afterAll, bench, describe } from 'vitest';
import { createCedarEngine, type CompiledPolicySet, type PolicyRequest } from '../../src/policy/index.js';
import { request } from './fixtures.js';

const ACTION_COUNT = 100;

function schema(): string {
  const actions = Array.from(
    { length: ACTION_COUNT },
    (_, k) =>
      `action "svc${k}.do" appliesTo { principal: [Agent, User], resource: [Customer], context: Ctx };`,
  );
  return `
type Time = { hour: Long, minute: Long, weekday: String };
type Ctx = { args: { n?: Long }, time: Time };
entity Agent { roles: Set<String>, tenant: String, status: String };
entity User { roles: Set<String>, tenant: String };
entity Customer { tenant: String, tags: Set<String> };
${actions.join('\n')}`;
}

/** `count` policies spread round-robin over the actions; every 10th is a forbid. */
function compile(count: number): CompiledPolicySet {
  const lines = Array.from({ length: count }, (_, i) => {
    const effect = i % 10 === 9 ? 'forbid' : 'permit';
    const cond =
      effect === 'forbid'
        ? 'resource.tags.contains("frozen")'
        : `context.args has n && context.args.n > ${i % 50}`;
    return `@id("p${i}") ${effect}(principal is Agent, action == Action::"svc${i % ACTION_COUNT}.do", resource) when { ${cond} };`;
  });
  return createCedarEngine().compile({ policies: { 'bench.cedar': lines.join('\n') }, schema: schema() });
}

const req: PolicyRequest = request({ action: 'svc7.do', args: { n: 60 } });
const sets = [10, 1000].map((n) => [n, compile(n)] as const);
afterAll(() => {
  for (const [, set] of sets) set.dispose();
});

for (const [n, set] of sets) {
  describe(`${n} policies over ${ACTION_COUNT} actions`, () => {
    bench('evaluate (sliced)', () => {
      set.evaluate(req);
    });
    bench('evaluateUnsliced', () => {
      set.evaluateUnsliced(req);
    });
  });
}
