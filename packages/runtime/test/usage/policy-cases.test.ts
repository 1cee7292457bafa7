// `mandate policy test` runs with the config's usage counters: the cases charge them in order, so a
// budget rule can be tested like any other (and without counters it fails closed).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EntitiesDocumentSchema, ToolsDocumentSchema } from '@mandate/protocol';
import { runPolicyCases } from '../../src/app/index.js';
import { ConfigSchema } from '../../src/config/index.js';
import { createCedarEngine, loadPolicyDir } from '../../src/policy/index.js';
import { BUDGET_POLICIES, USAGE, refund, root } from './helpers.js';

async function run(usage: readonly object[]) {
  const dir = join(root, 'examples/fintech-support');
  const config = JSON.parse(await readFile(join(root, 'mandate.config.json'), 'utf8')) as { grants: unknown };
  const source = await loadPolicyDir(join(dir, 'policies'));
  const step = (name: string, amount: number, effect: string) => ({
    name,
    request: refund(amount),
    expect: { effect },
  });
  return runPolicyCases({
    engine: createCedarEngine(),
    source: { ...source, policies: { ...source.policies, 'budgets.cedar': BUDGET_POLICIES } },
    cases: [
      step('first 500', 500, 'allow'),
      step('second 500', 500, 'allow'),
      step('third 500', 500, 'allow'),
      step('fourth 500 reaches 2,000', 500, 'allow'),
      {
        ...step('one more is over the budget', 1, 'deny'),
        expect: { effect: 'deny', reasons: ['refund-daily-budget'] },
      },
    ],
    seed: {
      tools: ToolsDocumentSchema.parse(JSON.parse(await readFile(join(dir, 'tools.json'), 'utf8'))).tools,
      entities: EntitiesDocumentSchema.parse(JSON.parse(await readFile(join(dir, 'entities.json'), 'utf8'))),
      grants: ConfigSchema.shape.grants.parse(config.grants),
    },
    usage: ConfigSchema.shape.usage.parse(usage),
  });
}

describe('policy cases with usage counters', () => {
  it('the cases charge the counters in order: the fifth refund is over the budget', async () => {
    const report = await run(USAGE);
    expect(report.failed, JSON.stringify(report.results.filter((r) => !r.ok))).toBe(0);
    expect(report.passed).toBe(5);
  });

  it('without the counters the budget rule fails closed: every refund is denied', async () => {
    const report = await run([]);
    expect(report.results.map((r) => r.actual?.effect)).toEqual(['deny', 'deny', 'deny', 'deny', 'deny']);
  });
});
