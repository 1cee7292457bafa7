import { describe, expect, it } from 'vitest';
import type { Store, UiSessionRecord } from '../port.js';

/** A dashboard session record with every field, for the contract cases and the fault tests. */
export const uiSession = (idHash: string, over: Partial<UiSessionRecord> = {}): UiSessionRecord => ({
  idHash,
  family: 'fam-1',
  keyId: 'key_1',
  role: 'approver',
  subject: 'frank',
  csrfToken: 'csrf-1',
  issuedAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2025-01-01T00:15:00.000Z',
  maxExpiresAt: '2025-01-01T08:00:00.000Z',
  replacedUntil: null,
  ...over,
});

/** The dashboard session cases of the storage contract; `s()` is the migrated store of the current case. */
export function describeUiSessionContract(s: () => Store): void {
  describe('dashboard sessions', () => {
    it('round-trips a session by the hash of its id; unknown ids are null', async () => {
      const a = uiSession('h1');
      const admin = uiSession('h2', { role: 'admin', subject: null, family: 'fam-2' });
      await s().createUiSession(a);
      await s().createUiSession(admin);
      expect(await s().getUiSession('h1')).toStrictEqual(a);
      expect(await s().getUiSession('h2')).toStrictEqual(admin);
      expect(await s().getUiSession('nope')).toBeNull();
    });

    it('rotates once: the old id is marked replaced and the successor inserted; a second rotation is refused', async () => {
      const store = s();
      await store.createUiSession(uiSession('h1'));
      const next = uiSession('h1b', { issuedAt: '2025-01-01T00:08:00.000Z' });
      expect(await store.rotateUiSession('h1', '2025-01-01T00:08:30.000Z', next)).toBe(true);
      expect((await store.getUiSession('h1'))?.replacedUntil).toBe('2025-01-01T00:08:30.000Z');
      expect(await store.getUiSession('h1b')).toStrictEqual(next);
      // Two requests racing to rotate the same id: only one successor.
      const other = uiSession('h1c');
      expect(await store.rotateUiSession('h1', '2025-01-01T00:09:00.000Z', other)).toBe(false);
      expect(await store.getUiSession('h1c')).toBeNull();
      expect((await store.getUiSession('h1'))?.replacedUntil).toBe('2025-01-01T00:08:30.000Z');
      expect(await store.rotateUiSession('unknown', '2025-01-01T00:09:00.000Z', other)).toBe(false);
      expect(await store.getUiSession('h1c')).toBeNull();
    });

    it('concurrent rotations of one id make exactly one successor', async () => {
      const store = s();
      await store.createUiSession(uiSession('h1'));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          store.rotateUiSession('h1', '2025-01-01T00:08:30.000Z', uiSession(`n${i}`)),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const alive = await Promise.all(Array.from({ length: 6 }, (_, i) => store.getUiSession(`n${i}`)));
      expect(alive.filter((x) => x !== null)).toHaveLength(1);
    });

    it('a logout deletes every id of the family and nothing else', async () => {
      const store = s();
      await store.createUiSession(uiSession('h1'));
      await store.rotateUiSession('h1', '2025-01-01T00:08:30.000Z', uiSession('h1b'));
      await store.createUiSession(uiSession('other', { family: 'fam-2' }));
      expect(await store.deleteUiSessionFamily('fam-1')).toBe(2);
      expect(await store.getUiSession('h1')).toBeNull();
      expect(await store.getUiSession('h1b')).toBeNull();
      expect(await store.getUiSession('other')).not.toBeNull();
      expect(await store.deleteUiSessionFamily('fam-1')).toBe(0);
    });

    it('purge removes idle-expired, absolutely expired and replaced-past-grace ids only', async () => {
      const store = s();
      const now = '2025-01-01T00:10:00.000Z';
      await store.createUiSession(uiSession('idle', { expiresAt: '2025-01-01T00:09:59.000Z' }));
      await store.createUiSession(uiSession('max', { maxExpiresAt: now }));
      await store.createUiSession(uiSession('replaced', { replacedUntil: '2025-01-01T00:09:00.000Z' }));
      await store.createUiSession(uiSession('grace', { replacedUntil: '2025-01-01T00:10:30.000Z' }));
      await store.createUiSession(uiSession('live'));
      expect(await store.purgeUiSessions(now)).toBe(3);
      expect(await store.getUiSession('grace')).not.toBeNull();
      expect(await store.getUiSession('live')).not.toBeNull();
      expect(await store.getUiSession('idle')).toBeNull();
      expect(await store.getUiSession('max')).toBeNull();
      expect(await store.getUiSession('replaced')).toBeNull();
    });
  });
}
