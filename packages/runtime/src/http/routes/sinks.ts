import { requireRole } from '../auth.js';
import type { RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/** `GET /v1/audit/sinks`: each audit sink's cursor and lag, as this node delivers them (admin). */
export function registerSinkRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/audit/sinks', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const head = (await deps.store.auditHead()).seq;
    // The cursors in the store are the truth every node shares; the loop state adds this node's view.
    const stored = new Map((await deps.store.listSinkCursors()).map((c) => [c.sink, c]));
    return {
      head,
      sinks: (deps.sinks?.() ?? []).map((s) => {
        const cursor = Math.max(s.cursor, stored.get(s.name)?.seq ?? 0);
        return { ...s, cursor, head, lag: Math.max(0, head - cursor) };
      }),
    };
  });
}
