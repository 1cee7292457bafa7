// The shadow evaluator's bounds: a capped queue that drops and counts, failures that stay inside it.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/kernel/index.js';
import { createCedarEngine } from '../../src/policy/index.js';
import { createShadowEvaluator } from '../../src/decisions/shadow.js';
import type { DecisionSeen } from '../../src/decisions/service.js';
import type { CompiledPolicySet } from '../../src/policy/port.js';
import { examplePolicySource } from '../fixtures/mandate.js';
import { refundThreshold } from './helpers.js';

const engine = createCedarEngine();

function seen(amount: number, i: number): DecisionSeen {
  return {
    decisionId: `dec_${i}`,
    action: 'payments.refund',
    policyVersion: 'sha256:active',
    inputs: {
      agent: 'support-bot',
      user: null,
      resource: { type: 'Customer', id: 'c-42' },
      context: {
        args: { customerId: 'c-42', amount },
        time: { hour: 12, minute: 0, weekday: 'mon', date: '2026-01-05', epochSeconds: 0 },
      },
      entities: [
        {
          uid: { type: 'Agent', id: 'support-bot' },
          attrs: { roles: ['support'], status: 'active', tenant: 'acme' },
          parents: [],
        },
        { uid: { type: 'Customer', id: 'c-42' }, attrs: { tenant: 'acme', tags: [] }, parents: [] },
      ],
    },
    outcome: { effect: 'allow', policies: ['refund-small'] },
  };
}

describe('shadow evaluator', () => {
  it('drops and counts past its queue cap, and observe never waits for the record', async () => {
    const shadow = engine.compile(refundThreshold(100));
    let records = 0;
    const ev = createShadowEvaluator({
      shadow: () => shadow,
      // A record that never commits: observe must still return at once.
      record: () => {
        records++;
        return new Promise(() => undefined);
      },
      logger: silentLogger,
      maxQueue: 2,
    });
    for (let i = 0; i < 5; i++) ev.observe(seen(300, i));
    expect(ev.stats()).toMatchObject({ queued: 2, dropped: 3, evaluated: 0 });
    await new Promise((r) => setTimeout(r, 50));
    expect(ev.stats()).toMatchObject({ queued: 0, evaluated: 2, diverged: 2, dropped: 3 });
    expect(records).toBe(2);
  });

  it('an evaluation that throws is counted as failed; the next one still runs', async () => {
    const good = engine.compile(examplePolicySource());
    let calls = 0;
    const broken = {
      ...good,
      version: good.version,
      actions: good.actions,
      // The shadow types the args by its own schema first (retype.ts): a prototype method, not spread.
      argsType: (action: string) => good.argsType(action),
      evaluate: (r: Parameters<CompiledPolicySet['evaluate']>[0]) => {
        if (calls++ === 0) throw new Error('engine trap');
        return good.evaluate(r);
      },
    } as CompiledPolicySet;
    const recorded: unknown[] = [];
    const ev = createShadowEvaluator({
      shadow: () => broken,
      record: async (e) => void recorded.push(e),
      logger: silentLogger,
      maxQueue: 10,
    });
    expect(() => ev.observe(seen(300, 1))).not.toThrow();
    ev.observe(seen(300, 2));
    await ev.drain();
    expect(ev.stats()).toMatchObject({ failed: 1, evaluated: 1, diverged: 0 });
    expect(recorded).toEqual([]);
  });

  it('queues nothing while no shadow set is set', () => {
    const ev = createShadowEvaluator({
      shadow: () => null,
      record: async () => undefined,
      logger: silentLogger,
      maxQueue: 10,
    });
    ev.observe(seen(300, 1));
    expect(ev.stats()).toMatchObject({ queued: 0, evaluated: 0, dropped: 0 });
  });
});
