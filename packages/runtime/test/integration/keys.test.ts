// Issue 9 §1: API keys can be listed, revoked, rotated and given an expiry, with a last-used time;
// keys removed from the config stop working at the next start.
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  type StoreKind,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';

afterAll(disposeAll);

async function events(t: TestMandate, type: string): Promise<AuditEvent[]> {
  const recs = await t.m.store.queryAudit({ type, limit: 1000 });
  return recs.map((r) => JSON.parse(r.eventText) as AuditEvent);
}

describe.each(durableStoreKinds())('API key lifecycle through /v1/keys on %s', (store: StoreKind) => {
  it('lists keys without hashes or secrets, to admins only', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    const r = await api.get('/v1/keys', KEYS.admin);
    expect(r.status).toBe(200);
    const ids = r.body.items.map((k: { id: string }) => k.id);
    expect(ids).toContain('key_demo-support-bot');
    for (const k of r.body.items) {
      expect(k).not.toHaveProperty('hash');
      expect(JSON.stringify(k)).not.toContain('"secret"');
      expect(k.origin).toBe('config');
    }
    expectError(await api.get('/v1/keys', KEYS.supportBot), 403, 'forbidden');
    expectError(await api.get('/v1/keys', KEYS.alice), 403, 'forbidden');
    expectError(await api.get('/v1/keys', 'not-a-key'), 401, 'unauthenticated');
  });

  it('creates a key that works, records its last use, and refuses it once revoked — on every node', async () => {
    const t = await createTestMandate({ store });
    const other = await createTestMandate({ reuse: t });
    const api = client(t.url);
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot' });
    expect(created.status).toBe(201);
    const { key, secret } = created.body;
    expect(key.lastUsedAt).toBeNull();
    expect((await api.decide(secret, refund(10))).status).toBe(200);
    await vi.waitFor(async () => {
      const k = (await api.get('/v1/keys', KEYS.admin)).body.items.find(
        (x: { id: string }) => x.id === key.id,
      );
      expect(k.lastUsedAt).not.toBeNull();
    });

    const revoked = await api.del(`/v1/keys/${key.id}`, KEYS.admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    expectError(await api.decide(secret, refund(10)), 401, 'unauthenticated');
    expectError(await client(other.url).decide(secret, refund(10)), 401, 'unauthenticated');
    expectError(await api.del(`/v1/keys/${key.id}`, KEYS.admin), 409, 'conflict');
    expectError(await api.del('/v1/keys/key_nope', KEYS.admin), 404, 'not_found');
    const ev = (await events(t, 'key.revoked')).find((e) => e.data.keyId === key.id);
    expect(ev?.data).toMatchObject({ keyId: key.id, by: expect.stringMatching(/^admin:/) });
  });

  it('refuses an expired key with 401 from the moment it expires', async () => {
    const clock = createManualClock(Date.now());
    const t = await createTestMandate({ store, clock });
    const api = client(t.url);
    const { body } = await api.post('/v1/keys', KEYS.admin, {
      role: 'agent',
      subject: 'support-bot',
      expiresIn: '1h',
    });
    expect(body.key.expiresAt).toBe(new Date(clock.now() + 3600e3).toISOString());
    expect((await api.decide(body.secret, refund(10))).status).toBe(200);
    clock.advance(3600e3 - 1);
    expect((await api.decide(body.secret, refund(10))).status).toBe(200);
    clock.advance(1);
    expectError(await api.decide(body.secret, refund(10)), 401, 'unauthenticated');
    const listed = (await api.get('/v1/keys', KEYS.admin)).body.items.find(
      (k: { id: string }) => k.id === body.key.id,
    );
    expect(listed.status).toBe('expired');
  });

  it('rotates a key: the new secret works, the old one is refused at once', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    const { body: first } = await api.post('/v1/keys', KEYS.admin, {
      role: 'agent',
      subject: 'support-bot',
      name: 'support prod',
    });
    const r = await api.post(`/v1/keys/${first.key.id}/rotate`, KEYS.admin);
    expect(r.status).toBe(201);
    expect(r.body.key).toMatchObject({ role: 'agent', subject: 'support-bot', name: 'support prod' });
    expect(r.body.key.id).not.toBe(first.key.id);
    expectError(await api.decide(first.secret, refund(10)), 401, 'unauthenticated');
    expect((await api.decide(r.body.secret, refund(10))).status).toBe(200);
    expect((await events(t, 'key.rotated')).map((e) => e.data.replaces)).toEqual([first.key.id]);
    // A config key is rotated in the config file, not through the API.
    expectError(await api.post('/v1/keys/key_demo-support-bot/rotate', KEYS.admin), 409, 'conflict');
  });

  it('rotations and a revocation racing on one key: one wins, and a revoked key leaves no live successor (a probe)', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    const live = async () =>
      ((await api.get('/v1/keys', KEYS.admin)).body.items as { name: string; status: string }[]).filter(
        (k) => k.name === 'raced' && k.status === 'active',
      );
    const make = async () =>
      (await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot', name: 'raced' })).body
        .key.id as string;
    // Five concurrent rotations of one key: one successor, four conflicts.
    const a = await make();
    const rotations = await Promise.all(
      Array.from({ length: 5 }, () => api.post(`/v1/keys/${a}/rotate`, KEYS.admin)),
    );
    expect(rotations.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    expect(await live()).toHaveLength(1);
    // A revocation and a rotation at once: whichever wins, a "revoked" answer means no live successor.
    for (let i = 0; i < 3; i++) {
      const b = await make();
      const before = (await live()).length;
      const [revoked, rotated] = await Promise.all([
        api.del(`/v1/keys/${b}`, KEYS.admin),
        api.post(`/v1/keys/${b}/rotate`, KEYS.admin),
      ]);
      // Exactly one of them did it; the other is told it did not (409).
      expect([revoked.status, rotated.status].sort()).toEqual(
        revoked.status === 200 ? [200, 409] : [201, 409],
      );
      // Revoked: the key is gone and no successor; rotated: one successor takes its place.
      expect((await live()).length).toBe(revoked.status === 200 ? before - 1 : before);
    }
  });

  it('refuses a key for a subject that does not exist for its role', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    expectError(
      await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'ghost-bot' }),
      404,
      'unknown_agent',
    );
    expectError(
      await api.post('/v1/keys', KEYS.admin, { role: 'approver', subject: 'ghost' }),
      404,
      'unknown_user',
    );
    // A user id is not an agent: the role decides where the subject must exist.
    expectError(
      await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'alice' }),
      404,
      'unknown_agent',
    );
    expectError(await api.post('/v1/keys', KEYS.admin, { role: 'user' }), 400, 'bad_request');
    expectError(
      await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot', expiresAt: 'soon' }),
      400,
      'bad_request',
    );
    expect((await api.post('/v1/keys', KEYS.admin, { role: 'user', subject: 'alice' })).status).toBe(201);
  });
});

describe.each(durableStoreKinds())('config keys are synced at start on %s', (store: StoreKind) => {
  it('revokes a key the config no longer lists, with an audit event; listed keys keep working', async () => {
    const t = await createTestMandate({ store });
    expect((await client(t.url).decide(KEYS.hrBot, { ...refund(10), agent: 'hr-bot' })).status).not.toBe(401);
    await t.close();
    const again = await createTestMandate({
      reuse: t,
      config: (raw) => {
        raw.apiKeys = raw.apiKeys.filter((k) => k.name !== 'demo-hr-bot');
      },
    });
    const api = client(again.url);
    expectError(await api.decide(KEYS.hrBot, { ...refund(10), agent: 'hr-bot' }), 401, 'unauthenticated');
    expect((await api.decide(KEYS.supportBot, refund(10))).status).toBe(200);
    const revoked = await events(again, 'key.revoked');
    expect(revoked.map((e) => e.data.keyId)).toEqual(['key_demo-hr-bot']);
    expect(revoked[0]!.data.by).toBe('config');
  });

  it('a new secret under a known name replaces the old key: the old secret is refused', async () => {
    const t = await createTestMandate({ store });
    await t.close();
    const again = await createTestMandate({
      store,
      reuse: t,
      config: (raw) => {
        raw.apiKeys.find((k) => k.name === 'demo-hr-bot')!.secret = 'a-new-hr-bot-secret';
      },
    });
    const api = client(again.url);
    const ask = { ...refund(10), agent: 'hr-bot' };
    expectError(await api.decide(KEYS.hrBot, ask), 401, 'unauthenticated');
    expect((await api.decide('a-new-hr-bot-secret', ask)).status).not.toBe(401);
    expect((await events(again, 'key.revoked')).map((e) => e.data.keyId)).toEqual(['key_demo-hr-bot']);
  });

  it('a key revoked through the API stays revoked although the config still lists it', async () => {
    const t = await createTestMandate({ store });
    expect((await client(t.url).del('/v1/keys/key_demo-trade-bot', KEYS.admin)).status).toBe(200);
    await t.close();
    // The start says so: the banner lists it among the config's keys (a probe got 401 after it).
    const warned: unknown[][] = [];
    const logger = { ...silentLogger, warn: (...a: unknown[]) => void warned.push(a) };
    const again = await createTestMandate({ reuse: t, logger });
    expectError(
      await client(again.url).decide(KEYS.tradeBot, { ...refund(10), agent: 'trade-bot' }),
      401,
      'unauthenticated',
    );
    expect(warned).toContainEqual([
      expect.stringMatching(/^API keys listed in the config file are revoked in the store and stay revoked/),
      { keys: ['demo-trade-bot'] },
    ]);
  });
});
