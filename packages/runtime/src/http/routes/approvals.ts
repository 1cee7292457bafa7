import { z } from 'zod';
import { MandateError, parseDuration } from '../../kernel/index.js';
import { agentOwns, type Caller } from '../../decisions/index.js';
import { SELF_CONFIRMATION } from '../../approvals/index.js';
import type { ApprovalFilter, ApprovalRecord } from '../../storage/port.js';
import type { AuditEvent } from '@mandate/protocol';
import { holdToEvents } from '../../audit/columns.js';
import { requireRole } from '../auth.js';
import { parseWith, queryLimit, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const VoteSchema = z.strictObject({
  comment: z.string().max(2000).nullish(),
  signature: z.string().max(512).nullish(),
});

/** Approvals: the inbox, one approval (with long-poll), and votes. */
export function registerApprovalRoutes(route: RouteAdder, deps: HttpDeps): void {
  const approverOf = async (caller: Caller) => {
    const user = caller.subject ? await deps.store.getUser(caller.subject) : null;
    if (!user) throw new MandateError('forbidden', 'this credential is not linked to a known user');
    // SECURITY: a suspended person approves nothing (their votes stop counting) and reads nothing
    // routed to them either: their inbox went on listing every pending call, args and all.
    if (user.status !== 'active')
      throw new MandateError(
        'user_suspended',
        `user ${user.id} is suspended: no approvals to read or vote on`,
      );
    const key = user.attributes.approvalPublicKey;
    // A `user` key confirms only calls made on its own behalf (`@approval("self")`): it holds no
    // approver role. SECURITY: nor is `self` ever a role held: an entity role of that name matched
    // every user's `@approval("self")` approvals, and listed them in its holder's inbox (a probe).
    const roles = caller.role === 'approver' ? user.roles.filter((r) => r !== SELF_CONFIRMATION) : [];
    return {
      id: user.id,
      roles,
      publicKeyPem: typeof key === 'string' ? key : null,
      via: caller.role === 'user' ? ('user' as const) : ('approver' as const),
      keyId: caller.keyId,
    };
  };
  route('GET', '/v1/approvals', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'approver', 'admin', 'agent', 'user');
    const status = ctx.url.searchParams.get('status') ?? undefined;
    if (status && !['pending', 'approved', 'denied', 'expired', 'consumed'].includes(status)) {
      throw new MandateError('bad_request', `unknown status ${status}`);
    }
    const filter: ApprovalFilter = {
      limit: queryLimit(ctx.url.searchParams, 100, 1000),
    };
    if (status) filter.status = status as NonNullable<typeof filter.status>;
    const cursor = ctx.url.searchParams.get('cursor');
    if (cursor !== null) {
      if (!/^[\w-]{1,128}$/.test(cursor))
        throw new MandateError('bad_request', 'cursor is not a cursor this API gave');
      filter.before = cursor;
    }
    // An approver sees only what is routed to their roles; an agent only its own requests; a user
    // the calls waiting for their own confirmation. Filtered in the store, before the limit.
    if (caller.role === 'approver') filter.roles = (await approverOf(caller)).roles;
    if (caller.role === 'agent') {
      filter.agent = caller.subject!;
      // A credential acting for one user sees only that user's approvals.
      if (caller.onBehalfOf !== undefined) filter.user = caller.onBehalfOf;
    }
    if (caller.role === 'user') {
      filter.roles = [SELF_CONFIRMATION];
      filter.user = caller.subject!;
    }
    return deps.approvals.page(filter);
  });
  /** The approval if this caller may see it (the one visibility rule for the approval and its history). */
  const visibleApproval = async (caller: Caller, id: string) => {
    const a = await deps.approvals.get(id);
    const visible = async () => {
      if (!a) return false;
      if (caller.role === 'admin') return true;
      if (caller.role === 'agent') return agentOwns(caller, a.agent, a.user);
      if (caller.role === 'approver') return (await approverOf(caller)).roles.includes(a.role);
      return a.user === caller.subject;
    };
    if (!(await visible())) throw new MandateError('not_found', `no approval ${id}`);
    return a!;
  };
  route('GET', '/v1/approvals/:id', async (ctx) => {
    const caller = await ctx.caller();
    const id = ctx.params.id!;
    const wait = ctx.url.searchParams.get('wait');
    let a: ApprovalRecord | null = await visibleApproval(caller, id);
    if (wait && a.status === 'pending') {
      const ms = Math.min(parseDuration(wait), 60_000);
      const ac = new AbortController();
      ctx.req.once('close', () => ac.abort());
      deps.shutdown?.addEventListener('abort', () => ac.abort(), { once: true });
      await deps.approvals.wait(id, ms, ac.signal);
      // SECURITY: answered under the credential and the right to see it as they stand after the
      // wait, not before it: a long poll started with a key revoked meanwhile returned the record
      // (a vote cast after the revocation included) seconds later (a probe).
      await ctx.reauthenticate();
      a = await visibleApproval(caller, id);
    }
    return a;
  });
  // The recent decisions of the approval's agent for its user (issue 11 §1), to whoever may see the
  // approval — not the audit trail: summaries only, the redacted args never included.
  route('GET', '/v1/approvals/:id/history', async (ctx) => {
    const caller = await ctx.caller();
    const a = await visibleApproval(caller, ctx.params.id!);
    const limit = queryLimit(ctx.url.searchParams, 10, 50);
    const rows = await deps.store.queryAudit({
      type: 'decision',
      agent: a.agent,
      ...(a.user ? { user: a.user } : {}),
      order: 'desc',
      limit,
    });
    // SECURITY: found by the type, agent and user columns; a record edited to match (another
    // agent's or user's decision) is not shown in this approval's history, it is the node's finding.
    const events = (await holdToEvents(rows, deps.auditTampered)).map((h) => h.event);
    // An approval acting for no user shows the agent's calls for no user, never another user's.
    const mine = a.user ? events : events.filter((e) => e.user === undefined);
    return { items: mine.map(decisionSummary) };
  });
  for (const verdict of ['approve', 'deny'] as const) {
    route('POST', `/v1/approvals/:id/${verdict}`, async (ctx) => {
      const caller = await ctx.caller();
      requireRole(caller, 'approver', 'user');
      const raw =
        ctx.req.headers['content-length'] === '0' || !ctx.req.headers['content-type'] ? {} : await ctx.body();
      const body = parseWith(VoteSchema, raw);
      return deps.approvals.vote(
        ctx.params.id!,
        await approverOf(caller),
        verdict,
        body.comment ?? null,
        body.signature ?? null,
      );
    });
  }
}

/** One past decision as the approver's history shows it: what, when, how, and which policies. */
function decisionSummary(e: AuditEvent) {
  const reasons = Array.isArray(e.data?.reasons) ? (e.data.reasons as Array<{ policyId?: unknown }>) : [];
  return {
    decisionId: e.decisionId ?? null,
    time: e.time,
    action: e.action ?? null,
    effect: e.effect ?? null,
    policies: [...new Set(reasons.map((r) => r.policyId).filter((p): p is string => typeof p === 'string'))],
  };
}
