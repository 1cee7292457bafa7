import type { Config } from '../config/index.js';
import { canonicalize, isMandateError, parseDuration, sha256Hex, type Clock } from '../kernel/index.js';
import type { GrantService } from '../grants/index.js';
import type { GrantRecord } from '../storage/port.js';

/** What seeding did with the configured grants. */
export interface GrantSeedResult {
  /** Ids of the grants created. */
  created: string[];
  /** Configured grants the store holds only revoked or expired, left so (`user→agent`). */
  keptEnded: string[];
  /** Configured grants of a suspended user, not made (`user→agent`); made at a start after resuming them. */
  suspended: string[];
}

type GrantSeed = Config['grants'][number];

const content = (
  g: Pick<GrantRecord, 'user' | 'agent' | 'actions' | 'resources' | 'resourceAttributes' | 'limits'>,
) => canonicalize([g.user, g.agent, g.actions, g.resources, g.resourceAttributes, g.limits]);

/**
 * The id a configured grant gets when it first fills the store: derived from its content, so two
 * nodes starting together on an empty database create it once (the second insert is a conflict),
 * and one revocation ends it everywhere.
 */
export function seedGrantId(g: GrantSeed): string {
  return `grt_seed_${sha256Hex(content(g)).slice(0, 26).toUpperCase()}`;
}

/**
 * Seeds the configured grants (ADR 0015: the store is the source of truth).
 *
 * By default a configured grant is created only when the store has never held a root grant with
 * the same content — live, revoked or expired: a revoked or expired seed grant stays so across
 * restarts. With `reseed` (an operator's explicit request) it is created again unless an identical
 * live one exists.
 */
export async function seedGrants(
  grants: GrantService,
  seeds: Config['grants'],
  clock: Clock,
  opts: { reseed?: boolean } = {},
): Promise<GrantSeedResult> {
  const result: GrantSeedResult = { created: [], keptEnded: [], suspended: [] };
  for (const g of seeds) {
    const key = content(g);
    const held = (await grants.list({ user: g.user, agent: g.agent, includeRevoked: true })).filter(
      (x) => x.parentId === null && content(x) === key,
    );
    const live = held.some((x) => x.revokedAt === null && Date.parse(x.expiresAt) > clock.now());
    if (live) continue;
    if (held.length > 0 && !opts.reseed) {
      result.keptEnded.push(`${g.user}→${g.agent}`);
      continue;
    }
    try {
      const created = await grants.create(
        {
          ...(opts.reseed ? {} : { id: seedGrantId(g) }),
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
      result.created.push(created.id);
    } catch (err) {
      // Another node starting at the same moment created it first.
      if (isMandateError(err) && err.code === 'conflict' && !opts.reseed) continue;
      // Nothing is granted in a suspended user's name; the start goes on without it.
      if (isMandateError(err) && err.code === 'user_suspended') {
        result.suspended.push(`${g.user}→${g.agent}`);
        continue;
      }
      throw err;
    }
  }
  return result;
}
