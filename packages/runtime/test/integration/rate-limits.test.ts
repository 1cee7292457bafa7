// Plain rate limits (issue 14 §2, the part before budgets): per API key and per agent, checked
// before any policy work; over the limit, 429 rate_limited with Retry-After; the allow path beside it.
import { afterAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';

afterAll(disposeAll);

describe('rate limits', () => {
  it('refuses an agent past its burst with 429 and Retry-After, lets another agent through, and refills with time', async () => {
    const clock = createManualClock(Date.parse('2026-01-05T15:00:00Z'));
    const t = await createTestMandate({
      clock,
      config: (c) => {
        c.rateLimits = { perAgent: { rate: 0.5, burst: 2 } };
      },
    });
    const api = client(t.url);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('allow');
    expect((await api.decide(KEYS.supportBot, refund(121))).body.effect).toBe('allow');
    const over = await api.decide(KEYS.supportBot, refund(122));
    expectError(over, 429, 'rate_limited');
    expect(over.headers.get('retry-after')).toBe('2');
    // Nothing was decided for it: no decision record names that amount.
    const audit = await api.get('/v1/audit?type=decision&agent=support-bot', KEYS.admin);
    expect(audit.body.items).toHaveLength(2);
    // Another agent has its own bucket.
    const other = await api.decide(KEYS.tradeBot, {
      agent: 'trade-bot',
      onBehalfOf: 'bob',
      action: 'trade.place_order',
      args: { symbol: 'ACME', qty: 1, side: 'buy' },
    });
    expect(other.status).toBe(200);
    // Two seconds later one token is back: one more decision, then refused again.
    clock.advance(2000);
    expect((await api.decide(KEYS.supportBot, refund(123))).status).toBe(200);
    expectError(await api.decide(KEYS.supportBot, refund(124)), 429, 'rate_limited');
  });

  it('limits per API key as well, and not at all when unconfigured', async () => {
    const limited = await createTestMandate({
      config: (c) => {
        c.rateLimits = { perKey: { rate: 0.001, burst: 1 } };
      },
    });
    const a = client(limited.url);
    expect((await a.decide(KEYS.supportBot, refund(120))).status).toBe(200);
    expectError(await a.decide(KEYS.supportBot, refund(120)), 429, 'rate_limited');
    const open = client((await createTestMandate()).url);
    for (let i = 0; i < 5; i++)
      expect((await open.decide(KEYS.supportBot, refund(120 + i))).status).toBe(200);
  });
});
