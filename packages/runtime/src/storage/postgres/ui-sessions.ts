import type { Store } from '../port.js';
import { UI_SESSION_COLUMNS, uiSessionFromRow, uiSessionParams, type Row } from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';

type UiSessionMethods = Pick<
  Store,
  'createUiSession' | 'getUiSession' | 'rotateUiSession' | 'deleteUiSessionFamily' | 'purgeUiSessions'
>;

const INSERT = `INSERT INTO ui_sessions (${UI_SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;

/** The PostgreSQL driver's dashboard sessions (table `ui_sessions`, migration 060). */
export function createPostgresUiSessions({ run, pool, tx }: PostgresDeps): UiSessionMethods {
  return {
    createUiSession: (s) =>
      run(async () => {
        await pool.query(INSERT, uiSessionParams(s));
      }),
    getUiSession: (idHash) =>
      run(async () => {
        const r = (await pool.query<Row>('SELECT * FROM ui_sessions WHERE id_hash = $1', [idHash])).rows[0];
        return r ? uiSessionFromRow(r) : null;
      }),
    rotateUiSession: (idHash, replacedUntil, next) =>
      run(() =>
        // SECURITY: one successor per id, across nodes — the conditional UPDATE takes the row lock;
        // a racing rotation waits, then finds replaced_until set and does nothing.
        tx(async (c) => {
          const marked = await c.query(
            'UPDATE ui_sessions SET replaced_until = $1 WHERE id_hash = $2 AND replaced_until IS NULL',
            [replacedUntil, idHash],
          );
          if (marked.rowCount !== 1) return false;
          await c.query(INSERT, uiSessionParams(next));
          return true;
        }),
      ),
    deleteUiSessionFamily: (family) =>
      run(
        async () => (await pool.query('DELETE FROM ui_sessions WHERE family = $1', [family])).rowCount ?? 0,
      ),
    purgeUiSessions: (now) =>
      run(
        async () =>
          (
            await pool.query(
              'DELETE FROM ui_sessions WHERE expires_at <= $1 OR max_expires_at <= $1 OR replaced_until <= $1',
              [now],
            )
          ).rowCount ?? 0,
      ),
  };
}
