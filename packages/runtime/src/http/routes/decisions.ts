import { DecisionRequestSchema } from '@mandate/protocol';
import { MandateError } from '../../kernel/index.js';
import type { AuditEvent } from '@mandate/protocol';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/** `POST /v1/decisions` and `GET /v1/decisions/:id`. */
export function registerDecisionRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('POST', '/v1/decisions', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'admin');
    const request = parseWith(DecisionRequestSchema, await ctx.body());
    const { decision } = await deps.decisions.decide(request, caller);
    return decision;
  });
  route('GET', '/v1/decisions/:id', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'agent', 'admin');
    const [rec] = await deps.store.queryAudit({ decisionId: ctx.params.id!, type: 'decision', limit: 1 });
    if (!rec) throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    const event = JSON.parse(rec.eventText) as AuditEvent;
    if (caller.role === 'agent' && event.agent !== caller.subject)
      throw new MandateError('not_found', `no decision ${ctx.params.id}`);
    const d = event.data as Record<string, unknown>;
    return {
      decisionId: event.decisionId,
      effect: event.effect,
      reasons: d.reasons,
      errors: d.errors,
      policyVersion: d.policyVersion,
      agent: event.agent,
      user: event.user ?? null,
      action: event.action,
      resource: event.resource ?? null,
      time: event.time,
      approvalId: d.approvalId ?? null,
      grantId: d.grantId ?? null,
      audit: { seq: rec.seq, hash: rec.hash },
    };
  });
}
