// The Cedar views of agents, users and resources are copied key by key (cheaper than a spread on
// every decision): they must equal the spread they replace — keys, order, values, own properties.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Agent, Resource, User } from '@mandate/protocol';
import { agentEntity, resourceEntity, userEntity } from '../../src/decisions/index.js';
import { parseJsonStrict } from '../../src/kernel/index.js';

/** The spread formulation the views had, the direct computation. */
const spreadAgent = (a: Agent) => {
  const attrs: Record<string, unknown> = { ...a.attributes, roles: a.roles, status: a.status };
  if (a.owner !== undefined) attrs.owner = a.owner;
  return { uid: { type: 'Agent', id: a.id }, attrs, parents: [] };
};
const spreadUser = (u: User) => ({
  uid: { type: 'User', id: u.id },
  attrs: { ...u.attributes, roles: u.roles, status: u.status },
  parents: [],
});
const spreadResource = (r: Resource) => ({
  uid: { type: r.type, id: r.id },
  attrs: { ...r.attributes, tags: r.tags },
  parents: [],
});

/** Keys in order, values, prototype and property flags: everything a spread fixes. */
function shape(v: { attrs: Record<string, unknown> }) {
  return {
    keys: Reflect.ownKeys(v.attrs),
    proto: Object.getPrototypeOf(v.attrs) as unknown,
    descriptors: Object.getOwnPropertyDescriptors(v.attrs),
    json: JSON.stringify(v),
  };
}

describe('entity views equal the spread they replace', () => {
  const KEYS = ['tenant', 'roles', 'status', 'owner', 'tags', '__proto__', '10', '2', 'constructor', 'name'];
  const attributes = fc
    .array(
      fc.tuple(
        fc.constantFrom(...KEYS),
        fc.oneof(
          fc.string(),
          fc.integer(),
          fc.boolean(),
          fc.constant(null),
          fc.array(fc.string(), { maxLength: 2 }),
          fc.dictionary(fc.constantFrom('a', '__proto__', '1'), fc.integer(), { maxKeys: 2 }),
        ),
      ),
      { maxLength: 6 },
    )
    .map((pairs) => {
      const text = `{${[...new Map(pairs)].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
      // Parsed as the stores hand them over (a `__proto__` key stays a key).
      return parseJsonStrict(text) as Record<string, unknown>;
    });

  it('for agents, users and resources, parsed and cloned attributes alike', () => {
    fc.assert(
      fc.property(
        attributes,
        fc.boolean(),
        fc.option(fc.string(), { nil: undefined }),
        (attrs, cloned, owner) => {
          const a = cloned ? structuredClone(attrs) : attrs;
          const agent = {
            id: 'a',
            roles: ['r'],
            status: 'active',
            attributes: a,
            ...(owner === undefined ? {} : { owner }),
          } as Agent;
          const user = { id: 'u', roles: ['x'], status: 'suspended', attributes: a } as User;
          const resource = { type: 'Customer', id: 'c', attributes: a, tags: ['t'] } as Resource;
          expect(shape(agentEntity(agent))).toEqual(shape(spreadAgent(agent)));
          expect(shape(userEntity(user))).toEqual(shape(spreadUser(user)));
          expect(shape(resourceEntity(resource))).toEqual(shape(spreadResource(resource)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a changed entity gives its new view (nothing is kept between calls)', () => {
    const agent: Agent = { id: 'a', roles: ['r'], status: 'active', attributes: { tenant: 'acme' } };
    expect(agentEntity(agent).attrs).toEqual({ tenant: 'acme', roles: ['r'], status: 'active' });
    const changed: Agent = { ...agent, roles: ['s'], attributes: { tenant: 'other' } };
    expect(agentEntity(changed).attrs).toEqual({ tenant: 'other', roles: ['s'], status: 'active' });
    // The view is a copy: changing it leaves the agent as it was.
    agentEntity(agent).attrs.tenant = 'x';
    expect(agent.attributes).toEqual({ tenant: 'acme' });
  });
});
