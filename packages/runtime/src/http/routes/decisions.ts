import { DecisionOutcomeReportSchema, DecisionRequestSchema } from '@mandate/protocol';
import { MandateError } from '../../kernel/index.js';
import {
  agentOwns,
  callerIdentity,
  createIdempotency,
  replayStillHolds,
  reportOutcome,
} from '../../decisions/index.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { decisionEvent } from '../decision-view.js';
import { decisionWhy } from '../decision-why.js';

/** `POST /v1/decisions` and `GET /v1/decisions/:id`. */
export function registerDecisionRoutes(route: RouteAdder, deps: HttpDeps): void {
  const idempotency = createIdempotency(deps);
  route('POST', '/v1/decisions', async (ctx) => {
    // PERF: for a key this node served lately the whole request is in before the caller is looked
    // up, so authenticating and deciding run in one turn and share one read of the cache epoch
    // (ADR 0032). The body is parsed only once the caller is known; its errors come after a 401.
    await ctx.received();
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'admin');
    const request = parseWith(DecisionRequestSchema, await ctx.body());
    // The answer carries the args that were decided on: the SDK runs the tool with exactly these.
    const decide = async () => {
      const { decision, args } = await deps.decisions.decide(request, caller);
      return { ...decision, args };
    };
    const header = ctx.req.headers['idempotency-key'];
    if (header === undefined) return decide();
    // Repeated headers join with ", ", which no valid key contains: refused, never one of them picked.
    const key = Array.isArray(header) ? header.join(', ') : header;
    // A retry with the same key and request gets the recorded answer; nothing is decided twice —
    // unless it was an allow that a check made now would not give (replayStillHolds).
    const r = await idempotency.run(
      { scope: `decision:${callerIdentity(caller)}`, key, request },
      decide,
      (recorded) =>
        replayStillHolds(deps, request, recorded, async (req, recordedUsage) => {
          const { decision, wouldRequest } = await deps.decisions.decide(req, caller, {
            checkOnly: true,
            recordedUsage,
          });
          return {
            effect: decision.effect,
            policyVersion: decision.policyVersion,
            ...(wouldRequest ? { wouldRequest } : {}),
          };
        }),
    );
    if (r.replayed) ctx.res.setHeader('idempotent-replayed', 'true');
    return r.value;
  });
  route('POST', '/v1/decisions/:id/outcome', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent');
    const report = parseWith(DecisionOutcomeReportSchema, await ctx.body());
    ctx.res.statusCode = 201;
    return reportOutcome(
      { store: deps.store, clock: deps.clock, record: deps.audit, tampered: deps.auditTampered },
      caller,
      ctx.params.id!,
      report,
      {
        // EVIDENCE: a call the MCP gateway decided (its hashed event names the upstream server, or
        // the upstream tool's pinned hash) was forwarded by the gateway, which records its outcome
        // itself; the agent did not run it and does not report it (a call that timed out was then
        // reported "ok"). Asked only of the caller's own decision: another agent's is not found.
        refuse: (event) => {
          if (event.data?.toolHash || event.data?.upstream)
            throw new MandateError(
              'forbidden',
              `decision ${ctx.params.id} was a call the MCP gateway forwarded: the gateway records its outcome`,
            );
        },
      },
    );
  });
  route('GET', '/v1/decisions/:id', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'user', 'admin');
    const [rec] = await deps.store.queryAudit({ decisionId: ctx.params.id!, type: 'decision', limit: 1 });
    if (!rec) throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    const event = decisionEvent(rec);
    // SECURITY: another principal's decision is not found, not "forbidden": its existence is not leaked.
    if (
      (caller.role === 'agent' && !agentOwns(caller, event.agent, event.user)) ||
      (caller.role === 'user' && (event.user === undefined || event.user !== caller.subject))
    )
      throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    return decisionWhy(deps, rec, event, ctx.params.id!);
  });
}
