import type { Store, UsageCounterRecord } from '../port.js';

type UsageMethods = Pick<Store, 'chargeUsage' | 'listUsage'>;

/** The memory driver's usage counters (one process: every charge is atomic by construction). */
export function createMemoryUsage(open: () => void): UsageMethods {
  const counters = new Map<string, UsageCounterRecord>();
  return {
    async chargeUsage(charges) {
      open();
      return charges.map((c) => {
        const id = JSON.stringify([c.name, c.agent, c.user, c.windowStart]);
        const row = counters.get(id) ?? {
          name: c.name,
          agent: c.agent,
          user: c.user,
          windowStart: c.windowStart,
          windowEnd: c.windowEnd,
          value: 0,
        };
        const before = row.value;
        row.value += c.delta;
        counters.set(id, row);
        return before;
      });
    },
    async listUsage(f) {
      open();
      return [...counters.values()]
        .filter(
          (r) =>
            (f.name === undefined || r.name === f.name) &&
            (f.agent === undefined || r.agent === f.agent) &&
            (f.user === undefined || r.user === f.user) &&
            (f.activeAt === undefined || r.windowEnd > f.activeAt),
        )
        .sort((a, b) => (a.windowStart === b.windowStart ? 0 : a.windowStart < b.windowStart ? 1 : -1))
        .slice(0, Math.min(Math.max(1, f.limit ?? 1000), 10_000))
        .map((r) => ({ ...r }));
    },
  };
}
