import { describe, expect, it } from 'vitest';
import type { Store } from '../port.js';

/** The personal-data cases of the storage contract; `s()` is the migrated store of the current case. */
export function describePersonalContract(s: () => Store): void {
  describe('personal data', () => {
    it('keeps records by ref, finds the existing ones, erases one subject only', async () => {
      const store = s();
      const t = '2025-01-01T00:00:00.000Z';
      const a1 = { ref: 'dec_1', subject: 'psn_a', data: { args: { note: 'hi' } }, createdAt: t };
      const a2 = { ref: 'dec_2', subject: 'psn_a', data: { userDisplayName: 'A' }, createdAt: t };
      const b1 = { ref: 'dec_3', subject: 'psn_b', data: { userDisplayName: 'B' }, createdAt: t };
      for (const r of [a1, a2, b1]) await store.putPersonalData(r);
      expect(await store.getPersonalData(['dec_3', 'dec_1', 'dec_9'])).toStrictEqual([a1, b1]);
      expect(await store.getPersonalData([])).toStrictEqual([]);
      expect(await store.erasePersonalData('psn_a')).toBe(2);
      expect(await store.erasePersonalData('psn_a')).toBe(0);
      expect(await store.getPersonalData(['dec_1', 'dec_2', 'dec_3'])).toStrictEqual([b1]);
    });
  });
}
