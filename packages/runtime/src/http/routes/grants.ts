import { z } from 'zod';
import { MandateError, parseDuration, protoKeyPath } from '../../kernel/index.js';
import type { GrantService } from '../../grants/index.js';
import { agentOwns, type Caller } from '../../decisions/index.js';
import type { GrantRecord } from '../../storage/port.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

const GrantLimitSchema = z.strictObject({
  action: z.string().max(200).optional(),
  arg: z.string().min(1).max(256),
  op: z.enum(['<=', '<', '>=', '>', '==', '!=']),
  value: z.union([z.number(), z.string(), z.boolean()]),
});

/**
 * An instant, never a reading of the server's clock: a time without `Z` or an offset was read in
 * the server's time zone, a bare date as UTC midnight, and other text (RFC 2822) as whatever
 * `Date.parse` made of it.
 */
const ExpiresAtSchema = z.iso.datetime({
  offset: true,
  error:
    'expiresAt is not a time with Z or an offset (ISO 8601: 2027-01-31T00:00:00Z, 2027-01-31T09:00:00+09:00)',
});

const GrantCreateSchema = z
  .strictObject({
    user: z.string().min(1).max(256).optional(),
    agent: z.string().min(1).max(256),
    actions: z.array(z.string().max(200)).min(1).max(256),
    resources: z.array(z.string().max(300)).max(1000).optional(),
    // The raw record is checked first: z.record leaves a `__proto__` key out, and a constraint
    // the user wrote would silently not narrow the grant.
    resourceAttributes: z
      .unknown()
      .refine((v) => protoKeyPath(v) === null, 'a resource attribute named __proto__ is not allowed')
      .pipe(z.record(z.string(), z.string()))
      .optional(),
    limits: z.array(GrantLimitSchema).max(64).optional(),
    expiresAt: ExpiresAtSchema.optional(),
    expiresIn: z
      .string()
      .regex(/^\d+[smhdy]$/, 'expiresIn is a number and a unit: s, m, h, d or y')
      .optional(),
    parentId: z.string().max(256).nullish(),
  })
  // One expiry: with both, one of them was silently ignored (a grant meant for 1 h ran a year).
  .refine((b) => b.expiresAt === undefined || b.expiresIn === undefined, {
    message: 'give expiresAt or expiresIn, not both',
    path: ['expiresAt'],
  });

/**
 * Why a grant is not the (user or agent) caller's to see or pass on, or null when it is: a user's
 * own grants; the grants an agent holds — for a credential that names the user it acts for, only
 * that user's, as it decides only for that user (a probe: a token scoped to dave delegated alice's
 * grant). As `GET /v1/grants` lists them.
 */
function notTheirs(caller: Caller, g: GrantRecord): string | null {
  if (caller.role === 'user') return g.user === caller.subject ? null : "is another user's";
  return agentOwns(caller, g.agent, g.user)
    ? null
    : "is not this credential's to pass on (another agent's, or for another user than the one it acts for)";
}

/** Delegation grants: create, list, revoke. */
export function registerGrantRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('POST', '/v1/grants', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'user', 'admin', 'agent');
    const b = parseWith(GrantCreateSchema, await ctx.body());
    let user = b.user;
    if (caller.role === 'user') {
      if (user && user !== caller.subject)
        throw new MandateError('forbidden', 'a user grants only their own rights');
      user = caller.subject!;
    }
    if (caller.role === 'agent' && !b.parentId)
      throw new MandateError('forbidden', 'an agent can only pass on a grant it holds (parentId)');
    if (b.parentId && caller.role !== 'admin') {
      // SECURITY: a parent the caller may not see is answered as the other grant routes answer it
      // (404), before its terms are compared: a user key naming another user's grant was told its
      // constraints, limits, expiry or revocation in the `grant_exceeded` problems (a probe). The
      // record keeps the reason (request.refused).
      const parent = await deps.grants.get(b.parentId);
      const hidden = parent ? notTheirs(caller, parent) : null;
      if (!parent || hidden !== null)
        throw new MandateError('not_found', `no grant ${b.parentId}`, {
          ...(hidden !== null ? { recorded: `parent grant ${b.parentId} ${hidden}` } : {}),
        });
      if (caller.role === 'agent') {
        // A body naming another user than the parent's was silently replaced by the parent's: the
        // agent was answered a grant for someone it did not ask for. Refused, as a user's is.
        if (user && user !== parent.user)
          throw new MandateError('forbidden', `a sub-grant is for its parent's user (${parent.user})`);
        user = parent.user;
      }
    }
    if (!user)
      throw new MandateError('bad_request', 'user: required when an admin creates a grant for a user');
    const expiresAt =
      b.expiresAt ??
      new Date(deps.clock.now() + (b.expiresIn ? parseDuration(b.expiresIn) : 24 * 3600e3)).toISOString();
    const by =
      caller.role === 'admin'
        ? ({ kind: 'admin', keyId: caller.keyId } as const)
        : caller.role === 'agent'
          ? ({ kind: 'agent', id: caller.subject! } as const)
          : ({ kind: 'user', id: caller.subject! } as const);
    ctx.res.statusCode = 201;
    return deps.grants.create(
      {
        user,
        agent: b.agent,
        actions: b.actions,
        resources: b.resources ?? [],
        resourceAttributes: b.resourceAttributes ?? {},
        limits: b.limits ?? [],
        expiresAt,
        parentId: b.parentId ?? null,
      },
      by,
    );
  });
  route('GET', '/v1/grants', async (ctx) => {
    const caller = await ctx.caller();
    const q = ctx.url.searchParams;
    const filter: Parameters<GrantService['list']>[0] = {
      includeRevoked: q.get('includeRevoked') === 'true',
    };
    if (q.get('user')) filter.user = q.get('user')!;
    if (q.get('agent')) filter.agent = q.get('agent')!;
    // A filter naming someone else was replaced by the caller's own, silently: refused instead.
    if (caller.role === 'user') {
      if (filter.user !== undefined && filter.user !== caller.subject)
        throw new MandateError('forbidden', 'a user lists only their own grants');
      filter.user = caller.subject!;
    } else if (caller.role === 'agent') {
      if (filter.agent !== undefined && filter.agent !== caller.subject)
        throw new MandateError('forbidden', 'an agent lists only the grants it holds');
      filter.agent = caller.subject!;
      // A credential acting for one user sees only the grants of that user.
      if (caller.onBehalfOf !== undefined) {
        if (filter.user !== undefined && filter.user !== caller.onBehalfOf)
          throw new MandateError('forbidden', `this credential acts for user ${caller.onBehalfOf}`);
        filter.user = caller.onBehalfOf;
      }
    } else requireRole(caller, 'admin', 'user', 'agent');
    return { items: await deps.grants.list(filter) };
  });
  route('DELETE', '/v1/grants/:id', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'user', 'admin');
    const g = await deps.grants.get(ctx.params.id!);
    if (!g || (caller.role === 'user' && g.user !== caller.subject))
      throw new MandateError('not_found', `no grant ${ctx.params.id}`);
    const revoked = await deps.grants.revoke(
      g.id,
      caller.role === 'admin' ? `admin:${caller.keyId}` : `user:${caller.subject}`,
    );
    return { revoked };
  });
}
