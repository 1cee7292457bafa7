import { MandateError, canonicalize, sha256Hex, type Clock, type Logger } from '../kernel/index.js';
import type { Store } from '../storage/port.js';
import { storeUnavailable } from '../storage/unavailable.js';

/** An `Idempotency-Key`: 1–255 visible ASCII characters (a UUID fits; a list of keys joined by a proxy does not). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * How long a key and its answer are kept. Long enough for any client's retries of one call (the
 * SDK retries for seconds), short enough that the stored answers — which hold the decided args —
 * do not become a second record of personal data.
 */
export const IDEMPOTENCY_TTL_MS = 60 * 60 * 1000;

/**
 * A key claimed this long ago whose request has not finished is taken over by its next retry: the
 * node that claimed it stopped mid-request (a crash, `kill -9`), and its retries were told
 * `idempotency_in_progress` for the key's whole hour. Far longer than any decision takes (the
 * policy wait is bounded by `policies.maxStaleMs`, a store lock wait by its busy timeout).
 */
export const IDEMPOTENCY_LEASE_MS = 60 * 1000;

/** Expired keys are swept at most this often per process, on the way to a claim. */
const PURGE_EVERY_MS = 10 * 60 * 1000;

export interface IdempotencyDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
}

/** One idempotent run: `replayed` tells whether `value` is the stored answer of an earlier request. */
export interface IdempotentResult<T> {
  value: T;
  replayed: boolean;
}

/**
 * Idempotency keys for requests that record something (ADR 0019). The first request with a key,
 * in its caller's scope, runs and its answer is stored; a retry of the same canonical request gets
 * that answer back and runs nothing; the same key with a different request is refused.
 */
export interface Idempotency {
  run<T>(
    input: { scope: string; key: string; request: unknown },
    fn: () => Promise<T>,
    /**
     * Whether the recorded answer may still be given: false decides the request again instead
     * (recorded as a new decision; the key keeps its first answer). Absent: always.
     */
    stillHolds?: (recorded: T) => Promise<boolean>,
  ): Promise<IdempotentResult<T>>;
}

export function createIdempotency(deps: IdempotencyDeps, ttlMs = IDEMPOTENCY_TTL_MS): Idempotency {
  const { store, clock, logger } = deps;
  let nextPurge = 0;
  const iso = (ms: number) => new Date(ms).toISOString();

  return {
    async run({ scope, key, request }, fn, stillHolds) {
      if (!IDEMPOTENCY_KEY.test(key)) {
        throw new MandateError('bad_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
      }
      const now = clock.now();
      if (now >= nextPurge) {
        nextPurge = now + PURGE_EVERY_MS;
        await store.purgeIdempotencyKeys(iso(now));
      }
      // The fingerprint covers the whole canonical request (args, approvalId, user …): a key can
      // never carry one request's answer — an allow that consumed an approval — to another.
      const fingerprint = sha256Hex(canonicalize(request));
      const existing = await store.claimIdempotencyKey(
        { scope, key, fingerprint, response: null, createdAt: iso(now), expiresAt: iso(now + ttlMs) },
        iso(now),
        iso(now - IDEMPOTENCY_LEASE_MS),
      );
      if (existing) {
        // SECURITY: a replay answers only the very request that was decided; anything else is refused.
        if (existing.fingerprint !== fingerprint) {
          throw new MandateError(
            'idempotency_key_reused',
            'this Idempotency-Key was used for a different request; use a new key for a new request',
          );
        }
        if (existing.response === null) {
          throw new MandateError(
            'idempotency_in_progress',
            'a request with this Idempotency-Key is still being decided; retry shortly',
          );
        }
        const recorded = JSON.parse(existing.response) as Awaited<ReturnType<typeof fn>>;
        if (!stillHolds || (await stillHolds(recorded))) return { value: recorded, replayed: true };
        return { value: await fn(), replayed: false };
      }
      let value: Awaited<ReturnType<typeof fn>>;
      try {
        value = await fn();
      } catch (err) {
        // Nothing was recorded (errors come before the audit append or instead of it): a retry may run.
        await store
          .releaseIdempotencyKey(scope, key, fingerprint)
          .catch((releaseErr: Error) =>
            logger.warn('could not release an idempotency key', { scope, error: releaseErr.message }),
          );
        throw err;
      }
      try {
        await store.completeIdempotencyKey(scope, key, fingerprint, JSON.stringify(value));
      } catch (err) {
        // SECURITY: an answer a retry cannot get back is not given. It went out while the key stayed
        // claimed, and a retry after the lease (IDEMPOTENCY_LEASE_MS, the takeover of a key whose node
        // stopped mid-request) was decided again: one request, two allows, two refunds (a probe).
        // The decision stays on the record; the caller gets 503 and its retry is decided afresh.
        logger.warn('could not store the answer of an idempotency key: the answer is not given', {
          scope,
          error: (err as Error).message,
        });
        throw storeUnavailable(
          'unreachable',
          `the answer could not be stored under this Idempotency-Key, so it is not given (it is on the audit trail); retry with the same key after ${IDEMPOTENCY_LEASE_MS / 1000} s to have the request decided again`,
          err,
        );
      }
      return { value, replayed: false };
    },
  };
}
