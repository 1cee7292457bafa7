import type { Store } from '../port.js';
import { json, personalFromRow, type Row } from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';

type PersonalMethods = Pick<Store, 'putPersonalData' | 'getPersonalData' | 'erasePersonalData'>;

/** The PostgreSQL driver's erasable personal data (table `personal_data`, migration 085). */
export function createPostgresPersonal({ run, pool }: PostgresDeps): PersonalMethods {
  return {
    putPersonalData: (r) =>
      run(async () => {
        await pool.query(
          `INSERT INTO personal_data (ref, subject, data, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (ref) DO UPDATE SET subject = EXCLUDED.subject, data = EXCLUDED.data, created_at = EXCLUDED.created_at`,
          [r.ref, r.subject, json(r.data), r.createdAt],
        );
      }),
    getPersonalData: (refs) =>
      run(async () =>
        refs.length === 0
          ? []
          : (
              await pool.query<Row>(
                'SELECT * FROM personal_data WHERE ref = ANY($1::text[]) ORDER BY ref COLLATE "C"',
                [[...refs]],
              )
            ).rows.map(personalFromRow),
      ),
    erasePersonalData: (subject) =>
      run(
        async () =>
          (await pool.query('DELETE FROM personal_data WHERE subject = $1', [subject])).rowCount ?? 0,
      ),
  };
}
