import { MandateError } from '../../kernel/index.js';
import type { AuditFilter } from '../../storage/port.js';
import { requireRole } from '../auth.js';
import { STREAMED, queryLimit, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/** The audit trail: query, verify, export. */
export function registerAuditRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/audit', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const q = ctx.url.searchParams;
    const limit = queryLimit(q, 100, 1000);
    const filter: AuditFilter = { ...auditFilter(q), limit: limit + 1 };
    const cursor = q.get('cursor');
    if (cursor) {
      if (!/^\d+$/.test(cursor)) throw new MandateError('bad_request', 'invalid cursor');
      filter.afterSeq = Number(cursor);
    }
    const rows = await deps.store.queryAudit(filter);
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        seq: r.seq,
        prevHash: r.prevHash,
        hash: r.hash,
        event: JSON.parse(r.eventText),
      })),
      nextCursor: rows.length > limit ? String(page.at(-1)!.seq) : null,
    };
  });
  route('GET', '/v1/audit/verify', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return deps.verifyAudit();
  });
  route('GET', '/v1/audit/export', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const format = ctx.url.searchParams.get('format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'cef')
      throw new MandateError('bad_request', 'format is jsonl or cef');
    const { res } = ctx;
    res.statusCode = 200;
    res.setHeader('content-type', format === 'jsonl' ? 'application/x-ndjson' : 'text/plain; charset=utf-8');
    await deps.exportAudit(
      format,
      (chunk) =>
        new Promise<void>((resolve) => {
          if (res.write(chunk)) resolve();
          else res.once('drain', resolve);
        }),
      auditFilter(ctx.url.searchParams),
    );
    res.end();
    return STREAMED;
  });
}

function auditFilter(q: URLSearchParams): Omit<AuditFilter, 'limit'> {
  const f: Omit<AuditFilter, 'limit'> = {};
  for (const k of ['agent', 'user', 'action', 'effect', 'type', 'decisionId'] as const) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  for (const k of ['from', 'to'] as const) {
    const v = q.get(k);
    if (v) {
      if (Number.isNaN(Date.parse(v))) throw new MandateError('bad_request', `${k} must be an ISO time`);
      f[k] = new Date(v).toISOString();
    }
  }
  return f;
}
