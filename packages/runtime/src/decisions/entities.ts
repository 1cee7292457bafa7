/**
 * The Cedar view of the parties of a call: the entity slice the decision path hands the policy
 * engine (the agent, the user it acts for, the resource and, for a path, its folders).
 */
import type { Agent, Resource, User } from '@mandate/protocol';
import { setOwn } from '../kernel/index.js';
import type { PolicyEntity } from '../policy/port.js';
import type { ResourceRef } from '../tools/index.js';

/**
 * A path resource's folders become its ancestors: the resource (last entity) gets its folder as
 * parent, each folder the next one up, so `resource in Dir::"/srv/sandbox"` holds exactly for
 * paths under that folder, whatever their spelling prefix (`/srv/sandbox-evil/x` is not under it).
 */
export function addFolders(entities: PolicyEntity[], ref: ResourceRef): void {
  const { type, ids } = ref.folders!;
  if (ids.length === 0) return;
  const resource = entities[entities.length - 1]!;
  resource.parents = [...resource.parents, { type, id: ids[0]! }];
  ids.forEach((id, k) => {
    const up = ids[k + 1];
    entities.push({ uid: { type, id }, attrs: {}, parents: up === undefined ? [] : [{ type, id: up }] });
  });
}

/** Cedar view of an agent: `Agent::"id"` with roles as a set, status, owner and its attributes. */
export function agentEntity(a: Agent): PolicyEntity {
  const attrs = copyAttributes(a.attributes);
  attrs.roles = a.roles;
  attrs.status = a.status;
  if (a.owner !== undefined) attrs.owner = a.owner;
  return { uid: { type: 'Agent', id: a.id }, attrs, parents: [] };
}

/** Cedar view of a user: `User::"id"` with roles as a set and its attributes (tenant, department …). */
export function userEntity(u: User): PolicyEntity {
  const attrs = copyAttributes(u.attributes);
  attrs.roles = u.roles;
  attrs.status = u.status;
  return { uid: { type: 'User', id: u.id }, attrs, parents: [] };
}

/** Cedar view of a resource: its attributes plus `tags` as a set. */
export function resourceEntity(r: Resource): PolicyEntity {
  const attrs = copyAttributes(r.attributes);
  attrs.tags = r.tags;
  return { uid: { type: r.type, id: r.id }, attrs, parents: [] };
}

/**
 * `{ ...attributes }`: the own enumerable keys in order, a `__proto__` key kept a key (as a spread
 * defines it). Built key by key because V8 copies a spread of a parsed or cloned object into a
 * literal with more keys tens of times slower, on every decision.
 */
function copyAttributes(src: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (src === undefined || src === null) return out;
  for (const k of Object.keys(src)) setOwn(out, k, src[k]);
  return out;
}
