import type { IdempotencyRecord, Store } from '../port.js';

type IdempotencyMethods = Pick<
  Store,
  'claimIdempotencyKey' | 'completeIdempotencyKey' | 'releaseIdempotencyKey' | 'purgeIdempotencyKeys'
>;

/** The memory driver's idempotency keys; `open` throws once the store is closed. */
export function createMemoryIdempotency(open: () => void): IdempotencyMethods {
  const records = new Map<string, IdempotencyRecord>();
  const id = (scope: string, key: string) => `${scope}\0${key}`;
  return {
    async claimIdempotencyKey(claim, now, abandonedBefore) {
      open();
      const existing = records.get(id(claim.scope, claim.key));
      const abandoned = existing?.response === null && existing.createdAt <= abandonedBefore;
      if (existing && existing.expiresAt > now && !abandoned) return { ...existing };
      records.set(id(claim.scope, claim.key), { ...claim, response: null });
      return null;
    },
    async completeIdempotencyKey(scope, key, fingerprint, response) {
      open();
      const r = records.get(id(scope, key));
      if (r && r.fingerprint === fingerprint && r.response === null) r.response = response;
    },
    async releaseIdempotencyKey(scope, key, fingerprint) {
      open();
      const r = records.get(id(scope, key));
      if (r && r.fingerprint === fingerprint && r.response === null) records.delete(id(scope, key));
    },
    async purgeIdempotencyKeys(now) {
      open();
      let n = 0;
      for (const [k, r] of records) {
        if (r.expiresAt <= now) {
          records.delete(k);
          n++;
        }
      }
      return n;
    },
  };
}
