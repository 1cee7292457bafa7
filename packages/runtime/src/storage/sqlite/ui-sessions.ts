import type { Store } from '../port.js';
import { UI_SESSION_COLUMNS, uiSessionFromRow, uiSessionParams } from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';

type UiSessionMethods = Pick<
  Store,
  'createUiSession' | 'getUiSession' | 'rotateUiSession' | 'deleteUiSessionFamily' | 'purgeUiSessions'
>;

const INSERT = `INSERT INTO ui_sessions (${UI_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The SQLite driver's dashboard sessions (table `ui_sessions`, migration 060). */
export function createSqliteUiSessions({ run, write, exec, get, tx }: SqliteDeps): UiSessionMethods {
  return {
    createUiSession: (s) =>
      write(() => {
        exec(INSERT, ...uiSessionParams(s));
      }),
    getUiSession: (idHash) =>
      run(() => {
        const r = get('SELECT * FROM ui_sessions WHERE id_hash = ?', idHash);
        return r ? uiSessionFromRow(r) : null;
      }),
    rotateUiSession: (idHash, replacedUntil, next) =>
      write(() =>
        // SECURITY: one successor per id — the mark and the insert share one write lock.
        tx(() => {
          const marked = exec(
            'UPDATE ui_sessions SET replaced_until = ? WHERE id_hash = ? AND replaced_until IS NULL',
            replacedUntil,
            idHash,
          );
          if (marked.changes !== 1) return false;
          exec(INSERT, ...uiSessionParams(next));
          return true;
        }),
      ),
    deleteUiSessionFamily: (family) =>
      write(() => exec('DELETE FROM ui_sessions WHERE family = ?', family).changes),
    purgeUiSessions: (now) =>
      write(
        () =>
          exec(
            'DELETE FROM ui_sessions WHERE expires_at <= ? OR max_expires_at <= ? OR replaced_until <= ?',
            now,
            now,
            now,
          ).changes,
      ),
  };
}
