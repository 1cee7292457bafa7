import { z } from 'zod';
import { MandateError } from '../../kernel/index.js';
import { checkPolicyTextBounds } from '../../policy/index.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const PolicySourceSchema = z.strictObject({
  policies: z.record(z.string().regex(/^[\w.-]+\.cedar$/, 'policy file names end in .cedar'), z.string()),
  schema: z.string().min(1),
});

/** Policy sets: read, activate, validate, test, versions. */
export function registerPolicyRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/v1/policies', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const active = deps.policies.active();
    if (!active) throw new MandateError('no_active_policy', 'no policy set is active');
    const stored = await deps.policies.get(active.version);
    return { version: active.version, policies: stored?.policies ?? {}, schema: stored?.schema ?? '' };
  });
  route('PUT', '/v1/policies', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const source = parseWith(PolicySourceSchema, await ctx.body());
    return deps.policies.activate(source, `api:${caller.keyId}`);
  });
  route('POST', '/v1/policies/validate', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const source = parseWith(PolicySourceSchema, await ctx.body());
    // SECURITY: text too large or deep is refused unparsed (422 policy_invalid); the rest is run
    // through an isolated engine first, so no text can break the live one (issue 8 §6).
    const bounds = checkPolicyTextBounds(source);
    if (bounds.length > 0)
      throw new MandateError('policy_invalid', 'policy text exceeds the size or nesting limits', {
        details: bounds,
      });
    const screened = await deps.engine.screen(source);
    if (screened.length > 0) return { ok: false, problems: screened };
    return deps.engine.validate(source);
  });
  route('POST', '/v1/policies/test', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const body = parseWith(
      z.strictObject({
        cases: z.array(z.unknown()).min(1).max(10_000),
        policies: PolicySourceSchema.optional(),
      }),
      await ctx.body(),
    );
    return deps.runPolicyTests(
      body.policies ? { cases: body.cases, source: body.policies } : { cases: body.cases },
    );
  });
  route('GET', '/v1/policies/versions', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return { items: await deps.policies.versions() };
  });
}
