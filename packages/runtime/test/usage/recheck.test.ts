// The replay check of a recorded allow leaves out that allow's own charge — only in its window,
// never more than the call's charge, and never for a real (charged) call.
import { describe, expect, it } from 'vitest';
import { createUsageMeter, type UsageMeter } from '../../src/usage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { silentLogger } from '../../src/kernel/index.js';

const counters = [
  { name: 'spent', action: 'payments.refund', sum: 'amount', per: 'agent+user', window: '1d' },
] as const;
const DAY = '2026-03-02T00:00:00.000Z';
const call = (dryRun: boolean) => ({
  action: 'payments.refund',
  agent: 'bot',
  user: 'alice',
  args: { amount: 100 },
  now: Date.parse('2026-03-02T15:00:00Z'),
  dryRun,
});

async function meterAt(value: number) {
  const meter = createUsageMeter({
    store: createMemoryStore(),
    counters: [...counters],
    logger: silentLogger,
  });
  const r = (await meter.reserve({ ...call(false), args: { amount: value } }))!;
  await r.settle('allow');
  return meter;
}

/** What the policies read in a reservation inside the replay check of an allow recorded so. */
async function readInCheck(meter: UsageMeter, recorded: unknown, dryRun = true) {
  const r = await meter.reserve({ ...call(dryRun), recorded: async () => recorded });
  await r!.settle('deny');
  return r!.context;
}

describe('usage meter: the replay check of a recorded allow', () => {
  it('leaves out the recorded charge in its window', async () => {
    const meter = await meterAt(2000);
    const recorded = { spent: { value: 1900, after: 2000, windowStart: DAY } };
    expect(await readInCheck(meter, recorded)).toEqual({ spent: 1900, spentAfter: 2000 });
    // Outside the check, a dry run reads the counter as it is.
    expect((await meter.reserve(call(true)))!.context).toEqual({ spent: 2000, spentAfter: 2100 });
  });

  it('a record hiding the amounts still leaves out the call’s charge in the window it names', async () => {
    const meter = await meterAt(2000);
    const recorded = { spent: { windowStart: DAY, hidden: true } };
    expect(await readInCheck(meter, recorded)).toEqual({ spent: 1900, spentAfter: 2000 });
  });

  it('leaves out nothing for another window, no record or another counter; never more than the call’s charge', async () => {
    const meter = await meterAt(2000);
    for (const recorded of [
      { spent: { value: 1900, after: 2000, windowStart: '2026-03-01T00:00:00.000Z' } },
      undefined,
      { other: { value: 1900, after: 2000, windowStart: DAY } },
      { spent: { value: '1900', after: 2000, windowStart: DAY } },
    ]) {
      expect(await readInCheck(meter, recorded)).toEqual({ spent: 2000, spentAfter: 2100 });
    }
    // A record edited to claim a larger charge takes off no more than this call's 100.
    const edited = { spent: { value: 0, after: 2000, windowStart: DAY } };
    expect(await readInCheck(meter, edited)).toEqual({ spent: 1900, spentAfter: 2000 });
  });

  it('a real call inside the check is charged and read in full', async () => {
    const meter = await meterAt(2000);
    const recorded = { spent: { value: 1900, after: 2000, windowStart: DAY } };
    expect(await readInCheck(meter, recorded, false)).toEqual({ spent: 2000, spentAfter: 2100 });
  });
});
