import { describe, expect, it } from 'vitest';
import type { Agent } from '@mandate/protocol';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { apiKey } from '../../src/storage/contract/index.js';
import { withReadCache } from '../../src/storage/read-cache.js';
import type { ApiKeyRecord, CacheEpoch, GrantRecord, Store } from '../../src/storage/port.js';

const agent = (status: Agent['status'] = 'active'): Agent => ({
  id: 'bot',
  roles: ['support'],
  status,
  attributes: { tenant: 't1' },
});
const key = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord =>
  apiKey('k1', { hash: 'h1', subject: 'bot', ...over });
const grant = (id: string, over: Partial<GrantRecord> = {}): GrantRecord => ({
  id,
  user: 'alice',
  agent: 'bot',
  actions: ['crm.*'],
  resources: [],
  resourceAttributes: {},
  limits: [],
  parentId: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2999-01-01T00:00:00.000Z',
  revokedAt: null,
  createdBy: 'alice',
  ...over,
});

/** A later turn of the event loop: where a request sent after a change made past the cache is read. */
const nextTurn = () => new Promise((r) => setTimeout(r, 0));

/** The memory store with a count of the row reads that reached it. */
function counted(): { raw: Store; reads: () => number } {
  const raw = createMemoryStore();
  let reads = 0;
  for (const m of [
    'getAgent',
    'getUser',
    'getResource',
    'findApiKeyByHash',
    'listGrants',
    'getGrant',
  ] as const) {
    const original = raw[m].bind(raw) as (...a: unknown[]) => Promise<unknown>;
    (raw as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      reads++;
      return original(...a);
    };
  }
  return { raw, reads: () => reads };
}

describe('read cache (ADR 0026)', () => {
  it('serves a row read once from memory while the epoch stays put', async () => {
    const { raw, reads } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    await raw.putApiKey(key());
    const store = withReadCache(raw);
    expect(await store.getAgent('bot')).toEqual(agent());
    expect(await store.findApiKeyByHash('h1')).toEqual(key());
    const before = reads();
    for (let i = 0; i < 5; i++) {
      expect(await store.getAgent('bot')).toEqual(agent());
      expect(await store.findApiKeyByHash('h1')).toEqual(key());
    }
    expect(reads()).toBe(before);
    expect(store.readCacheStats()).toMatchObject({ hits: 10, misses: 2 });
  });

  it('a change made past the cache (another node, a shell) is seen by the next call', async () => {
    const { raw } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    await raw.putApiKey(key());
    await raw.createGrant(grant('g1'));
    const store = withReadCache(raw);
    expect((await store.findApiKeyByHash('h1'))?.revokedAt).toBeNull();
    expect((await store.getAgent('bot'))?.status).toBe('active');
    expect((await store.listGrants({ user: 'alice', agent: 'bot' })).map((g) => g.id)).toEqual(['g1']);
    // Changed on the store underneath, not through the cache.
    await raw.revokeApiKey('k1', '2025-02-01T00:00:00.000Z');
    await nextTurn();
    expect((await store.findApiKeyByHash('h1'))?.revokedAt).toBe('2025-02-01T00:00:00.000Z');
    await raw.putEntities({ agents: [agent('suspended')], users: [], resources: [] });
    await nextTurn();
    expect((await store.getAgent('bot'))?.status).toBe('suspended');
    await raw.revokeGrant('g1', '2025-02-01T00:00:00.000Z');
    await nextTurn();
    expect(await store.listGrants({ user: 'alice', agent: 'bot' })).toEqual([]);
    expect(
      (await store.listGrants({ user: 'alice', agent: 'bot', includeRevoked: true }))[0]?.revokedAt,
    ).toBe('2025-02-01T00:00:00.000Z');
  });

  it('without the epoch check the same sequence serves the revoked key as live (the check is what holds)', async () => {
    const { raw } = counted();
    await raw.putApiKey(key());
    // A store whose epoch never moves stands for a cache without invalidation.
    const frozenEpoch: Store = Object.assign(Object.create(raw) as Store, {
      cacheEpoch: async () => ({ n: 0, policyVersion: null }),
    });
    const store = withReadCache(frozenEpoch);
    await store.findApiKeyByHash('h1');
    await raw.revokeApiKey('k1', '2025-02-01T00:00:00.000Z');
    await nextTurn();
    expect((await store.findApiKeyByHash('h1'))?.revokedAt).toBeNull();
  });

  it('never answers a call from an epoch read that started before the call', async () => {
    const { raw } = counted();
    await raw.putApiKey(key());
    // Epoch reads that resolve when the test says so, each with the store's epoch at resolve time.
    const pending: (() => void)[] = [];
    let epochReads = 0;
    const slow: Store = Object.assign(Object.create(raw) as Store, {
      cacheEpoch: () => {
        epochReads++;
        return new Promise<CacheEpoch>((resolve) => pending.push(() => void raw.cacheEpoch().then(resolve)));
      },
    });
    const store = withReadCache(slow);
    const first = store.findApiKeyByHash('h1'); // its epoch read is now in flight
    await Promise.resolve();
    // The key is revoked, then — in a later turn of the event loop, as a request sent after the
    // revocation would be — a second call arrives while the first epoch read is still out.
    await raw.revokeApiKey('k1', '2025-02-01T00:00:00.000Z');
    await new Promise((r) => setTimeout(r, 0));
    const second = store.findApiKeyByHash('h1');
    const third = store.findApiKeyByHash('h1'); // arrives with the second: shares its read
    pending.shift()!();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    expect(epochReads).toBe(2);
    pending.shift()!();
    expect((await second)?.revokedAt).toBe('2025-02-01T00:00:00.000Z');
    expect((await third)?.revokedAt).toBe('2025-02-01T00:00:00.000Z');
    expect(epochReads).toBe(2);
  });

  it('calls of one turn share one epoch read; the next turn reads again', async () => {
    const { raw } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    await raw.putApiKey(key());
    const store = withReadCache(raw);
    await Promise.all([store.findApiKeyByHash('h1'), store.getAgent('bot'), store.getAgent('bot')]);
    await store.getAgent('bot');
    expect(store.readCacheStats().epochReads).toBe(1);
    await new Promise((r) => setTimeout(r, 0));
    await store.getAgent('bot');
    expect(store.readCacheStats().epochReads).toBe(2);
  });

  it('calls from separate I/O callbacks before the next check phase share one epoch read', async () => {
    const { raw } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    const store = withReadCache(raw);
    await store.getAgent('bot');
    await nextTurn();
    const before = store.readCacheStats().epochReads;
    // Two callbacks of one phase of the loop stand for two sockets' data handed over in one poll
    // phase: separate callbacks, each with its microtasks drained before the next. Two immediates
    // queued together always run in one check phase (two timers may fall in two loop turns under
    // load), and an immediate queued by the first runs in the next one.
    const calls: Promise<unknown>[] = [];
    await new Promise<void>((done) => {
      setImmediate(() => calls.push(store.getAgent('bot')));
      setImmediate(() => {
        calls.push(store.getAgent('bot'));
        done();
      });
    });
    await Promise.all(calls);
    expect(store.readCacheStats().epochReads).toBe(before + 1);
    expect(store.readCacheStats().turnShared).toBeGreaterThanOrEqual(1);
  });

  it("a write through the store ends the turn's sharing: a call sees its own write", async () => {
    const { raw } = counted();
    await raw.putApiKey(key());
    const store = withReadCache(raw);
    expect((await store.findApiKeyByHash('h1'))?.revokedAt).toBeNull();
    // Same turn: without the write ending the sharing, the epoch read before it would serve the old row.
    await store.revokeApiKey('k1', '2025-02-01T00:00:00.000Z');
    expect((await store.findApiKeyByHash('h1'))?.revokedAt).toBe('2025-02-01T00:00:00.000Z');
    await store.putEntities({ agents: [agent()], users: [], resources: [] });
    expect((await store.getAgent('bot'))?.status).toBe('active');
    await store.putEntities({ agents: [agent('suspended')], users: [], resources: [] });
    expect((await store.getAgent('bot'))?.status).toBe('suspended');
  });

  it('an epoch that goes back (a database restored under the node) empties the cache too', async () => {
    const { raw, reads } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    let epoch = 5;
    const scripted: Store = Object.assign(Object.create(raw) as Store, {
      cacheEpoch: async () => ({ n: epoch, policyVersion: null }),
    });
    const store = withReadCache(scripted);
    await store.getAgent('bot'); // kept under 5
    const n = reads();
    await nextTurn();
    await store.getAgent('bot');
    expect(reads()).toBe(n);
    await nextTurn();
    epoch = 3; // restored: the rows kept under 5 are not known to be current
    await store.getAgent('bot');
    expect(reads()).toBe(n + 1);
    await nextTurn();
    epoch = 5; // back to a value seen before, with other rows behind it: read again
    await raw.putEntities({ agents: [agent('suspended')], users: [], resources: [] });
    expect((await store.getAgent('bot'))?.status).toBe('suspended');
  });

  it('a row read while another call saw the epoch move is served but not kept', async () => {
    const { raw, reads } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    let epoch = 1;
    const slowRow: Store = Object.assign(Object.create(raw) as Store, {
      cacheEpoch: async () => ({ n: epoch, policyVersion: null }),
      getAgent: async (id: string) => {
        // While this row is being read, the epoch moves and another call sees it.
        epoch = 2;
        await nextTurn();
        await store.getUser('nobody');
        return raw.getAgent(id);
      },
    });
    const store = withReadCache(slowRow);
    await store.getAgent('bot'); // read under 1; 2 was seen meanwhile: not kept
    const n = reads();
    await nextTurn();
    await store.getAgent('bot');
    expect(reads()).toBeGreaterThan(n);
  });

  it('shares rows frozen: a caller that would change one fails instead of changing it for everyone', async () => {
    const { raw } = counted();
    await raw.putEntities({ agents: [agent()], users: [], resources: [] });
    const store = withReadCache(raw);
    const a = (await store.getAgent('bot'))!;
    expect(() => {
      (a as { status: string }).status = 'active-forever';
    }).toThrow(TypeError);
    expect(() => {
      a.roles.push('admin');
    }).toThrow(TypeError);
    expect((await store.getAgent('bot'))?.roles).toEqual(['support']);
  });

  it('does not keep misses: an unknown key is asked of the store every time', async () => {
    const { raw, reads } = counted();
    const store = withReadCache(raw);
    expect(await store.findApiKeyByHash('nope')).toBeNull();
    expect(await store.findApiKeyByHash('nope')).toBeNull();
    expect(reads()).toBe(2);
    await raw.putApiKey(key({ hash: 'nope' }));
    expect((await store.findApiKeyByHash('nope'))?.id).toBe('k1');
  });

  it('bounds each kind of row', async () => {
    const { raw, reads } = counted();
    await raw.putEntities({
      agents: ['a1', 'a2', 'a3'].map((id) => ({ ...agent(), id })),
      users: [],
      resources: [],
    });
    const store = withReadCache(raw, { maxEntries: 2 });
    for (const id of ['a1', 'a2', 'a3']) await store.getAgent(id);
    expect(store.readCacheStats().entries).toBe(2);
    const n = reads();
    await store.getAgent('a1'); // the oldest went out
    expect(reads()).toBe(n + 1);
  });

  it('a failed epoch read fails the call (no stale row instead)', async () => {
    const { raw } = counted();
    await raw.putApiKey(key());
    let fail = false;
    const flaky: Store = Object.assign(Object.create(raw) as Store, {
      cacheEpoch: async () => {
        if (fail) throw new Error('store away');
        return raw.cacheEpoch();
      },
    });
    const store = withReadCache(flaky);
    await store.findApiKeyByHash('h1');
    fail = true;
    await nextTurn();
    await expect(store.findApiKeyByHash('h1')).rejects.toThrow('store away');
  });
});
