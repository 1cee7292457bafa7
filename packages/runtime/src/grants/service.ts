import type { AuditEvent, Resource, User } from '@mandate/protocol';
import { MAX_DURATION_MS, MandateError, newId, ownValue, type Clock } from '../kernel/index.js';
import type { GrantLimit, GrantRecord, Store } from '../storage/port.js';
import { dottedKeyReaches } from './limits-dotted-keys.js';

export type GrantFailure = 'no_grant' | 'grant_expired' | 'grant_revoked' | 'grant_exceeded';

export type GrantCheck =
  { ok: true; grant: GrantRecord; chain: string[] } | { ok: false; code: GrantFailure; message: string };

export interface CreateGrantInput {
  /** A given id (seeding from the config derives one from the content); a new one otherwise. */
  id?: string;
  user: string;
  agent: string;
  actions: string[];
  resources?: string[];
  resourceAttributes?: Record<string, string>;
  limits?: GrantLimit[];
  /** An ISO 8601 date-time with `Z` or an offset. */
  expiresAt: string;
  parentId?: string | null;
}

/** Who is creating a grant: the user themself, an admin acting for a user, or an agent attenuating its own grant. */
export type GrantCreator =
  { kind: 'user'; id: string } | { kind: 'admin'; keyId: string } | { kind: 'agent'; id: string };

export interface GrantServiceDeps {
  store: Store;
  clock: Clock;
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
}

export interface GrantCheckInput {
  agent: string;
  user: User;
  action: string;
  args: Record<string, unknown>;
  resource: Resource | null;
  /**
   * Does the action's input schema declare this arg path? A limit that names no action applies to
   * the actions that declare its arg (or whose call carries it). Absent: every such limit applies.
   */
  declares?: (argPath: string) => boolean;
}

/** Delegation: a user's grants to agents, attenuated hop by hop, revocable at once. */
export interface GrantService {
  create(input: CreateGrantInput, by: GrantCreator): Promise<GrantRecord>;
  get(id: string): Promise<GrantRecord | null>;
  list(filter: { user?: string; agent?: string; includeRevoked?: boolean }): Promise<GrantRecord[]>;
  revoke(id: string, by: string): Promise<string[]>;
  /** The live grant (and its chain up to the user) that covers this call, or why there is none. */
  check(input: GrantCheckInput): Promise<GrantCheck>;
  /**
   * True while this grant and every grant up its chain are neither revoked nor expired, and every
   * agent that passed it on is active.
   */
  isLive(id: string): Promise<boolean>;
}

/** An ISO 8601 date-time that names its offset (`Z` or `±hh:mm`). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

const ACTION_PATTERN = /^([a-z][a-z0-9_-]{0,63}\.)+(\*|[a-z][a-z0-9_-]{0,63})$|^\*$/;

/** Does an action pattern (`payments.refund`, `payments.*`, `*`) cover an action name? */
export function actionCovered(pattern: string, action: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return action.startsWith(pattern.slice(0, -1));
  return pattern === action;
}

/** Is every action the child names covered by the parent's patterns? */
function patternSubset(child: string, parentPatterns: string[]): boolean {
  if (!child.endsWith('*')) return parentPatterns.some((p) => actionCovered(p, child));
  return parentPatterns.some((p) => p === '*' || (p.endsWith('.*') && child.startsWith(p.slice(0, -1))));
}

function limitHolds(limit: GrantLimit, args: Record<string, unknown>): boolean {
  let v: unknown = args;
  for (const seg of limit.arg.split('.'))
    v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
  // SECURITY: fail closed — a limit on an arg that is absent or of another type does not hold.
  if (typeof limit.value === 'number') {
    if (typeof v !== 'number') return false;
  } else if (typeof v !== typeof limit.value) return false;
  const a = v as number | string | boolean;
  const b = limit.value;
  switch (limit.op) {
    case '<=':
      return a <= b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '>':
      return a > b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

/** Do two action patterns share an action? */
function patternsOverlap(a: string, b: string): boolean {
  return patternSubset(a, [b]) || patternSubset(b, [a]);
}

const UPPER = new Set(['<=', '<']);
const LOWER = new Set(['>=', '>']);

/** Is `cl` at least as strict as `pl` (same arg)? */
function limitTighter(cl: GrantLimit, pl: GrantLimit): boolean {
  if (cl.op === pl.op && cl.value === pl.value) return true;
  if (typeof cl.value !== 'number' || typeof pl.value !== 'number') return false;
  if (UPPER.has(pl.op) && UPPER.has(cl.op)) {
    return cl.value < pl.value || (cl.value === pl.value && (cl.op === '<' || pl.op === '<='));
  }
  if (LOWER.has(pl.op) && LOWER.has(cl.op)) {
    return cl.value > pl.value || (cl.value === pl.value && (cl.op === '>' || pl.op === '>='));
  }
  // An exact value is a subset when that value satisfies the parent's limit.
  if (cl.op === '==') return limitHolds({ ...pl, arg: 'v' }, { v: cl.value });
  return false;
}

/** Does a limit cover every call of the child action pattern `c`? */
const coversAll = (l: GrantLimit, c: string) => l.action === undefined || patternSubset(c, [l.action]);
/**
 * Does the child's limit `cl` apply to every call of `c` that the parent's `pl` applies to? A limit
 * scoped to an action applies to each of its calls, and an absent arg fails it; an unscoped one
 * only where the tool declares its arg or the call sends it (`check`). So a scoped parent limit is
 * kept only by a scoped child limit covering `c`: an unscoped one with the same bound let a
 * sub-agent call a tool without the arg that its parent was denied (a probe).
 */
const appliesWherever = (cl: GrantLimit, pl: GrantLimit, c: string) =>
  pl.action === undefined ? coversAll(cl, c) : cl.action !== undefined && patternSubset(c, [cl.action]);
/** Can a limit apply to some call of the child action pattern `c`? */
const touches = (l: GrantLimit, c: string) => l.action === undefined || patternsOverlap(c, l.action);

/**
 * Attenuation of limits, per action: every parent limit that can apply to one of the sub-grant's
 * actions holds for it too — inherited when the sub-grant does not name it, refused when the
 * sub-grant names a looser bound on the same arg. Limits on actions the sub-grant does not get are
 * not copied (issue 9 §4).
 */
function narrowLimits(
  childActions: string[],
  child: GrantLimit[],
  parent: GrantLimit[],
): { limits: GrantLimit[]; problems: string[] } {
  const problems: string[] = [];
  const limits = [...child];
  for (const pl of parent) {
    const relevant = childActions.filter((c) => touches(pl, c));
    if (relevant.length === 0) continue;
    for (const cl of child) {
      if (cl.arg !== pl.arg || !relevant.some((c) => touches(cl, c))) continue;
      const sameFamily = (UPPER.has(cl.op) && UPPER.has(pl.op)) || (LOWER.has(cl.op) && LOWER.has(pl.op));
      if (sameFamily && !limitTighter(cl, pl))
        problems.push(`limit ${describeLimit(cl)} is wider than the parent's ${describeLimit(pl)}`);
    }
    const kept = relevant.every((c) =>
      child.some((cl) => cl.arg === pl.arg && appliesWherever(cl, pl, c) && limitTighter(cl, pl)),
    );
    if (!kept) limits.push({ ...pl });
  }
  return { limits, problems };
}

/** `payments.refund:amount<=200`, or `amount<=200` for a limit on every action. */
export function describeLimit(l: GrantLimit): string {
  return `${l.action ? `${l.action}:` : ''}${l.arg}${l.op}${JSON.stringify(l.value)}`;
}

const ARG_PATH = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/;

/** Refuses (400) limits that can never mean what was written: a bad arg path, a bound that is not a number, a foreign action. */
function validateLimits(actions: string[], limits: GrantLimit[]): void {
  for (const l of limits) {
    const what = `limit ${describeLimit(l)}`;
    if (!ARG_PATH.test(l.arg)) throw new MandateError('bad_request', `${what}: ${l.arg} is not an arg path`);
    if ((UPPER.has(l.op) || LOWER.has(l.op)) && (typeof l.value !== 'number' || !Number.isFinite(l.value)))
      throw new MandateError(
        'bad_request',
        `${what}: ${l.op} takes a number, not ${JSON.stringify(l.value)}`,
      );
    if (typeof l.value === 'number' && !Number.isFinite(l.value))
      throw new MandateError('bad_request', `${what}: the value is not a finite number`);
    if (l.action !== undefined) {
      if (!ACTION_PATTERN.test(l.action))
        throw new MandateError('bad_request', `${what}: ${l.action} is not an action name or namespace.*`);
      if (!actions.some((a) => patternsOverlap(a, l.action!)))
        throw new MandateError('bad_request', `${what}: ${l.action} is not one of the grant's actions`);
    }
  }
}

/** Does a path name a value in the args? */
function argPresent(args: Record<string, unknown>, path: string): boolean {
  let v: unknown = args;
  for (const seg of path.split('.')) {
    if (!v || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, seg)) return false;
    v = (v as Record<string, unknown>)[seg];
  }
  return true;
}

function resourceMatches(g: GrantRecord, user: User, resource: Resource | null): boolean {
  if (g.resources.length > 0) {
    if (!resource || !g.resources.includes(`${resource.type}::${resource.id}`)) return false;
  }
  for (const [attr, expected] of Object.entries(g.resourceAttributes)) {
    if (!resource) return false;
    // Own keys only: `constructor` on both sides read the same inherited function and matched.
    const actual = ownValue(resource.attributes, attr);
    const want = expected.startsWith('$user.')
      ? ownValue(user.attributes, expected.slice('$user.'.length))
      : expected;
    if (want === undefined || actual !== want) return false;
  }
  return true;
}

export function createGrantService(deps: GrantServiceDeps): GrantService {
  const { store, clock } = deps;
  const isLive = (g: GrantRecord, now: number) => g.revokedAt === null && Date.parse(g.expiresAt) > now;

  /** The chain from this grant up to the user's own grant; every hop must be live. */
  const chainOf = async (g: GrantRecord): Promise<GrantRecord[]> => {
    const chain = [g];
    let cur = g;
    while (cur.parentId) {
      if (chain.length > 16) throw new MandateError('conflict', 'delegation chain deeper than 16');
      const parent = await store.getGrant(cur.parentId);
      if (!parent) return [...chain, { ...cur, revokedAt: cur.revokedAt ?? 'parent-missing' }];
      chain.push(parent);
      cur = parent;
    }
    return chain;
  };

  /**
   * The first agent of `chain[from..]` that is suspended (or no longer known), or null. The agent of
   * `chain[i]` for i >= 1 passed the grant below it on: suspending an agent is its kill switch, so
   * the authority it handed to sub-agents stops with it, and comes back when it is resumed.
   */
  const suspendedIn = async (chain: GrantRecord[], from: number): Promise<string | null> => {
    for (let i = from; i < chain.length; i++) {
      const agent = await store.getAgent(chain[i]!.agent);
      // SECURITY: fail closed — an agent that is gone passes nothing on.
      if (!agent || agent.status === 'suspended') return chain[i]!.agent;
    }
    return null;
  };

  return {
    async create(input, by) {
      const now = clock.now();
      for (const a of input.actions) {
        if (!ACTION_PATTERN.test(a))
          throw new MandateError('bad_request', `grant action ${a} is not an action name or namespace.*`);
      }
      if (input.actions.length === 0)
        throw new MandateError('bad_request', 'a grant names at least one action');
      validateLimits(input.actions, input.limits ?? []);
      // Only an instant: `Date.parse` reads a time without an offset in the server's time zone.
      const expires = INSTANT.test(input.expiresAt) ? Date.parse(input.expiresAt) : NaN;
      if (!Number.isFinite(expires))
        throw new MandateError(
          'bad_request',
          `expiresAt ${JSON.stringify(input.expiresAt.slice(0, 40))} is not a time with Z or an offset (ISO 8601, e.g. 2027-01-31T00:00:00Z)`,
        );
      if (expires <= now) throw new MandateError('bad_request', 'expiresAt must be a time in the future');
      // As expiresIn: a grant for ever is not a grant a user could keep track of.
      if (expires - now > MAX_DURATION_MS)
        throw new MandateError('bad_request', 'expiresAt is more than 100 years away');
      const grant: GrantRecord = {
        id: input.id ?? newId('grt', now),
        user: input.user,
        agent: input.agent,
        actions: [...input.actions],
        resources: input.resources ?? [],
        resourceAttributes: input.resourceAttributes ?? {},
        limits: input.limits ?? [],
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(expires).toISOString(),
        revokedAt: null,
        parentId: input.parentId ?? null,
        createdBy: by.kind === 'admin' ? `admin:${by.keyId}` : `${by.kind}:${by.id}`,
      };
      if (!(await store.getAgent(input.agent)))
        throw new MandateError('unknown_agent', `no agent ${input.agent}`);
      const user = await store.getUser(input.user);
      if (!user) throw new MandateError('unknown_user', `no user ${input.user}`);
      // SECURITY: a suspended principal delegates nothing, not even what it held before — and nothing
      // is delegated in a suspended user's name, by an admin or an agent passing on their grant.
      if (user.status === 'suspended')
        throw new MandateError(
          'user_suspended',
          `user ${user.id} is suspended: no grant is made in their name`,
        );
      if (by.kind === 'agent' && (await store.getAgent(by.id))?.status !== 'active')
        throw new MandateError('agent_suspended', `agent ${by.id} is suspended and cannot pass a grant on`);
      if (grant.parentId) {
        const parent = await store.getGrant(grant.parentId);
        // SECURITY: a parent that is not the creator's — another user's grant for a user, one it
        // does not hold for an agent — is answered as one that does not exist, before anything
        // about it is compared: its terms were listed in the `grant_exceeded` problems (a probe).
        if (
          !parent ||
          (by.kind === 'user' && parent.user !== by.id) ||
          (by.kind === 'agent' && parent.agent !== by.id)
        )
          throw new MandateError('not_found', `no grant ${grant.parentId}`);
        // SECURITY: attenuation — a sub-agent's grant is a subset of its parent's, checked hop by hop.
        if (!isLive(parent, now)) {
          throw new MandateError(
            parent.revokedAt ? 'grant_revoked' : 'grant_expired',
            `parent grant ${parent.id} is not live`,
          );
        }
        const problems: string[] = [];
        if (parent.user !== grant.user) problems.push('user differs from the parent grant');
        if (grant.agent === parent.agent) problems.push('a sub-grant goes to another agent');
        for (const a of grant.actions)
          if (!patternSubset(a, parent.actions)) problems.push(`action ${a} is not in the parent grant`);
        if (parent.resources.length > 0) {
          if (grant.resources.length === 0)
            problems.push('the parent grant is narrowed to resources; the sub-grant must be too');
          for (const r of grant.resources)
            if (!parent.resources.includes(r)) problems.push(`resource ${r} is not in the parent grant`);
        }
        for (const [k, v] of Object.entries(parent.resourceAttributes)) {
          if (ownValue(grant.resourceAttributes, k) !== v)
            problems.push(`resource constraint ${k}=${v} of the parent must be kept`);
        }
        const narrowed = narrowLimits(grant.actions, grant.limits, parent.limits);
        problems.push(...narrowed.problems);
        grant.limits = narrowed.limits;
        if (expires > Date.parse(parent.expiresAt)) problems.push('expires after the parent grant');
        if (problems.length) {
          throw new MandateError(
            'grant_exceeded',
            `sub-grant is wider than its parent: ${problems.join('; ')}`,
            {
              details: problems,
            },
          );
        }
        const chain = await chainOf(parent);
        if (!chain.every((g) => isLive(g, now)))
          throw new MandateError('grant_revoked', 'the parent chain is not live');
        const suspended = await suspendedIn(chain, 0);
        if (suspended !== null)
          throw new MandateError(
            'grant_revoked',
            `the parent chain passes through agent ${suspended}, which is suspended`,
          );
      } else if (by.kind === 'agent') {
        throw new MandateError('forbidden', 'an agent can only pass on a grant it holds (parentId)');
      }
      await store.createGrant(grant);
      await deps.audit({
        type: 'grant.created',
        agent: grant.agent,
        user: grant.user,
        data: {
          grantId: grant.id,
          parentId: grant.parentId,
          actions: grant.actions,
          resources: grant.resources,
          resourceAttributes: grant.resourceAttributes,
          limits: grant.limits,
          expiresAt: grant.expiresAt,
          createdBy: grant.createdBy,
        },
      });
      return grant;
    },

    get: (id) => store.getGrant(id),
    list: (filter) => store.listGrants(filter),

    async revoke(id, by) {
      const g = await store.getGrant(id);
      if (!g) throw new MandateError('not_found', `no grant ${id}`);
      const revoked = await store.revokeGrant(id, new Date(clock.now()).toISOString());
      await deps.audit({
        type: 'grant.revoked',
        agent: g.agent,
        user: g.user,
        data: { grantId: id, revoked, by },
      });
      return revoked;
    },

    async isLive(id) {
      const now = clock.now();
      const g = await store.getGrant(id);
      if (!g || !isLive(g, now)) return false;
      const chain = await chainOf(g);
      return chain.every((c) => isLive(c, now)) && (await suspendedIn(chain, 1)) === null;
    },
    async check(input) {
      const now = clock.now();
      const all = await store.listGrants({ user: input.user.id, agent: input.agent, includeRevoked: true });
      const covering = all.filter((g) => g.actions.some((p) => actionCovered(p, input.action)));
      if (covering.length === 0) {
        return {
          ok: false,
          code: 'no_grant',
          message: `${input.user.id} has not granted ${input.agent} ${input.action}`,
        };
      }
      let sawLive = false;
      let passedOnBySuspended: string | null = null;
      // Whether a path key reaches a limit's arg: one walk of the args per arg, however many of the
      // grants' limits (and both tests of each) ask.
      const reached = new Map<string, boolean>();
      const reachedByKey = (arg: string): boolean => {
        let r = reached.get(arg);
        if (r === undefined) reached.set(arg, (r = dottedKeyReaches(input.args, arg)));
        return r;
      };
      for (const g of covering) {
        if (!isLive(g, now)) continue;
        const chain = await chainOf(g);
        if (!chain.every((c) => isLive(c, now))) continue;
        const suspended = await suspendedIn(chain, 1);
        if (suspended !== null) {
          passedOnBySuspended ??= suspended;
          continue;
        }
        sawLive = true;
        if (!resourceMatches(g, input.user, input.resource)) continue;
        // SECURITY: fail closed — an unscoped limit applies wherever its arg is declared or sent,
        // sent as a key holding "." too, and never holds for such a key (limits-dotted-keys.ts).
        const limits = g.limits.filter((l) =>
          l.action !== undefined
            ? actionCovered(l.action, input.action)
            : (input.declares?.(l.arg) ?? true) || argPresent(input.args, l.arg) || reachedByKey(l.arg),
        );
        if (!limits.every((l) => limitHolds(l, input.args) && !reachedByKey(l.arg))) continue;
        return { ok: true, grant: g, chain: chain.map((c) => c.id) };
      }
      if (sawLive) {
        return {
          ok: false,
          code: 'grant_exceeded',
          message: `the call is outside what ${input.user.id} granted ${input.agent} (resource or limits)`,
        };
      }
      // Not `agent_suspended`: that code says the caller is suspended (and alerts say so).
      if (passedOnBySuspended !== null) {
        return {
          ok: false,
          code: 'grant_revoked',
          message: `the grant to ${input.agent} was passed on by agent ${passedOnBySuspended}, which is suspended`,
        };
      }
      const anyRevoked = covering.some((g) => g.revokedAt !== null);
      const anyExpired = covering.some((g) => g.revokedAt === null && Date.parse(g.expiresAt) <= now);
      if (anyExpired && !anyRevoked) {
        return {
          ok: false,
          code: 'grant_expired',
          message: `the grant from ${input.user.id} to ${input.agent} has expired`,
        };
      }
      return {
        ok: false,
        code: 'grant_revoked',
        message: `the grant from ${input.user.id} to ${input.agent} was revoked`,
      };
    },
  };
}
