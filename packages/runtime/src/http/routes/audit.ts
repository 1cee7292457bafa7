import { MandateError } from '../../kernel/index.js';
import type { Caller } from '../../decisions/index.js';
import type { AuditFilter } from '../../storage/port.js';
import type { TrailRead } from '../../audit/index.js';
import { personalOf } from '../../audit/personal.js';
import { holdToEvents } from '../../audit/columns.js';
import { requireRole } from '../auth.js';
import { STREAMED, queryLimit, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const EFFECTS = ['allow', 'deny', 'approval_required'];

/** The audit trail: query, verify, export. Each admin read is itself recorded (`audit.read`). */
export function registerAuditRoutes(route: RouteAdder, deps: HttpDeps): void {
  const noteRead = async (caller: Caller, read: Omit<TrailRead, 'caller' | 'role'>) => {
    await deps.auditRead?.({ caller: caller.keyId, role: caller.role, ...read });
  };
  route('GET', '/v1/audit', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const q = ctx.url.searchParams;
    const limit = queryLimit(q, 100, 1000);
    const given = auditFilter(q);
    const filter: AuditFilter = { ...given, limit: limit + 1 };
    const cursor = q.get('cursor');
    if (cursor) {
      if (!/^\d+$/.test(cursor)) throw new MandateError('bad_request', 'invalid cursor');
      filter.afterSeq = Number(cursor);
    }
    const rows = await deps.store.queryAudit(filter);
    const found = rows.slice(0, limit);
    // SECURITY: the store filters by the query columns; a record whose column was edited to match
    // (decision Y's decision_id set to X) was answered as X's. A record whose columns disagree with
    // its hashed event is left out and is the node's finding (audit/columns.ts).
    const kept = await holdToEvents(found, deps.auditTampered);
    const page = kept.map((c) => c.rec);
    const personal = await personalOf(deps.store, page, deps.personalKey);
    // The cursor is left out of the recorded filter: paging through one query is one read repeated.
    await noteRead(caller, { route: 'query', filter: given, records: page.length });
    return {
      items: kept.map(({ rec: r, event }) => ({
        seq: r.seq,
        prevHash: r.prevHash,
        hash: r.hash,
        event,
        // Beside the hashed event: the kept personal fields, or "erased" (docs/audit.md "Erasure").
        ...(personal.has(r.seq) ? { personal: personal.get(r.seq) } : {}),
      })),
      nextCursor: rows.length > limit ? String(found.at(-1)!.seq) : null,
    };
  });
  route('GET', '/v1/audit/verify', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const result = await deps.verifyAudit();
    await noteRead(caller, { route: 'verify', filter: {}, records: result.records });
    return result;
  });
  route('GET', '/v1/audit/export', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const format = ctx.url.searchParams.get('format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'cef')
      throw new MandateError('bad_request', 'format is jsonl or cef');
    const filter = auditFilter(ctx.url.searchParams);
    // Recorded before the stream starts (the count is unknown yet): an export that fails midway was still a read.
    await noteRead(caller, { route: 'export', filter: { ...filter, format }, records: 0 });
    const { res } = ctx;
    res.statusCode = 200;
    res.setHeader('content-type', format === 'jsonl' ? 'application/x-ndjson' : 'text/plain; charset=utf-8');
    const write = (chunk: string) =>
      new Promise<void>((resolve) => {
        if (res.write(chunk)) resolve();
        else res.once('drain', resolve);
      });
    // A filtered export leaves out a record edited into the filter, the node's finding (audit/export.ts).
    await deps.exportAudit(format, write, filter);
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
  // An unknown effect matches nothing; answering an empty page would read as "no denies".
  if (f.effect !== undefined && !EFFECTS.includes(f.effect))
    throw new MandateError(
      'bad_request',
      `effect must be one of ${EFFECTS.join(', ')}, not ${JSON.stringify(f.effect)}`,
    );
  for (const k of ['from', 'to'] as const) {
    const v = q.get(k);
    if (v) {
      if (Number.isNaN(Date.parse(v))) throw new MandateError('bad_request', `${k} must be an ISO time`);
      f[k] = new Date(v).toISOString();
    }
  }
  return f;
}
