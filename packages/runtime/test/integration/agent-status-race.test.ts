import { afterEach, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, durableStoreKinds, type StoreKind } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';

afterEach(disposeAll);

/**
 * A probe: `POST /v1/agents/:id/resume` read the agent and wrote the whole record back with its
 * status changed. Raced with a `PUT /v1/entities` that removed the agent's role, the resume wrote
 * the role back (11 of 30 trials on two PostgreSQL nodes), the agent ended active with `support`,
 * and its refunds were allowed. Suspend and resume now set the status alone.
 */
describe.each(durableStoreKinds())('suspend and resume change the status alone, on %s', (kind: StoreKind) => {
  it('a role removed while a resume runs stays removed: the agent decides nothing it needed the role for', async () => {
    const t = await createTestMandate({ store: kind });
    const api = client(t.url);
    const bot = (roles: string[], status: 'active' | 'suspended') => ({
      agents: [{ id: 'support-bot', roles, owner: 'support-team', status, attributes: { tenant: 'acme' } }],
      users: [],
      resources: [],
    });
    for (let trial = 0; trial < 12; trial++) {
      ok200(await api.put('/v1/entities', KEYS.admin, bot(['support'], 'suspended')));
      const [put, resumed] = await Promise.all([
        api.put('/v1/entities', KEYS.admin, bot([], 'suspended')),
        api.post('/v1/agents/support-bot/resume', KEYS.admin),
      ]);
      expect(put.status, put.text).toBe(200);
      expect(resumed.status, resumed.text).toBe(200);
      const stored = await t.m.store.getAgent('support-bot');
      expect(stored?.roles, `trial ${trial}`).toEqual([]);
      ok200(await api.post('/v1/agents/support-bot/resume', KEYS.admin));
      expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect, `trial ${trial}`).toBe('deny');
    }
    // The status change is on the record as a PUT of that agent is.
    const records = (await api.get('/v1/audit?type=entities.updated&limit=1000', KEYS.admin)).body.items as {
      event: { data: { agents: { id: string; status: string }[] } };
    }[];
    expect(records.at(-1)!.event.data.agents).toEqual([{ id: 'support-bot', status: 'active' }]);
  }, 60_000);

  it('suspend and resume of an unknown agent are unknown_agent, and record nothing', async () => {
    const t = await createTestMandate({ store: kind });
    const api = client(t.url);
    const before = (await api.get('/v1/audit?type=entities.updated&limit=1000', KEYS.admin)).body.items
      .length;
    for (const verb of ['suspend', 'resume']) {
      expectError(await api.post(`/v1/agents/ghost/${verb}`, KEYS.admin), 404, 'unknown_agent');
    }
    expect((await api.get('/v1/audit?type=entities.updated&limit=1000', KEYS.admin)).body.items).toHaveLength(
      before,
    );
  });
});
