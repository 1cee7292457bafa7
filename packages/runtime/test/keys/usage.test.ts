// Last-used times and refusal records stay off the hot path and bounded (ADR 0018).
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { apiKeyDead, createKeyService, createKeyUsage } from '../../src/keys/index.js';
import { createRefusalRecorder } from '../../src/audit/index.js';

describe('key usage', () => {
  it('writes the last-used time at most once a minute per key', async () => {
    const clock = createManualClock();
    const store = createMemoryStore();
    await store.migrate();
    const touches: string[] = [];
    const touch = store.touchApiKey.bind(store);
    store.touchApiKey = async (id, at) => {
      touches.push(`${id}@${at}`);
      await touch(id, at);
    };
    const usage = createKeyUsage({ store, clock, logger: silentLogger });
    for (let i = 0; i < 100; i++) usage.used('k1');
    usage.used('k2');
    clock.advance(59_999);
    usage.used('k1');
    clock.advance(1);
    usage.used('k1');
    await usage.flush();
    expect(touches).toEqual([
      'k1@2026-01-05T10:00:00.000Z',
      'k2@2026-01-05T10:00:00.000Z',
      'k1@2026-01-05T10:01:00.000Z',
    ]);
  });

  it('a failed write is retried at the next use', async () => {
    const clock = createManualClock();
    const store = createMemoryStore();
    await store.migrate();
    let fail = true;
    let writes = 0;
    store.touchApiKey = async () => {
      writes++;
      if (fail) throw new Error('down');
    };
    const usage = createKeyUsage({ store, clock, logger: silentLogger });
    usage.used('k1');
    await usage.flush();
    fail = false;
    usage.used('k1');
    await usage.flush();
    expect(writes).toBe(2);
  });
});

describe('key service', () => {
  it('rotating keeps role, subject, name and expiry; the old key is revoked', async () => {
    const clock = createManualClock();
    const store = createMemoryStore();
    await store.migrate();
    await store.putEntities({
      agents: [{ id: 'bot', roles: [], owner: null, status: 'active', attributes: {} }],
      users: [],
      resources: [],
    } as never);
    const recorded: string[] = [];
    const keys = createKeyService({
      store,
      clock,
      audit: async (e) => {
        recorded.push(e.type);
      },
    });
    const a = await keys.create(
      { role: 'agent', subject: 'bot', name: 'n', expiresAt: '2026-02-01T00:00:00Z' },
      'cli',
      'cli',
    );
    const b = await keys.rotate(a.key.id, 'cli');
    expect(b.key).toMatchObject({
      role: 'agent',
      subject: 'bot',
      name: 'n',
      expiresAt: '2026-02-01T00:00:00.000Z',
    });
    expect((await store.getApiKey(a.key.id))?.revokedAt).not.toBeNull();
    expect(recorded).toEqual(['key.created', 'key.rotated', 'key.revoked']);
    await expect(keys.rotate(a.key.id, 'cli')).rejects.toMatchObject({ code: 'conflict' });
    await expect(
      keys.create({ role: 'agent', subject: 'bot', expiresAt: '2025-01-01T00:00:00Z' }, 'cli'),
    ).rejects.toMatchObject({ code: 'bad_request' });
    // Rotation never brings an expired key back to life.
    const c = await keys.create({ role: 'agent', subject: 'bot', expiresAt: '2026-01-05T11:00:00Z' }, 'cli');
    clock.advance(3600e3);
    await expect(keys.rotate(c.key.id, 'cli')).rejects.toMatchObject({ code: 'conflict' });
    expect((await store.getApiKey(c.key.id))?.revokedAt).toBeNull();
  });
});

describe('refusal recorder', () => {
  it('records each refusal of a key up to the bound, then only counts them', async () => {
    const clock = createManualClock();
    const out: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
    const r = createRefusalRecorder(
      { clock, logger: silentLogger, record: async (e) => void out.push(e) },
      { perKeyPerWindow: 3 },
    );
    const caller = { role: 'agent', subject: 'bot', keyId: 'k1' };
    for (let i = 0; i < 10; i++)
      await r.refused({ code: 'forbidden', reason: 'no', route: 'PUT /v1/policies', caller });
    expect(out.map((e) => e.type)).toEqual(['request.refused', 'request.refused', 'request.refused']);
    await r.close();
    expect(out).toHaveLength(4);
    expect(out[3]).toMatchObject({
      type: 'request.unauthenticated',
      data: { count: 0, suppressedRefusals: [{ keyId: 'k1', count: 7 }] },
    });
  });

  it('keeps at most maxSources sources by name and sums the rest', async () => {
    const clock = createManualClock();
    const out: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
    const r = createRefusalRecorder(
      { clock, logger: silentLogger, record: async (e) => void out.push(e) },
      { maxSources: 2 },
    );
    for (const s of ['a', 'b', 'c', 'd', 'a']) r.unauthenticated(s, 'GET /v1/keys');
    await r.close();
    expect(out).toHaveLength(1);
    expect(out[0]!.data).toMatchObject({ count: 5, otherSourcesCount: 2 });
    expect((out[0]!.data.sources as unknown[]).length).toBe(2);
  });
});

describe('apiKeyDead', () => {
  const key = {
    id: 'k',
    hash: 'h',
    role: 'agent' as const,
    subject: 'bot',
    name: 'k',
    createdAt: '2026-01-01T00:00:00.000Z',
    revokedAt: null,
    expiresAt: null,
    lastUsedAt: null,
    origin: 'cli' as const,
  };
  const now = Date.parse('2026-01-05T10:00:00Z');
  it('is alive without expiry or revocation, dead when revoked, at or past expiry, or with an expiry that does not parse', () => {
    expect(apiKeyDead(key, now)).toBe(false);
    expect(apiKeyDead({ ...key, expiresAt: '2026-01-05T10:00:00.001Z' }, now)).toBe(false);
    expect(apiKeyDead({ ...key, expiresAt: '2026-01-05T10:00:00.000Z' }, now)).toBe(true);
    expect(apiKeyDead({ ...key, revokedAt: '2026-01-01T00:00:00.000Z' }, now)).toBe(true);
    expect(apiKeyDead({ ...key, expiresAt: 'garbage' }, now)).toBe(true);
  });
});
