import { z } from 'zod';
import { EntitiesDocumentSchema } from '@mandate/protocol';
import { MandateError } from '../../kernel/index.js';
import { recordAgentStatus, updateEntities } from '../../entities/index.js';
import { agentEntity, entityTypeFault, resourceEntity, userEntity } from '../../decisions/index.js';
import { withCollisions } from '../../gateway/catalog.js';
import { requireRole } from '../auth.js';
import { parseWith, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/** A row of the gateway's `listPins`: a pin with the action its tool maps to (null: upstream no longer configured). */
type PinRow = { server: string; action: string | null } & Record<string, unknown>;

/** Entities, the tool registry and the gateway tool pins. */
export function registerEntityRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('PUT', '/v1/entities', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const doc = parseWith(EntitiesDocumentSchema, await ctx.body());
    // Data of another type than the active schema declares would deny every decision that reads it
    // (`invalid_entity`): said at once, nothing stored. Each decision checks again, against the set
    // in force then.
    const active = deps.policies.active();
    if (active) {
      const fault = entityTypeFault(active, [
        ...doc.agents.map(agentEntity),
        ...doc.users.map(userEntity),
        ...doc.resources.map(resourceEntity),
      ]);
      if (fault !== null) throw new MandateError('invalid_entity', fault);
    }
    await updateEntities({ store: deps.store, record: deps.audit }, doc, { by: caller.keyId });
    return { agents: doc.agents.length, users: doc.users.length, resources: doc.resources.length };
  });
  // Suspend and resume one agent: the same store call and `entities.updated` record as a PUT of
  // that agent, without sending (and racing on) the whole entity document.
  for (const [verb, status] of [
    ['suspend', 'suspended'],
    ['resume', 'active'],
  ] as const) {
    route('POST', `/v1/agents/:id/${verb}`, async (ctx) => {
      const caller = await ctx.caller();
      requireRole(caller, 'admin');
      // SECURITY: the status alone, in one statement: a read of the agent written back whole undid
      // a role removed meanwhile (a resume racing a PUT gave the role back, and its calls were allowed).
      const next = await deps.store.setAgentStatus(ctx.params.id!, status);
      if (!next) throw new MandateError('unknown_agent', `no agent ${ctx.params.id}`);
      await recordAgentStatus(deps.audit, next, { by: caller.keyId });
      return next;
    });
  }
  route('GET', '/v1/entities', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    return deps.store.listEntities();
  });
  route('GET', '/v1/tools', async (ctx) => {
    await ctx.caller();
    return { items: deps.tools().list() };
  });
  route('GET', '/v1/tools/pins', async (ctx) => {
    requireRole(await ctx.caller(), 'admin');
    if (!deps.gateway) return { items: [] };
    const server = ctx.url.searchParams.get('server');
    // Upstreams claiming one action collide across servers: judged over every pin, then filtered.
    const all = withCollisions((await deps.gateway.listPins()) as PinRow[]);
    return { items: server === null ? all : all.filter((p) => p.server === server) };
  });
  route('POST', '/v1/tools/:name/approve', async (ctx) => {
    const caller = await ctx.caller();
    requireRole(caller, 'admin');
    const body = parseWith(
      z.strictObject({ hash: z.string().max(200).optional() }),
      (await ctx.body()) ?? {},
    );
    if (!deps.gateway) throw new MandateError('not_found', 'no MCP gateway is configured');
    return deps.gateway.approve(ctx.params.name!, `admin:${caller.keyId}`, body.hash);
  });
}
