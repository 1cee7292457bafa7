import type { Store, UiSessionRecord } from '../port.js';

type UiSessionMethods = Pick<
  Store,
  'createUiSession' | 'getUiSession' | 'rotateUiSession' | 'deleteUiSessionFamily' | 'purgeUiSessions'
>;

/** The memory driver's dashboard sessions; `open` throws once the store is closed. */
export function createMemoryUiSessions(open: () => void): UiSessionMethods {
  const sessions = new Map<string, UiSessionRecord>();
  const dropWhere = (dead: (s: UiSessionRecord) => boolean) => {
    let n = 0;
    for (const [k, s] of sessions) {
      if (dead(s)) {
        sessions.delete(k);
        n++;
      }
    }
    return n;
  };
  return {
    async createUiSession(s) {
      open();
      if (sessions.has(s.idHash)) throw new Error('duplicate session id');
      sessions.set(s.idHash, { ...s });
    },
    async getUiSession(idHash) {
      open();
      const s = sessions.get(idHash);
      return s ? { ...s } : null;
    },
    async rotateUiSession(idHash, replacedUntil, next) {
      open();
      const s = sessions.get(idHash);
      if (!s || s.replacedUntil !== null) return false;
      s.replacedUntil = replacedUntil;
      sessions.set(next.idHash, { ...next });
      return true;
    },
    async deleteUiSessionFamily(family) {
      open();
      return dropWhere((s) => s.family === family);
    },
    async purgeUiSessions(now) {
      open();
      return dropWhere(
        (s) =>
          s.expiresAt <= now || s.maxExpiresAt <= now || (s.replacedUntil !== null && s.replacedUntil <= now),
      );
    },
  };
}
