import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_LEASE_MS, createIdempotency } from '../../src/decisions/idempotency.js';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';

/**
 * A probe failed the write that stores an Idempotency-Key's answer: the first allow went out, the
 * key stayed claimed, and a retry after the lease (the takeover of a key whose node stopped
 * mid-request) was decided and allowed again — one request, two allows. An answer that cannot be
 * stored is not given.
 */
describe('an Idempotency-Key whose answer cannot be stored', () => {
  function setup() {
    const store = createMemoryStore();
    let failures = 1;
    const complete = store.completeIdempotencyKey.bind(store);
    store.completeIdempotencyKey = async (...a) => {
      if (failures-- > 0) throw new Error('connection lost');
      return complete(...a);
    };
    const clock = createManualClock();
    const idem = createIdempotency({ store, clock, logger: silentLogger });
    let decided = 0;
    const decide = async () => ({ decisionId: `dec_${++decided}`, effect: 'allow' });
    const run = () => idem.run({ scope: 'decision:key_a', key: 'k-1', request: { amount: 120 } }, decide);
    return { clock, run, decided: () => decided };
  }

  it('is not given: 503, a retry waits, and the retry after the lease is the only answer given', async () => {
    const { clock, run, decided } = setup();
    const given: unknown[] = [];
    await expect(run().then((r) => given.push(r))).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    await expect(run()).rejects.toMatchObject({ code: 'idempotency_in_progress' });
    clock.advance(IDEMPOTENCY_LEASE_MS + 1_000);
    given.push(await run());
    expect(given).toEqual([{ value: { decisionId: 'dec_2', effect: 'allow' }, replayed: false }]);
    expect(decided()).toBe(2);
    // From then on the stored answer is replayed; nothing is decided again.
    expect(await run()).toEqual({ value: { decisionId: 'dec_2', effect: 'allow' }, replayed: true });
    expect(decided()).toBe(2);
  });
});
