import { describe, expect, it } from 'vitest';
import { actionAncestors, createSliceIndex } from '../../src/policy/slicing.js';

describe('slice index (engine-independent)', () => {
  const ancestors = actionAncestors(
    new Map([
      ['read', ['crm']],
      ['crm', ['all-business']],
      ['all-business', []],
      ['cycle-a', ['cycle-b']],
      ['cycle-b', ['cycle-a']],
    ]),
  );

  it('resolves groups transitively and survives cycles', () => {
    expect([...ancestors.get('read')!].sort()).toEqual(['all-business', 'crm', 'read']);
    expect([...ancestors.get('cycle-a')!].sort()).toEqual(['cycle-a', 'cycle-b']);
  });

  it('keeps unnamed principal types on one cache key so callers cannot grow the cache', () => {
    const index = createSliceIndex([{ principalType: 'Agent' }, {}], ancestors);
    expect(index.key('read', 'Intruder1')).toBe(index.key('read', 'Intruder2'));
    expect(index.key('read', 'Agent')).not.toBe(index.key('read', 'Intruder1'));
    expect(index.select('read', 'Intruder1')).toEqual([1]);
    expect(index.select('read', 'Agent')).toEqual([0, 1]);
  });

  it('matches == exactly and `in` through groups', () => {
    const index = createSliceIndex(
      [
        { actions: [{ id: 'crm', descendants: false }] },
        { actions: [{ id: 'crm', descendants: true }] },
        { actions: [{ id: 'all-business', descendants: true }] },
        {
          actions: [
            { id: 'other', descendants: true },
            { id: 'read', descendants: false },
          ],
        },
      ],
      ancestors,
    );
    expect(index.select('read', 'Agent')).toEqual([1, 2, 3]);
    expect(index.select('crm', 'Agent')).toEqual([0, 1, 2]);
  });
});
