// Budgets through the doors: GET /v1/usage (admin only) and `mandate usage` show the counters the
// decisions charged; a non-admin is refused.
import { afterAll, describe, expect, it } from 'vitest';
import { disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, expectError, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { budgetServer } from './helpers.js';

afterAll(disposeAll);

describe.each(durableStoreKinds())('usage counters through the API and the CLI (%s)', (store) => {
  it('GET /v1/usage and `mandate usage` show the charged counter; an agent or user key is refused', async () => {
    ensureBuilt();
    const { t, api } = await budgetServer(store);
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
