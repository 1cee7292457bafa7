import { requireRole } from '../auth.js';
import type { RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { currentUsage } from '../../usage/index.js';

/** `GET /v1/usage?name=&agent=&user=`: the usage counters of the current windows (admin). */
export function registerUsageRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/usage', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const q = ctx.url.searchParams;
    const filter: { name?: string; agent?: string; user?: string } = {};
    for (const k of ['name', 'agent', 'user'] as const) {
      const v = q.get(k);
      if (v) filter[k] = v;
    }
    return { items: await currentUsage(deps.store, filter, deps.clock.now()) };
  });
}
