import type { Config } from '../config/index.js';
import { parseDuration, type Clock } from '../kernel/index.js';
import type { GrantService } from '../grants/index.js';

/** Creates each configured grant unless an identical live one exists (so restarts do not pile them up). */
export async function seedGrants(grants: GrantService, seeds: Config['grants'], clock: Clock): Promise<void> {
  for (const g of seeds) {
    const live = await grants.list({ user: g.user, agent: g.agent });
    const same = live.find(
      (x) =>
        x.parentId === null &&
        Date.parse(x.expiresAt) > clock.now() &&
        JSON.stringify([x.actions, x.resources, x.resourceAttributes, x.limits]) ===
          JSON.stringify([g.actions, g.resources, g.resourceAttributes, g.limits]),
    );
    if (same) continue;
    await grants.create(
      {
        user: g.user,
        agent: g.agent,
        actions: g.actions,
        resources: g.resources,
        resourceAttributes: g.resourceAttributes,
        limits: g.limits,
        expiresAt: new Date(clock.now() + parseDuration(g.expiresIn)).toISOString(),
      },
      { kind: 'admin', keyId: 'config' },
    );
  }
}
