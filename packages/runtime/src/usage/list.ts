import type { Store, UsageFilter } from '../storage/port.js';

/** A counter as the API and the CLI show it: null where it is not kept per agent or per user. */
export interface UsageView {
  name: string;
  agent: string | null;
  user: string | null;
  windowStart: string;
  windowEnd: string;
  value: number;
}

/** The counters of the windows current at `now` (`GET /v1/usage`, `mandate usage`). */
export async function currentUsage(
  store: Pick<Store, 'listUsage'>,
  filter: Pick<UsageFilter, 'name' | 'agent' | 'user' | 'limit'>,
  now: number,
): Promise<UsageView[]> {
  const rows = await store.listUsage({ ...filter, activeAt: new Date(now).toISOString() });
  return rows.map((r) => ({ ...r, agent: r.agent || null, user: r.user || null }));
}
