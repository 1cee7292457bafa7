// Budgets through the doors: GET /v1/usage (admin only) and `mandate usage` show the counters the
// decisions charged; a non-admin is refused.
import { afterAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/kernel/index.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  examplePolicySource,
} from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { BUDGET_POLICIES, USAGE } from './helpers.js';

afterAll(disposeAll);

describe.each(durableStoreKinds())('usage counters through the API and the CLI (%s)', (store) => {
  it('GET /v1/usage and `mandate usage` show the charged counter; an agent or user key is refused', async () => {
    ensureBuilt();
    const clock = createManualClock(Date.parse('2026-03-02T15:00:00Z'));
    const t = await createTestMandate({
      store,
      clock,
      config: (c) => {
        c.usage = structuredClone(USAGE);
      },
    });
    const api = client(t.url);
    const src = examplePolicySource();
    src.policies['budgets.cedar'] = BUDGET_POLICIES;
    expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
    expect((await api.decide(KEYS.supportBot, refund(400))).body.effect).toBe('allow');
    expect((await api.decide(KEYS.supportBot, refund(450))).body.effect).toBe('allow');

    const r = await api.get('/v1/usage?name=refundTotalToday&user=alice', KEYS.admin);
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([
      {
        name: 'refundTotalToday',
        agent: null,
        user: 'alice',
        windowStart: '2026-03-02T00:00:00.000Z',
        windowEnd: '2026-03-03T00:00:00.000Z',
        value: 850,
      },
    ]);
    expect((await api.get('/v1/usage?user=bob', KEYS.admin)).body.items).toEqual([]);
    expectError(await api.get('/v1/usage', KEYS.supportBot), 403, 'forbidden');
    expectError(await api.get('/v1/usage', KEYS.alice), 403, 'forbidden');

    const cli = await runCli(['usage', '--url', t.url, '--key', KEYS.admin, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).items).toEqual(r.body.items);
    const human = await runCli(['usage', '--url', t.url, '--key', KEYS.admin, '--name', 'refundTotalToday']);
    expect(human.stdout).toContain('refundTotalToday  user alice  850');
    const refused = await runCli(['usage', '--url', t.url, '--key', KEYS.supportBot]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('forbidden');
  }, 120_000);
});
