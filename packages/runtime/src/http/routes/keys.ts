import { z } from 'zod';
import { MandateError, parseDuration } from '../../kernel/index.js';
import type { KeyService } from '../../keys/index.js';
import { requireRole } from '../auth.js';
import { parseWith, type Ctx, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const KeyCreateSchema = z.strictObject({
  role: z.enum(['agent', 'user', 'approver', 'admin']),
  subject: z.string().min(1).max(256).nullish(),
  name: z.string().min(1).max(200).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  expiresIn: z
    .string()
    .regex(/^\d+[smhdy]$/, 'expiresIn is a number and a unit: s, m, h, d or y')
    .optional(),
});

/** API keys (admin only): list, create, revoke, rotate. Secrets appear once, in the create/rotate answer. */
export function registerKeyRoutes(route: RouteAdder, deps: HttpDeps): void {
  const admin = async (ctx: Ctx): Promise<{ keys: KeyService; by: string }> => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    if (!deps.keys) throw new MandateError('not_found', 'key management is not available on this node');
    return { keys: deps.keys, by: `admin:${caller.keyId}` };
  };
  route('GET', '/v1/keys', async (ctx) => {
    const { keys } = await admin(ctx);
    return { items: await keys.list() };
  });
  route('POST', '/v1/keys', async (ctx) => {
    const { keys, by } = await admin(ctx);
    const b = parseWith(KeyCreateSchema, await ctx.body());
    if (b.expiresAt && b.expiresIn)
      throw new MandateError('bad_request', 'give expiresAt or expiresIn, not both');
    const expiresAt =
      b.expiresAt ??
      (b.expiresIn ? new Date(deps.clock.now() + parseDuration(b.expiresIn)).toISOString() : null);
    const issued = await keys.create(
      { role: b.role, subject: b.subject ?? null, ...(b.name ? { name: b.name } : {}), expiresAt },
      by,
      'api',
    );
    ctx.res.statusCode = 201;
    return issued;
  });
  route('DELETE', '/v1/keys/:id', async (ctx) => {
    const { keys, by } = await admin(ctx);
    return keys.revoke(ctx.params.id!, by);
  });
  route('POST', '/v1/keys/:id/rotate', async (ctx) => {
    const { keys, by } = await admin(ctx);
    ctx.res.statusCode = 201;
    return keys.rotate(ctx.params.id!, by);
  });
}
