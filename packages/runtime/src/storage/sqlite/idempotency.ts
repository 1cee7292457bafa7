import { MandateError } from '../../kernel/index.js';
import type { Store } from '../port.js';
import { idempotencyFromRow } from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';

type IdempotencyMethods = Pick<
  Store,
  'claimIdempotencyKey' | 'completeIdempotencyKey' | 'releaseIdempotencyKey' | 'purgeIdempotencyKeys'
>;

/** The SQLite driver's idempotency keys (table `idempotency_keys`, migration 017). */
export function createSqliteIdempotency({ write, exec, get, tx }: SqliteDeps): IdempotencyMethods {
  return {
    claimIdempotencyKey: (claim, now, abandonedBefore) =>
      write(() =>
        // SECURITY: one owner per key — the expired-record sweep and the insert share one write lock.
        tx(() => {
          exec(
            `DELETE FROM idempotency_keys WHERE scope = ? AND key = ?
             AND (expires_at <= ? OR (response IS NULL AND created_at <= ?))`,
            claim.scope,
            claim.key,
            now,
            abandonedBefore,
          );
          const ins = exec(
            `INSERT INTO idempotency_keys (scope, key, fingerprint, response, created_at, expires_at)
             VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (scope, key) DO NOTHING`,
            claim.scope,
            claim.key,
            claim.fingerprint,
            claim.createdAt,
            claim.expiresAt,
          );
          if (ins.changes === 1) return null;
          const r = get('SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?', claim.scope, claim.key);
          // Under the write lock the conflicting row cannot vanish; if it did, nobody owns the key.
          if (!r) throw new MandateError('internal', 'idempotency key conflict without a record');
          return idempotencyFromRow(r);
        }),
      ),
    completeIdempotencyKey: (scope, key, fingerprint, response) =>
      write(() => {
        exec(
          `UPDATE idempotency_keys SET response = ?
           WHERE scope = ? AND key = ? AND fingerprint = ? AND response IS NULL`,
          response,
          scope,
          key,
          fingerprint,
        );
      }),
    releaseIdempotencyKey: (scope, key, fingerprint) =>
      write(() => {
        exec(
          'DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND fingerprint = ? AND response IS NULL',
          scope,
          key,
          fingerprint,
        );
      }),
    purgeIdempotencyKeys: (now) =>
      write(() => exec('DELETE FROM idempotency_keys WHERE expires_at <= ?', now).changes),
  };
}
