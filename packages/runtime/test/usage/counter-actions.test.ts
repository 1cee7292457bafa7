// A usage counter matches its action exactly. One written with a wildcard (`payments.*`) or a
// mistyped action was accepted and silently counted nothing, so a forbid written
// `when { context has usage && context.usage.xAfter > N }` never fired (a probe, 2026-12-01).
// A wildcard is now refused at config load; an action the policy schema does not declare is
// warned about at start.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageSchema } from '../../src/config/usage-schema.js';
import { warnUncountedActions } from '../../src/app/usage-check.js';
import { createCedarEngine, loadPolicyDir } from '../../src/policy/index.js';
import type { Logger } from '../../src/kernel/index.js';
import { root } from './helpers.js';

const counter = (action: string) => ({ name: 'refunds', action, count: true, per: 'user', window: '1d' });

describe('usage counters name one exact action', () => {
  it('a wildcard or a non-action is refused at config load, naming the rule', () => {
    for (const action of ['payments.*', '*', 'payments', 'Payments.refund x']) {
      const parsed = UsageSchema.safeParse([counter(action)]);
      expect(parsed.success, action).toBe(false);
      expect(JSON.stringify(parsed.error?.issues), action).toMatch(/an exact action name .* no wildcards/);
    }
    expect(UsageSchema.safeParse([counter('payments.refund')]).success).toBe(true);
  });

  it('an action the active schema does not declare is warned about at start; a declared one is not', async () => {
    const set = createCedarEngine().compile(
      await loadPolicyDir(join(root, 'examples/fintech-support/policies')),
    );
    const warnings: unknown[][] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (...a: unknown[]) => warnings.push(a) };
    const counters = [counter('payments.refund'), { ...counter('crm.read_customr'), name: 'reads' }];
    warnUncountedActions(UsageSchema.parse(counters), set, logger);
    expect(warnings).toEqual([
      [
        'usage counter names an action the policy schema does not declare: it will count nothing',
        { counter: 'reads', action: 'crm.read_customr' },
      ],
    ]);
  });
});
