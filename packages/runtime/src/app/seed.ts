import { readFile } from 'node:fs/promises';
import type { AuditEvent, EntitiesDocument } from '@mandate/protocol';
import { EntitiesDocumentSchema } from '@mandate/protocol';
import {
  MandateError,
  canonicalize,
  isMandateError,
  parseJsonStrict,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { Config } from '../config/index.js';
import type { Store } from '../storage/port.js';
import { loadPolicyDir, policySetVersion, type PolicyEngine } from '../policy/index.js';
import type { PolicyService } from '../policy/service.js';
import type { GrantService } from '../grants/index.js';
import { seedGrants } from './seed-grants.js';
import { refuseLookalikeIds } from '../entities/index.js';

/** What {@link seedState} needs from the composition root. */
export interface SeedDeps {
  store: Store;
  engine: PolicyEngine;
  policies: PolicyService;
  grants: GrantService;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  logger: Logger;
  clock: Clock;
}

/** Entity ids as the trail names them. */
interface EntityIds {
  agents: string[];
  users: string[];
  resources: string[];
}

/** What one seeding changed (the data of `seed.applied`). */
export interface SeedChanges {
  mode: 'fill' | 'reseed';
  entities: EntityIds;
  grants: string[];
  policy: { version: string; previous: string | null } | null;
}

/** Reads and strictly parses a JSON file the config names; a bad file is `bad_request` naming it. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MandateError('bad_request', `cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
  try {
    return parseJsonStrict(text);
  } catch (err) {
    throw new MandateError('bad_request', `${what} file ${path}: ${(err as Error).message}`);
  }
}

/**
 * Seeds entities, grants and the policy directory from the config (ADR 0015: the store is the
 * source of truth once it holds state).
 *
 * Without `reseed`, seed data only fills what the store lacks: entities it does not hold, grants
 * it never held, a policy set when none is active. What the store holds wins — a suspension, a
 * revoked grant, a policy set activated through the API survive any restart — and a file that
 * differs is logged, not applied. With `reseed` (an operator's explicit request: `mandate serve
 * --reseed` or `MANDATE_RESEED=1`) the files are applied over the store. Either way only real
 * changes are recorded, each by its own event, and one `seed.applied` event says what the seeding
 * changed (always recorded for a reseed).
 */
export async function seedState(
  config: Config,
  deps: SeedDeps,
  opts: { reseed: boolean },
): Promise<SeedChanges> {
  const mode = opts.reseed ? 'reseed' : 'fill';
  const changes: SeedChanges = {
    mode,
    entities: { agents: [], users: [], resources: [] },
    grants: [],
    policy: null,
  };
  if (config.entities) changes.entities = await seedEntities(config.entities, deps, opts.reseed);
  const g = await seedGrants(deps.grants, config.grants, deps.clock, { reseed: opts.reseed });
  changes.grants = g.created;
  if (g.keptEnded.length > 0) {
    deps.logger.info(
      'configured grants stay revoked or expired as the store holds them (--reseed re-creates them)',
      {
        grants: g.keptEnded,
      },
    );
  }
  if (g.suspended.length > 0)
    deps.logger.warn('configured grants of a suspended user were not made', { grants: g.suspended });
  if (config.policies.dir) changes.policy = await seedPolicies(config.policies.dir, deps, opts.reseed);

  const changed =
    changes.entities.agents.length + changes.entities.users.length + changes.entities.resources.length > 0 ||
    changes.grants.length > 0 ||
    changes.policy !== null;
  if (changed || opts.reseed) {
    await deps.record({ type: 'seed.applied', data: { ...changes } });
    // Counts, not ids: a first fill can name a hundred thousand resources (the event has them).
    deps.logger.info(
      opts.reseed ? 'reseeded the store from the config' : 'seeded the store from the config',
      {
        mode,
        agents: changes.entities.agents.length,
        users: changes.entities.users.length,
        resources: changes.entities.resources.length,
        grants: changes.grants,
        policy: changes.policy,
      },
    );
  }
  return changes;
}

const idsOf = (doc: EntitiesDocument): EntityIds => ({
  agents: doc.agents.map((a) => a.id),
  users: doc.users.map((u) => u.id),
  resources: doc.resources.map((r) => `${r.type}::${r.id}`),
});

async function seedEntities(file: string, deps: SeedDeps, reseed: boolean): Promise<EntityIds> {
  const r = EntitiesDocumentSchema.safeParse(await readJsonFile(file, 'entities'));
  if (!r.success) {
    const i = r.error.issues[0];
    throw new MandateError('bad_request', `entities file ${file}: ${i?.path.join('.')}: ${i?.message}`);
  }
  const doc = r.data;
  // SECURITY: the same rule as PUT /v1/entities: no two agents or users that differ only in case or
  // Unicode form (a probe seeded `Frank` beside `frank` and counted them as two approvers).
  await refuseLookalikeIds(deps.store, doc).catch((err: unknown) => {
    throw new MandateError('bad_request', `entities file ${file}: ${(err as Error).message}`);
  });
  // Filling never overwrites: insert-if-absent is one statement per entity, so a suspension made on
  // another node while this one starts is not undone either.
  const inserted = reseed ? null : await deps.store.insertMissingEntities(doc);
  const differing = await differingEntities(deps.store, doc);
  let changed: EntitiesDocument;
  if (reseed) {
    changed = differing;
    if (count(changed) > 0) await deps.store.putEntities(changed);
  } else {
    changed = inserted!;
    if (count(differing) > 0) {
      deps.logger.warn('entities file differs from the store; the store wins (--reseed applies the file)', {
        file,
        ...idsOf(differing),
      });
    }
  }
  if (count(changed) > 0) {
    await deps.record({
      type: 'entities.updated',
      data: {
        source: `${reseed ? 'reseed' : 'seed'}:file:${file}`,
        agents: changed.agents.map((a) => ({ id: a.id, status: a.status })),
        users: changed.users.map((u) => u.id),
        resources: changed.resources.map((x) => `${x.type}::${x.id}`),
      },
    });
  }
  return idsOf(changed);
}

const count = (d: EntitiesDocument) => d.agents.length + d.users.length + d.resources.length;

/** The entities of `doc` the store holds differently (or not at all). */
async function differingEntities(store: Store, doc: EntitiesDocument): Promise<EntitiesDocument> {
  const held = await store.listEntities();
  const key = (v: unknown) => canonicalize(v);
  const agents = new Map(held.agents.map((a) => [a.id, key(a)]));
  const users = new Map(held.users.map((u) => [u.id, key(u)]));
  const resources = new Map(held.resources.map((r) => [`${r.type}::${r.id}`, key(r)]));
  return {
    agents: doc.agents.filter((a) => agents.get(a.id) !== key(a)),
    users: doc.users.filter((u) => users.get(u.id) !== key(u)),
    resources: doc.resources.filter((r) => resources.get(`${r.type}::${r.id}`) !== key(r)),
  };
}

/**
 * Activates the policy directory when the store has no active set (or on reseed). Otherwise the
 * store's set is served and a directory that differs — or cannot be read or validated — is only
 * logged: P4, a restart uses the last good set.
 */
async function seedPolicies(dir: string, deps: SeedDeps, reseed: boolean): Promise<SeedChanges['policy']> {
  const active = await deps.store.getActivePolicyVersion();
  if (active === null || reseed) {
    let r: { version: string; changed: boolean };
    try {
      r = await deps.policies.activate(await loadPolicyDir(dir), `${reseed ? 'reseed' : 'seed'}:dir:${dir}`);
    } catch (err) {
      // Another node on this store activated its set while this one compiled the directory: the
      // store's set is served (the next poll loads it), as for any start on a store with one.
      if (!reseed && isMandateError(err) && err.code === 'conflict') {
        deps.logger.warn(`another node activated a policy set first; serving the store's`, { dir });
        return null;
      }
      throw err;
    }
    if (!r.changed) return null;
    deps.logger.info('activated policy directory', { dir, version: r.version, previous: active });
    return { version: r.version, previous: active };
  }
  const apply = 'apply it with `mandate policy activate <dir>` or `mandate serve --reseed`';
  let version: string;
  try {
    const source = await loadPolicyDir(dir);
    version = policySetVersion(source);
    if (version === active) return null;
    const checked = deps.engine.validate(source);
    if (!checked.ok) {
      deps.logger.error(`policy directory is invalid and was not applied; serving the store's active set`, {
        dir,
        active,
        problems: checked.problems.slice(0, 20),
      });
      return null;
    }
  } catch (err) {
    deps.logger.error(`policy directory cannot be read; serving the store's active set`, {
      dir,
      active,
      error: (err as Error).message,
    });
    return null;
  }
  deps.logger.warn(`policy directory differs from the store's active set and was not applied; ${apply}`, {
    dir,
    directory: version,
    active,
  });
  return null;
}
