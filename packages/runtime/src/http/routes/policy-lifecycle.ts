import { MandateError, isoTimeOrNull } from '../../kernel/index.js';
import { z } from 'zod';
import { shadowReport } from '../../decisions/shadow-report.js';
import { FAIL_ON, replayDecisions, replayFails } from '../../decisions/replay.js';
import { DIFF_MAX_REQUESTS, semanticDiff } from '../../policy/semantic-diff.js';
import type { ShadowMode } from '../../decisions/shadow.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { PolicySourceSchema, screened } from './policies.js';

/** An ISO time from a query parameter, or undefined; anything else is a 400. */
export function isoParam(value: string | null, name: string): string | undefined {
  if (value === null || value === '') return undefined;
  const iso = isoTimeOrNull(value);
  if (iso === null) throw new MandateError('bad_request', `${name} must be an ISO time`);
  return iso;
}

/** Changing policies safely (issue 14 §1): the shadow set, replay of the record, semantic diff. */
export function registerPolicyLifecycleRoutes(route: RouteAdder, deps: HttpDeps): void {
  const shadowMode = (): ShadowMode => {
    if (!deps.shadow) throw new MandateError('not_found', 'shadow mode is not available on this node');
    return deps.shadow;
  };
  route('GET', '/v1/policies/shadow', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const shadow = shadowMode();
    const ref = await shadow.set.stored();
    if (!ref) throw new MandateError('not_found', 'no shadow policy set is set');
    const stored = await deps.policies.get(ref.version);
    return {
      version: ref.version,
      setAt: ref.setAt,
      policies: stored?.policies ?? {},
      schema: stored?.schema ?? '',
      // What this node did with it (each node evaluates its own decisions).
      node: shadow.evaluator.stats(),
    };
  });
  route('PUT', '/v1/policies/shadow', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const shadow = shadowMode();
    const source = parseWith(PolicySourceSchema, await ctx.body());
    await screened(deps, source);
    return shadow.set.activate(source, `api:${caller.keyId}`);
  });
  route('DELETE', '/v1/policies/shadow', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    return shadowMode().set.clear(`api:${caller.keyId}`);
  });
  route('GET', '/v1/policies/shadow/report', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const q = ctx.url.searchParams;
    const since = isoParam(q.get('since'), 'since');
    const ref = await shadowMode().set.stored();
    // The current shadow's divergences, or (none set, or `all=true`) every one on the record.
    const version = q.get('all') === 'true' ? null : (ref?.version ?? null);
    return shadowReport(deps.store, {
      shadowVersion: version,
      ...(since ? { since } : {}),
      ...(deps.auditTampered ? { tampered: deps.auditTampered } : {}),
    });
  });
  route('POST', '/v1/policies/replay', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const body = parseWith(
      z.strictObject({
        policies: PolicySourceSchema,
        from: z.string().min(1),
        to: z.string().optional(),
        failOn: z.enum(FAIL_ON).optional(),
      }),
      await ctx.body(),
    );
    const from = isoParam(body.from, 'from')!;
    const to = isoParam(body.to ?? null, 'to') ?? new Date(deps.clock.now()).toISOString();
    await screened(deps, body.policies);
    const candidate = await deps.engine.compileAsync(body.policies);
    try {
      const report = await replayDecisions(deps.store, candidate, {
        from,
        to,
        ...(deps.auditTampered ? { tampered: deps.auditTampered } : {}),
      });
      return { ...report, failOn: body.failOn ?? null, failed: replayFails(report, body.failOn) };
    } finally {
      candidate.dispose();
    }
  });
  route('POST', '/v1/policies/diff', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const body = parseWith(
      z.strictObject({
        a: PolicySourceSchema,
        b: PolicySourceSchema,
        requestsPerAction: z.number().int().min(1).max(DIFF_MAX_REQUESTS).optional(),
      }),
      await ctx.body(),
    );
    await screened(deps, body.a);
    await screened(deps, body.b);
    const a = await deps.engine.compileAsync(body.a);
    try {
      const b = await deps.engine.compileAsync(body.b);
      try {
        // Awaited here: the sets are disposed in `finally`, only once the search is done with them.
        return await semanticDiff(
          { set: a, source: body.a },
          { set: b, source: body.b },
          body.requestsPerAction ? { requestsPerAction: body.requestsPerAction } : {},
        );
      } finally {
        b.dispose();
      }
    } finally {
      a.dispose();
    }
  });
}
