import { z } from 'zod';
import { MandateError } from '../../kernel/index.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const ErasureSchema = z.strictObject({ user: z.string().min(1).max(256) });

/** `POST /v1/erasures {user}` (admin): erases the personal data kept for a user (docs/audit.md "Erasure"). */
export function registerErasureRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('POST', '/v1/erasures', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const { user } = parseWith(ErasureSchema, await ctx.body());
    if (!deps.personal) throw new MandateError('not_found', 'personal data is not kept on this node');
    return deps.personal.erase(user, `admin:${caller.keyId}`);
  });
}
