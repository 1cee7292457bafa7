import { describe, expect, it } from 'vitest';
import { newId } from '../../src/kernel/index.js';

describe('newId', () => {
  it('is prefixed, unique across many calls (and pool refills), and sorts by time', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) =>
      newId('dec', 1_700_000_000_000 + Math.floor(i / 100)),
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^dec_[0-9A-HJKMNP-TV-Z]{26}$/);
    const times = ids.map((id) => id.slice(4, 14));
    expect([...times].sort()).toEqual(times);
    expect(newId('apr', 2) > newId('apr', 1)).toBe(true);
  });
});
