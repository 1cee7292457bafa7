import { z } from 'zod';
import { MandateError } from '../../kernel/index.js';
import { checkPolicyTextBounds, type PolicySetSource } from '../../policy/index.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

export const PolicySourceSchema = z.strictObject({
  policies: z.record(z.string().regex(/^[\w.-]+\.cedar$/, 'policy file names end in .cedar'), z.string()),
  schema: z.string().min(1),
});

/**
 * `PUT /v1/policies`: a set, and the version it was edited from. With `baseVersion`, another
 * active version is `409 conflict` and nothing changes (a stale edit never reverts a newer set);
 * without it the set replaces whatever is active (API clients from before `baseVersion`).
 */
const ActivateSchema = PolicySourceSchema.extend({ baseVersion: z.string().min(1).max(200).optional() });

/**
 * SECURITY: policy text from a request reaches the live engine only through here (issue 8 §6):
 * text beyond the size and nesting bounds is refused unparsed, the rest is first run through an
 * isolated engine instance, so no text can break the one every decision uses. Either failure is
 * 422 `policy_invalid` with the problems as details.
 */
export async function screened(deps: HttpDeps, source: PolicySetSource): Promise<void> {
  const bounds = checkPolicyTextBounds(source);
  if (bounds.length > 0)
    throw new MandateError('policy_invalid', 'policy text exceeds the size or nesting limits', {
      details: bounds,
    });
  const problems = await deps.engine.screen(source);
  if (problems.length > 0)
    throw new MandateError('policy_invalid', 'the policy engine cannot process this text', {
      details: problems,
    });
}

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
    const { baseVersion, ...source } = parseWith(ActivateSchema, await ctx.body());
    await screened(deps, source);
    return deps.policies.activate(source, `api:${caller.keyId}`, { baseVersion });
  });
  route('POST', '/v1/policies/validate', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const source = parseWith(PolicySourceSchema, await ctx.body());
    await screened(deps, source);
    return deps.engine.validateAsync(source);
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
    if (body.policies) await screened(deps, body.policies);
    return deps.runPolicyTests(
      body.policies ? { cases: body.cases, source: body.policies } : { cases: body.cases },
    );
  });
  route('GET', '/v1/policies/versions', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return { items: await deps.policies.versions() };
  });
  route('GET', '/v1/policies/versions/:version', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    const set = await deps.policies.get(ctx.params.version!);
    if (!set) throw new MandateError('not_found', `no policy set ${ctx.params.version}`);
    return {
      version: set.version,
      policies: set.policies,
      schema: set.schema,
      createdAt: set.createdAt,
      source: set.source,
      active: deps.policies.active()?.version === set.version,
    };
  });
}
