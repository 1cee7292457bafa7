import { MandateError } from '../../kernel/index.js';
import type { Store } from '../port.js';
import { idempotencyFromRow, type Row } from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';

type IdempotencyMethods = Pick<
  Store,
  'claimIdempotencyKey' | 'completeIdempotencyKey' | 'releaseIdempotencyKey' | 'purgeIdempotencyKeys'
>;

/** The PostgreSQL driver's idempotency keys (table `idempotency_keys`, migration 017). */
export function createPostgresIdempotency({ run, pool, tx }: PostgresDeps): IdempotencyMethods {
  return {
    claimIdempotencyKey: (claim, now, abandonedBefore) =>
      run(async () => {
        // SECURITY: one owner per key, across nodes — a racing insert waits on the other's row and
        // then does nothing; the SELECT (a fresh snapshot under READ COMMITTED) sees the winner.
        // If the winner released its claim in between, the insert is tried again.
        for (let attempt = 0; attempt < 3; attempt++) {
          const found = await tx(async (c) => {
            await c.query(
              `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2
               AND (expires_at <= $3 OR (response IS NULL AND created_at <= $4))`,
              [claim.scope, claim.key, now, abandonedBefore],
            );
            const ins = await c.query(
              `INSERT INTO idempotency_keys (scope, key, fingerprint, response, created_at, expires_at)
               VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (scope, key) DO NOTHING`,
              [claim.scope, claim.key, claim.fingerprint, claim.createdAt, claim.expiresAt],
            );
            if (ins.rowCount === 1) return 'owned' as const;
            const r = (
              await c.query<Row>('SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2', [
                claim.scope,
                claim.key,
              ])
            ).rows[0];
            return r ? idempotencyFromRow(r) : null;
          });
          if (found === 'owned') return null;
          if (found) return found;
        }
        throw new MandateError('idempotency_in_progress', 'the idempotency key is busy; retry');
      }),
    completeIdempotencyKey: (scope, key, fingerprint, response) =>
      run(async () => {
        await pool.query(
          `UPDATE idempotency_keys SET response = $1
           WHERE scope = $2 AND key = $3 AND fingerprint = $4 AND response IS NULL`,
          [response, scope, key, fingerprint],
        );
      }),
    releaseIdempotencyKey: (scope, key, fingerprint) =>
      run(async () => {
        await pool.query(
          'DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND fingerprint = $3 AND response IS NULL',
          [scope, key, fingerprint],
        );
      }),
    purgeIdempotencyKeys: (now) =>
      run(
        async () =>
          (await pool.query('DELETE FROM idempotency_keys WHERE expires_at <= $1', [now])).rowCount ?? 0,
      ),
  };
}
