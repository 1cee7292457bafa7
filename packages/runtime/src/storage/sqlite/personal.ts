import type { Store } from '../port.js';
import { json, personalFromRow } from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';

type PersonalMethods = Pick<Store, 'putPersonalData' | 'getPersonalData' | 'erasePersonalData'>;

/** The SQLite driver's erasable personal data (table `personal_data`, migration 085). */
export function createSqlitePersonal({ run, write, all, exec }: SqliteDeps): PersonalMethods {
  return {
    putPersonalData: (r) =>
      write(() => {
        exec(
          `INSERT INTO personal_data (ref, subject, data, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (ref) DO UPDATE SET subject = excluded.subject, data = excluded.data, created_at = excluded.created_at`,
          r.ref,
          r.subject,
          json(r.data),
          r.createdAt,
        );
      }),
    getPersonalData: (refs) =>
      run(() =>
        refs.length === 0
          ? []
          : all(
              `SELECT * FROM personal_data WHERE ref IN (SELECT value FROM json_each(?)) ORDER BY ref`,
              json(refs),
            ).map(personalFromRow),
      ),
    erasePersonalData: (subject) =>
      write(() => exec('DELETE FROM personal_data WHERE subject = ?', subject).changes),
  };
}
