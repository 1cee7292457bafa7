import type { Store } from '../port.js';
import { usageFromRow, usageWhere } from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';

type UsageMethods = Pick<Store, 'chargeUsage' | 'listUsage'>;

const CHARGE = `INSERT INTO usage_counters (name, agent, user_id, window_start, window_end, value)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (name, agent, user_id, window_start) DO UPDATE SET value = value + excluded.value
  RETURNING value`;

/** The SQLite driver's usage counters (table `usage_counters`, migration 080). */
export function createSqliteUsage({ run, write, all, get, tx }: SqliteDeps): UsageMethods {
  return {
    chargeUsage: (charges) =>
      write(() =>
        // SECURITY: one write lock (BEGIN IMMEDIATE) across processes: each caller reads the value
        // its own charge was added to, never one another caller also read.
        tx(() =>
          charges.map((c) => {
            const r = get(CHARGE, c.name, c.agent, c.user, c.windowStart, c.windowEnd, c.delta);
            return Number(r!.value) - c.delta;
          }),
        ),
      ),
    listUsage: (filter) =>
      run(() => {
        const { where, params, limit } = usageWhere(filter, () => '?');
        return all(
          `SELECT * FROM usage_counters ${where} ORDER BY window_start DESC, name, agent, user_id LIMIT ${limit}`,
          ...params,
        ).map(usageFromRow);
      }),
  };
}
