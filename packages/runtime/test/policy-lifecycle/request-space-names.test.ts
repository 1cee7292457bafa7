import { describe, expect, it } from 'vitest';
import { readSpace } from '../../src/policy/request-space.js';

/**
 * The semantic diff's request space (POST /v1/policies/diff) read a schema's type names as
 * `commonTypes?.[name]`: an entity type named `toString` found Object.prototype's function when the
 * schema declared any common type, so attributes of that type were never sampled as entities (a
 * review). Names are looked up as own keys.
 */
describe('readSpace: type names like Object members', () => {
  it.each([false, true])(
    'an entity type named toString is an entity type (common types declared: %s)',
    (common) => {
      const space = readSpace({
        '': {
          ...(common ? { commonTypes: { Money: { type: 'Long' } } } : {}),
          entityTypes: {
            toString: {},
            Team: {},
            Doc: {
              shape: {
                type: 'Record',
                attributes: {
                  owner: { type: 'EntityOrCommon', name: 'toString' },
                  team: { type: 'EntityOrCommon', name: 'Team' },
                },
              },
            },
          },
          actions: {},
        },
      } as never);
      const shape = space.entities.get('Doc')!.shape as { attrs: { name: string; shape: { k: string } }[] };
      const kinds = Object.fromEntries(shape.attrs.map((a) => [a.name, a.shape.k]));
      expect(kinds).toEqual({ owner: 'entity', team: 'entity' });
    },
  );
});
