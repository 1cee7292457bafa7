import type { Store, UsageCharge } from '../port.js';
import { usageFromRow, usageWhere, type Row } from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';

type UsageMethods = Pick<Store, 'chargeUsage' | 'listUsage'>;

const CHARGE = `INSERT INTO usage_counters (name, agent, user_id, window_start, window_end, value)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (name, agent, user_id, window_start) DO UPDATE SET value = usage_counters.value + EXCLUDED.value
  RETURNING value`;

const params = (c: UsageCharge) => [c.name, c.agent, c.user, c.windowStart, c.windowEnd, c.delta];
const key = (c: UsageCharge) => JSON.stringify([c.name, c.agent, c.user, c.windowStart]);

/** The PostgreSQL driver's usage counters (table `usage_counters`, migration 080). */
export function createPostgresUsage({ run, pool, tx }: PostgresDeps): UsageMethods {
  return {
    chargeUsage: (charges) =>
      run(async () => {
        // SECURITY: consistent across nodes — the upsert takes the counter row's lock, so a racing
        // charge on another node waits and then adds to the value this one left: every caller
        // reads the value its own charge was added to.
        if (charges.length === 1) {
          const r = await pool.query<Row>(CHARGE, params(charges[0]!));
          return [Number(r.rows[0]!.value) - charges[0]!.delta];
        }
        // Several counters: one transaction, rows locked in one global order (no deadlock between
        // two calls charging the same counters).
        const order = charges.map((c, i) => ({ c, i })).sort((a, b) => (key(a.c) < key(b.c) ? -1 : 1));
        return tx(async (client) => {
          const before: number[] = new Array<number>(charges.length);
          for (const { c, i } of order) {
            const r = await client.query<Row>(CHARGE, params(c));
            before[i] = Number(r.rows[0]!.value) - c.delta;
          }
          return before;
        });
      }),
    listUsage: (filter) =>
      run(async () => {
        const { where, params: values, limit } = usageWhere(filter, (n) => `$${n}`);
        const r = await pool.query<Row>(
          `SELECT * FROM usage_counters ${where}
           ORDER BY window_start DESC, name COLLATE "C", agent COLLATE "C", user_id COLLATE "C" LIMIT ${limit}`,
          values,
        );
        return r.rows.map(usageFromRow);
      }),
  };
}
