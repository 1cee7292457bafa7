// A node that cannot confirm which policy set is active stops deciding (503), within a bound.
// Found by a black-box probe on three nodes sharing PostgreSQL: a node whose link to the store was
// cut (or whose process was paused) kept deciding on the set it had while another node activated a
// stricter one, for as long as the cut lasted — 14 of 14 calls allowed under the replaced set over
// 15 s, and recorded so once the link was back. Grants, keys and suspensions were fresh already.
import { afterAll, describe, expect, it } from 'vitest';
import type { DecisionRequest } from '@mandate/protocol';
import { MandateError } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('policy staleness bound (policies.maxStaleMs)', () => {
  it('decides while its reads of the active version are answered; 503 as soon as they are not; decides again after', async () => {
    const t = await createTestMandate({
      store: 'sqlite',
      config: (c) => {
        c.policies = { ...c.policies, maxStaleMs: 2000 };
      },
    });
    const api = client(t.url);
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

    // The node's reads of the active version fail (a cut link refuses them): its checks, and the
    // version read with the cache epoch that every decision makes first (ADR 0039) — the store
    // under the read cache, which reads the epoch from it.
    const cached = t.m.store as { getActivePolicyVersion: () => Promise<string | null> };
    const raw = Object.getPrototypeOf(t.m.store) as { cacheEpoch: () => Promise<unknown> };
    const real = { version: cached.getActivePolicyVersion, epoch: raw.cacheEpoch };
    const refused = () => Promise.reject(new MandateError('store_unavailable', 'connection refused'));
    cached.getActivePolicyVersion = refused;
    raw.cacheEpoch = refused;
    try {
      // Not for a while on the last set (it decided on for up to policies.maxStaleMs): at once.
      expectError(await api.decide(KEYS.supportBot, refund(121)), 503, 'store_unavailable');
      await sleep(2600);
      expectError(await api.decide(KEYS.supportBot, refund(122)), 503, 'store_unavailable');
    } finally {
      cached.getActivePolicyVersion = real.version;
      raw.cacheEpoch = real.epoch;
    }
    // The next read confirms the set again.
    expect(ok200(await api.decide(KEYS.supportBot, refund(123))).effect).toBe('allow');
  }, 20_000);

  it('a node that was only busy past the bound checks at once and decides: stale by the clock is not stale', async () => {
    const t = await createTestMandate({
      store: 'sqlite',
      config: (c) => {
        c.policies = { ...c.policies, maxStaleMs: 2000 };
      },
    });
    const caller = { role: 'agent' as const, subject: 'support-bot', keyId: 'key_demo-support-bot' };
    expect((await t.m.decisions.decide(refund(124) as DecisionRequest, caller)).decision.effect).toBe(
      'allow',
    );
    // The event loop held for longer than the bound (no check could run), then a decision at once,
    // before any timer: the bench's in-process rows found this (a 40 s loop, then every decision 503).
    const until = Date.now() + 2600;
    while (Date.now() < until);
    const d = await t.m.decisions.decide(refund(125) as DecisionRequest, caller);
    expect(d.decision.effect).toBe('allow');
  }, 20_000);
});
