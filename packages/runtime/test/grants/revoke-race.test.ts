// Revoking a parent revokes the whole chain, also below it while it is being revoked: a sub-grant
// created meanwhile is refused `grant_revoked` or revoked with it, never left live (a probe: six
// sub-grants posted on two nodes while the parent was revoked, five stayed live in the store).
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createGrantService } from '../../src/grants/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { createManualClock } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/port.js';
import { WITH_REFUND_HELPER, createTestMandate, disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, client, ok200 } from '../fixtures/http.js';

afterEach(disposeAll);

describe('a sub-grant whose parent is revoked between the check and the insert', () => {
  it('is refused grant_revoked, stored nowhere and not recorded as created', async () => {
    const store = createMemoryStore();
    await store.putEntities({
      agents: ['bot', 'sub-bot'].map((id) => ({ id, roles: [], status: 'active' as const, attributes: {} })),
      users: [{ id: 'alice', roles: [], status: 'active', attributes: {} }],
      resources: [],
    });
    const clock = createManualClock();
    const events: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
    const grants = createGrantService({ store, clock, audit: async (e) => events.push(e) });
    const expiresAt = new Date(clock.now() + 86400e3).toISOString();
    const parent = await grants.create(
      { user: 'alice', agent: 'bot', actions: ['crm.*'], expiresAt },
      { kind: 'user', id: 'alice' },
    );
    // Another node revokes the parent after this one has read it live, before it inserts.
    const racing: Store = {
      ...store,
      createGrant: async (g) => {
        await store.revokeGrant(parent.id, new Date(clock.now()).toISOString());
        return store.createGrant(g);
      },
    };
    const raced = createGrantService({ store: racing, clock, audit: async (e) => events.push(e) });
    await expect(
      raced.create(
        { user: 'alice', agent: 'sub-bot', actions: ['crm.read_customer'], expiresAt, parentId: parent.id },
        { kind: 'agent', id: 'bot' },
      ),
    ).rejects.toMatchObject({ code: 'grant_revoked' });
    expect(await store.listGrants({ agent: 'sub-bot', includeRevoked: true })).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['grant.created']);
  });
});

describe.each(durableStoreKinds())('sub-grants posted while their parent is revoked (%s)', (kind) => {
  it('each is refused 403 grant_revoked or named in the revoke answer; none stays live', async () => {
    const t = await createTestMandate({ store: kind, ...WITH_REFUND_HELPER });
    const api = client(t.url);
    for (let round = 0; round < 4; round++) {
      const parent = await api.post('/v1/grants', KEYS.admin, {
        user: 'alice',
        agent: 'support-bot',
        actions: ['payments.refund'],
        expiresIn: '1d',
      });
      expect(parent.status, parent.text).toBe(201);
      const pid = parent.body.id as string;
      const sub = () =>
        api.post('/v1/grants', KEYS.supportBot, {
          agent: 'refund-helper',
          parentId: pid,
          actions: ['payments.refund'],
          expiresIn: '1h',
        });
      const [posted, deleted] = await Promise.all([
        Promise.all([sub(), sub(), sub(), sub(), sub(), sub()]),
        api.del(`/v1/grants/${pid}`, KEYS.admin),
      ]);
      const revoked = ok200(deleted).revoked as string[];
      for (const res of posted) {
        if (res.status === 201) expect(revoked).toContain(res.body.id);
        else
          expect({ status: res.status, code: res.body.error.code }).toEqual({
            status: 403,
            code: 'grant_revoked',
          });
      }
      const live = ok200(await api.get('/v1/grants?agent=refund-helper', KEYS.admin)).items as {
        parentId: string;
      }[];
      expect(live.filter((g) => g.parentId === pid)).toEqual([]);
    }
  });
});
