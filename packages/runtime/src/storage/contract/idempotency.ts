import { describe, expect, it } from 'vitest';
import type { IdempotencyRecord, Store } from '../port.js';

const T0 = '2025-01-01T00:00:00.000Z';
const T1 = '2025-01-01T01:00:00.000Z';
const T2 = '2025-01-01T02:00:00.000Z';
/** `abandonedBefore` that takes over no claim in progress. */
const NONE = '1970-01-01T00:00:00.000Z';

const claim = (over: Partial<IdempotencyRecord> = {}): IdempotencyRecord => ({
  scope: 'decision:key_a',
  key: 'k-1',
  fingerprint: 'f-1',
  response: null,
  createdAt: T0,
  expiresAt: T1,
  ...over,
});

/** The idempotency-key cases of the storage contract; `store()` is the migrated store of the current case. */
export function describeIdempotencyContract(store: () => Store): void {
  describe('idempotency keys', () => {
    it('the first claim owns the key; a second sees it, then its answer once completed', async () => {
      const s = store();
      expect(await s.claimIdempotencyKey(claim(), T0, NONE)).toBeNull();
      expect(await s.claimIdempotencyKey(claim({ fingerprint: 'f-2' }), T0, NONE)).toStrictEqual(claim());
      await s.completeIdempotencyKey('decision:key_a', 'k-1', 'f-1', '{"effect":"allow"}');
      expect(await s.claimIdempotencyKey(claim(), T0, NONE)).toStrictEqual(
        claim({ response: '{"effect":"allow"}' }),
      );
    });

    it('keys are scoped: the same key in another scope is another record', async () => {
      const s = store();
      expect(await s.claimIdempotencyKey(claim(), T0, NONE)).toBeNull();
      expect(await s.claimIdempotencyKey(claim({ scope: 'decision:key_b' }), T0, NONE)).toBeNull();
    });

    it('complete and release touch only the claim with that fingerprint and no answer', async () => {
      const s = store();
      await s.claimIdempotencyKey(claim(), T0, NONE);
      await s.completeIdempotencyKey('decision:key_a', 'k-1', 'f-other', '{"x":1}');
      await s.releaseIdempotencyKey('decision:key_a', 'k-1', 'f-other');
      expect(await s.claimIdempotencyKey(claim(), T0, NONE)).toStrictEqual(claim());
      await s.completeIdempotencyKey('decision:key_a', 'k-1', 'f-1', '{"x":1}');
      // An answered key is never released nor overwritten: the answer is what retries get.
      await s.releaseIdempotencyKey('decision:key_a', 'k-1', 'f-1');
      await s.completeIdempotencyKey('decision:key_a', 'k-1', 'f-1', '{"x":2}');
      expect((await s.claimIdempotencyKey(claim(), T0, NONE))?.response).toBe('{"x":1}');
    });

    it('a released claim can be claimed again', async () => {
      const s = store();
      await s.claimIdempotencyKey(claim(), T0, NONE);
      await s.releaseIdempotencyKey('decision:key_a', 'k-1', 'f-1');
      expect(await s.claimIdempotencyKey(claim({ fingerprint: 'f-2' }), T0, NONE)).toBeNull();
    });

    it('an expired record is replaced by a new claim and purged', async () => {
      const s = store();
      await s.claimIdempotencyKey(claim(), T0, NONE);
      await s.completeIdempotencyKey('decision:key_a', 'k-1', 'f-1', '{}');
      await s.claimIdempotencyKey(claim({ key: 'k-2', expiresAt: T2 }), T0, NONE);
      // At T1 the first record has expired (expiresAt <= now): a new request owns the key.
      expect(
        await s.claimIdempotencyKey(claim({ fingerprint: 'f-3', createdAt: T1, expiresAt: T2 }), T1, NONE),
      ).toBeNull();
      expect(await s.purgeIdempotencyKeys(T1)).toBe(0);
      expect(await s.purgeIdempotencyKeys(T2)).toBe(2);
      expect(await s.claimIdempotencyKey(claim({ key: 'k-2' }), T2, NONE)).toBeNull();
    });

    it('a claim still in progress past `abandonedBefore` is taken over; an answered one never', async () => {
      const s = store();
      const T0_30 = '2025-01-01T00:00:30.000Z';
      const T0_61 = '2025-01-01T00:01:01.000Z';
      expect(await s.claimIdempotencyKey(claim(), T0, NONE)).toBeNull();
      // Within the lease the claim holds: the retry is told it is in progress.
      expect(
        await s.claimIdempotencyKey(claim({ createdAt: T0_30 }), T0_30, '2024-12-31T23:59:30.000Z'),
      ).toStrictEqual(claim());
      // Its request never finished (the node stopped): the next retry owns the key.
      expect(
        await s.claimIdempotencyKey(claim({ createdAt: T0_61 }), T0_61, '2025-01-01T00:00:01.000Z'),
      ).toBeNull();
      expect(await s.claimIdempotencyKey(claim({ fingerprint: 'f-2' }), T0_61, NONE)).toStrictEqual(
        claim({ createdAt: T0_61 }),
      );
      // An answered key is the answer for its hour, however old.
      await s.claimIdempotencyKey(claim({ key: 'k-2' }), T0, NONE);
      await s.completeIdempotencyKey('decision:key_a', 'k-2', 'f-1', '{"effect":"deny"}');
      expect(
        await s.claimIdempotencyKey(claim({ key: 'k-2', createdAt: T0_61 }), T0_61, T0_30),
      ).toStrictEqual(claim({ key: 'k-2', response: '{"effect":"deny"}' }));
    });

    it('racing claims of one key: exactly one owner', async () => {
      const s = store();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          s.claimIdempotencyKey(claim({ fingerprint: `f-${i}` }), T0, NONE),
        ),
      );
      expect(results.filter((r) => r === null)).toHaveLength(1);
      const owner = results.findIndex((r) => r === null);
      for (const r of results) if (r) expect(r.fingerprint).toBe(`f-${owner}`);
    });
  });
}
