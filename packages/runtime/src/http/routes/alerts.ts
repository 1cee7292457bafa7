import { z } from 'zod';
import { MandateError } from '../../kernel/index.js';
import { requireRole } from '../auth.js';
import { parseWith, queryLimit, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const id = z.string().min(1).max(256);
const AckSchema = z.strictObject({ comment: z.string().max(2000).nullish() });
const MuteSchema = z.strictObject({
  rule: id,
  /** An agent id, or `*` (the default) for every subject of the rule. */
  agent: id.default('*'),
  reason: z.string().min(1).max(2000),
  until: z.iso.datetime({ offset: true }).nullish(),
});
const UnmuteSchema = z.strictObject({ rule: id, agent: id.default('*') });

/** `/v1/alerts…` (admin): fired alerts, acknowledgement, mutes (docs/alerts.md). */
export function registerAlertRoutes(route: RouteAdder, deps: HttpDeps): void {
  const alerting = () => {
    if (!deps.alerts) throw new MandateError('not_found', 'no alert rules are configured');
    return deps.alerts;
  };
  const admin = async (ctx: Parameters<Parameters<RouteAdder>[2]>[0]) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    return caller;
  };
  route('GET', '/v1/alerts', async (ctx) => {
    await admin(ctx);
    const q = ctx.url.searchParams;
    const status = q.get('status');
    if (status !== null && status !== 'open' && status !== 'acknowledged')
      throw new MandateError('bad_request', 'status must be open or acknowledged');
    const cursor = q.get('cursor');
    if (cursor !== null && !/^\d{1,15}$/.test(cursor))
      throw new MandateError('bad_request', 'cursor is a number');
    return alerting().list({
      ...(status ? { status } : {}),
      limit: queryLimit(q, 100, 1000),
      after: cursor ? Number(cursor) : 0,
    });
  });
  route('POST', '/v1/alerts/:id/acknowledge', async (ctx) => {
    const caller = await admin(ctx);
    const body = parseWith(AckSchema, await ctx.body());
    return alerting().acknowledge(ctx.params.id!, caller.keyId, body.comment ?? null);
  });
  route('GET', '/v1/alerts/mutes', async (ctx) => {
    await admin(ctx);
    return { items: await alerting().mutes() };
  });
  route('POST', '/v1/alerts/mutes', async (ctx) => {
    const caller = await admin(ctx);
    const m = parseWith(MuteSchema, await ctx.body());
    ctx.res.statusCode = 201;
    return alerting().mute(
      {
        rule: m.rule,
        agent: m.agent,
        reason: m.reason,
        until: m.until ? new Date(m.until).toISOString() : null,
      },
      caller.keyId,
    );
  });
  route('POST', '/v1/alerts/unmute', async (ctx) => {
    const caller = await admin(ctx);
    const m = parseWith(UnmuteSchema, await ctx.body());
    await alerting().unmute(m.rule, m.agent, caller.keyId);
    return { rule: m.rule, agent: m.agent, muted: false };
  });
}
