import { MandateError, sleepUnlessAborted } from '../../kernel/index.js';
import { holdToEvents } from '../../audit/columns.js';
import type { AuditFilter } from '../../storage/port.js';
import { STREAMED, type Ctx, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { decisionSummary } from '../decision-view.js';

/** How often an open stream looks for new decisions in the shared trail. */
const POLL_MS = 200;
/** A comment line this often keeps proxies from closing an idle stream (and finds dead clients). */
const HEARTBEAT_MS = 15_000;
/**
 * The credential behind an idle stream is checked again this often: a logout or revocation ends it.
 * A stream with decisions to send checks it before each page (below), whatever the time.
 */
const RECHECK_MS = 15_000;
const BATCH = 100;
const EFFECTS = new Set(['allow', 'deny', 'approval_required']);
const SEQ = /^\d{1,15}$/;

/** The stream's filters from the query: agent, user, action, effect. */
function streamFilter(ctx: Ctx, user: string | null): Omit<AuditFilter, 'limit' | 'afterSeq'> {
  const q = ctx.url.searchParams;
  const f: Omit<AuditFilter, 'limit' | 'afterSeq'> = { type: 'decision' };
  for (const k of ['agent', 'user', 'action'] as const) {
    const v = q.get(k);
    if (v !== null) {
      if (v.length === 0 || v.length > 256)
        throw new MandateError('bad_request', `${k} must be 1 to 256 characters`);
      f[k] = v;
    }
  }
  const effect = q.get('effect');
  if (effect !== null) {
    if (!EFFECTS.has(effect))
      throw new MandateError('bad_request', 'effect must be allow, deny or approval_required');
    f.effect = effect;
  }
  if (user !== null) {
    // SECURITY: a user sees the decisions made on their own behalf, and no one else's.
    if (f.user !== undefined && f.user !== user)
      throw new MandateError('forbidden', 'a user sees only the decisions made on their own behalf');
    f.user = user;
  }
  return f;
}

/** Where the stream starts: after `Last-Event-ID` (a reconnect) or `?after=`, else at the head. */
function startAfter(ctx: Ctx): number | null {
  const raw = ctx.req.headers['last-event-id'] ?? ctx.url.searchParams.get('after');
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string' || !SEQ.test(raw))
    throw new MandateError('bad_request', 'Last-Event-ID and after are audit sequence numbers');
  return Number(raw);
}

/**
 * `GET /v1/decisions/stream`: the live feed of decisions as server-sent events, read from the shared
 * trail (so decisions of every node appear). Admins see all, users the ones made on their behalf;
 * approvers and agents are refused (an approver's view is the approvals inbox).
 */
export function registerDecisionStreamRoutes(route: RouteAdder, deps: HttpDeps): void {
  const open = new Map<string, number>();
  const maxPerKey = deps.dashboard?.maxStreamsPerKey ?? 5;

  route('GET', '/v1/decisions/stream', async (ctx) => {
    const caller = await ctx.caller();
    if (caller.role !== 'admin' && caller.role !== 'user')
      throw new MandateError(
        'forbidden',
        `the decision stream is for roles admin and user; the credential has role ${caller.role}`,
      );
    // SECURITY: a suspended user reads no feed of their decisions (as a suspended approver reads no
    // inbox): checked at the start and before every page, with the credential.
    const userActive = async (): Promise<boolean> =>
      caller.role !== 'user' || (await deps.store.getUser(caller.subject!))?.status === 'active';
    if (!(await userActive()))
      throw new MandateError('user_suspended', `user ${caller.subject} is suspended: no decision stream`);
    const filter = streamFilter(ctx, caller.role === 'user' ? caller.subject : null);
    let cursor = startAfter(ctx) ?? (await deps.store.auditHead()).seq;
    const n = open.get(caller.keyId) ?? 0;
    if (n >= maxPerKey)
      throw new MandateError('rate_limited', `at most ${maxPerKey} open decision streams per credential`, {
        details: { retryAfterSeconds: 5 },
      });
    open.set(caller.keyId, n + 1);

    const { req, res } = ctx;
    const stop = new AbortController();
    const end = () => stop.abort();
    req.once('close', end);
    res.once('close', end);
    deps.shutdown?.addEventListener('abort', end, { once: true });
    const write = (text: string) => {
      if (!res.writableEnded && !res.destroyed) res.write(text);
    };
    res.statusCode = 200;
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    write(`retry: 2000\n: stream after seq ${cursor}\n\n`);
    const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
    const stillHolds = () =>
      ctx.reauthenticate().then(
        () => userActive().catch(() => false),
        () => false,
      );
    const recheck = setInterval(() => {
      void stillHolds().then((holds) => holds || end());
    }, RECHECK_MS);
    deps.metrics.observeHttp(200);
    try {
      while (!stop.signal.aborted) {
        let sleepMs = POLL_MS;
        try {
          // The head first: every record up to it that matches is in the answer unless the page is full.
          const head = (await deps.store.auditHead()).seq;
          const batch = await deps.store.queryAudit({ ...filter, afterSeq: cursor, limit: BATCH });
          // SECURITY: revocation is immediate — a page goes out only under a credential (key,
          // JWT, session) that still holds. Checked every 15 s only, a revoked key (a logged-out
          // session) went on receiving every new decision for up to 15 s.
          if (batch.length > 0 && !(await stillHolds())) break;
          // SECURITY: found by the agent, user, action, effect and type columns; a record edited into
          // the subscriber's filter is not streamed as matching, it is the node's finding.
          for (const { rec, event } of await holdToEvents(batch, deps.auditTampered)) {
            if (stop.signal.aborted) break;
            write(
              `id: ${rec.seq}\nevent: decision\ndata: ${JSON.stringify(decisionSummary(rec, event))}\n\n`,
            );
          }
          const last = batch.at(-1)?.seq ?? cursor;
          cursor = batch.length === BATCH ? last : Math.max(last, head, cursor);
          if (batch.length === BATCH) sleepMs = 0;
        } catch (err) {
          deps.logger.warn('decision stream cannot read the trail', { error: (err as Error).message });
          sleepMs = 1000;
        }
        if (sleepMs > 0) await sleepUnlessAborted(sleepMs, stop.signal);
      }
    } finally {
      clearInterval(heartbeat);
      clearInterval(recheck);
      deps.shutdown?.removeEventListener('abort', end);
      const left = (open.get(caller.keyId) ?? 1) - 1;
      if (left > 0) open.set(caller.keyId, left);
      else open.delete(caller.keyId);
      if (!res.writableEnded) res.end();
    }
    return STREAMED;
  });
}
