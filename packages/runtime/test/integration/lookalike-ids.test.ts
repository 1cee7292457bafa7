import { afterEach, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, durableStoreKinds, exampleEntities } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200 } from '../fixtures/http.js';

afterEach(disposeAll);

/**
 * A probe stored users `Frank` beside `frank` and NFC beside NFD `josé`, and cast both votes of a
 * quorum of two as one person under two names: the duplicate-vote and self-approval checks compare
 * ids exactly, and approvers and auditors read them as one. Such ids are refused (entities/service.ts).
 */
describe('agent and user ids that differ only in case or Unicode form', () => {
  const frank = () => exampleEntities().users.find((u) => u.id === 'frank')!;

  it('a new user id folding like a stored one is refused, nothing stored; a distinct id is stored', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    for (const id of ['Frank', 'FRANK', 'ｆｒａｎｋ', 'fr\u200bank']) {
      expectError(
        await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), id }] }),
        400,
        'invalid_entity',
      );
      expect(await t.m.store.getUser(id)).toBeNull();
    }
    // The allow path next to it: another person's id is stored.
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), id: 'frances' }] }));
    expect((await t.m.store.getUser('frances'))?.id).toBe('frances');
  });

  it('two lookalikes in one document are refused; NFC and NFD forms are one id', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const nfc = 'jos\u00e9';
    const nfd = 'jose\u0301';
    expectError(
      await api.put('/v1/entities', KEYS.admin, {
        users: [
          { ...frank(), id: nfc },
          { ...frank(), id: nfd },
        ],
      }),
      400,
      'invalid_entity',
    );
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), id: nfc }] }));
    expectError(
      await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), id: nfd }] }),
      400,
      'invalid_entity',
    );
    // Agents alike.
    expectError(
      await api.put('/v1/entities', KEYS.admin, {
        agents: [{ ...exampleEntities().agents[0]!, id: 'Support-Bot' }],
      }),
      400,
      'invalid_entity',
    );
  });

  it.each(durableStoreKinds())(
    'two lookalikes sent at once in two documents: one is stored, the other refused (%s)',
    async (kind) => {
      // A probe sent `prace-x` and `PRACE-X` in two PUTs at once: each was checked before the other
      // was written, and both were stored (5–10 of 10 pairs). The check is in the write's transaction.
      const t = await createTestMandate({ store: kind });
      const api = client(t.url);
      for (let pair = 0; pair < 8; pair++) {
        const ids = [`prace-${pair}`, `PRACE-${pair}`];
        const answers = await Promise.all(
          ids.map((id) => api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), id }] })),
        );
        expect(answers.map((a) => a.status).sort(), `pair ${pair}`).toEqual([200, 400]);
        const stored = (await Promise.all(ids.map((id) => t.m.store.getUser(id)))).filter((u) => u !== null);
        expect(stored, `pair ${pair}`).toHaveLength(1);
      }
    },
    60_000,
  );

  it('an id stored as it is may be updated (a suspension of a stored user passes)', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...frank(), status: 'suspended' }] }));
    expect((await t.m.store.getUser('frank'))?.status).toBe('suspended');
    ok200(await api.post('/v1/agents/support-bot/suspend', KEYS.admin));
  });
  it('an entities file with lookalikes does not start: the same rule as the API', async () => {
    const err = await createTestMandate({
      entities: (doc) => {
        doc.users.push({ ...doc.users.find((u) => u.id === 'frank')!, id: 'Frank' });
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bad_request' });
    expect((err as Error).message).toMatch(/entities file .*"Frank" differs from user "frank"/);
    // The allow next to it: the example's file, unchanged, starts.
    const t = await createTestMandate();
    expect((await t.m.store.getUser('frank'))?.id).toBe('frank');
  });
});
