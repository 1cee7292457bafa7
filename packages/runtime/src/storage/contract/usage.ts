import { describe, expect, it } from 'vitest';
import type { Store, UsageCharge } from '../port.js';

/** A charge on counter `name` for agent-a and user-1 in the window of 2025-01-01. */
export const usageCharge = (name: string, delta: number, over: Partial<UsageCharge> = {}): UsageCharge => ({
  name,
  agent: 'agent-a',
  user: 'user-1',
  windowStart: '2025-01-01T00:00:00.000Z',
  windowEnd: '2025-01-02T00:00:00.000Z',
  delta,
  ...over,
});

/** The usage counter cases of the storage contract; `s()` is the migrated store of the current case. */
export function describeUsageContract(s: () => Store): void {
  describe('usage counters', () => {
    it('each charge returns the value before it, counters are kept apart by name, subject and window', async () => {
      const store = s();
      expect(await store.chargeUsage([usageCharge('spent', 300)])).toEqual([0]);
      expect(await store.chargeUsage([usageCharge('spent', 200), usageCharge('calls', 1)])).toEqual([300, 0]);
      expect(await store.chargeUsage([usageCharge('spent', 50, { user: 'user-2' })])).toEqual([0]);
      const next = { windowStart: '2025-01-02T00:00:00.000Z', windowEnd: '2025-01-03T00:00:00.000Z' };
      expect(await store.chargeUsage([usageCharge('spent', 7, next)])).toEqual([0]);
      // Giving a reservation back is a negative charge.
      expect(await store.chargeUsage([usageCharge('spent', -200)])).toEqual([500]);
      const mine = await store.listUsage({ name: 'spent', user: 'user-1' });
      expect(mine.map((r) => [r.windowStart, r.value])).toEqual([
        ['2025-01-02T00:00:00.000Z', 7],
        ['2025-01-01T00:00:00.000Z', 300],
      ]);
      const current = await store.listUsage({ activeAt: '2025-01-02T00:00:00.000Z' });
      expect(current).toStrictEqual([{ name: 'spent', agent: 'agent-a', user: 'user-1', ...next, value: 7 }]);
      expect(await store.listUsage({ agent: 'agent-b' })).toEqual([]);
    });

    it('concurrent charges on one counter each see a distinct value before them', async () => {
      const store = s();
      const before = await Promise.all(
        Array.from({ length: 10 }, () => store.chargeUsage([usageCharge('c', 1)])),
      );
      expect(before.map((b) => b[0]).sort((x, y) => x! - y!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect((await store.listUsage({ name: 'c' }))[0]!.value).toBe(10);
    });
  });
}
