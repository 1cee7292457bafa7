import { describe, expect, it } from 'vitest';
import { createUsageMeter, windowOf } from '../../src/usage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { silentLogger } from '../../src/kernel/index.js';

const counters = [
  { name: 'spent', action: 'payments.refund', sum: 'amount', per: 'agent+user', window: '1d' },
] as const;
const call = (args: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  action: 'payments.refund',
  agent: 'bot',
  user: 'alice',
  args,
  now: Date.parse('2026-03-02T23:59:59.999Z'),
  dryRun: false,
  ...over,
});

describe('usage meter', () => {
  it('windows are fixed and aligned to the epoch in UTC', () => {
    expect(windowOf(Date.parse('2026-03-02T23:59:59.999Z'), '1d')).toEqual({
      start: '2026-03-02T00:00:00.000Z',
      end: '2026-03-03T00:00:00.000Z',
    });
    expect(windowOf(Date.parse('2026-03-02T10:07:31Z'), '15m').start).toBe('2026-03-02T10:00:00.000Z');
  });

  it('reserves, keeps on allow, gives back on deny or approval_required', async () => {
    const store = createMemoryStore();
    const meter = createUsageMeter({ store, counters: [...counters], logger: silentLogger });
    const r1 = (await meter.reserve(call({ amount: 300 })))!;
    expect(r1.context).toEqual({ spent: 0, spentAfter: 300 });
    await r1.settle('allow');
    const r2 = (await meter.reserve(call({ amount: 100 })))!;
    expect(r2.context).toEqual({ spent: 300, spentAfter: 400 });
    await r2.settle('deny');
    const r3 = (await meter.reserve(call({ amount: 50 })))!;
    expect(r3.context).toEqual({ spent: 300, spentAfter: 350 });
    await r3.settle('approval_required');
    expect((await store.listUsage({ name: 'spent' }))[0]).toMatchObject({
      agent: 'bot',
      user: 'alice',
      value: 300,
    });
    expect(await meter.reserve({ ...call({}), action: 'crm.read_customer' })).toBeNull();
  });

  it('denies with usage_invalid when the summed arg is missing, fractional or negative', async () => {
    const meter = createUsageMeter({
      store: createMemoryStore(),
      counters: [...counters],
      logger: silentLogger,
    });
    for (const amount of [undefined, 12.5, -1, '300'])
      await expect(meter.reserve(call({ amount }))).rejects.toMatchObject({ code: 'usage_invalid' });
    await expect(meter.reserve(call({ amount: 0 }))).resolves.not.toBeNull();
  });
});
