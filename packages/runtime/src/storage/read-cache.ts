/**
 * The read cache (ADR 0026): the rows every decision reads — the API key, the agent, the user, the
 * resource, the grants — served from memory, behind the store's cache epoch.
 *
 * SECURITY: a cached row is only ever served to a call that has read the epoch *after it started*
 * and found it equal to the epoch the row was read under. Every write to a cached table moves the
 * epoch in the writer's own transaction (triggers, migration 090), whoever writes: this node,
 * another node, an operator's shell. So a revocation committed before a request arrives is seen by
 * that request on every node, exactly as without the cache; the cache only saves the row reads.
 */
import type { Agent, Resource, User } from '@mandate/protocol';
import type { ApiKeyRecord, GrantFilter, GrantRecord, Store } from './port.js';

/** Counters for `/metrics` and tests. */
export interface ReadCacheStats {
  hits: number;
  misses: number;
  /** Epoch reads sent to the store (concurrent calls share one where it is safe). */
  epochReads: number;
  /** Calls that shared an epoch read: one begun in their turn of the event loop, or one not begun yet. */
  turnShared: number;
  /** Times a new epoch emptied the cache. */
  invalidations: number;
  entries: number;
}

/** A store whose hot reads go through the read cache; everything else is the store itself. */
export interface ReadCachedStore extends Store {
  readCacheStats(): ReadCacheStats;
  /**
   * Whether a row for this API-key hash is kept, under any epoch: a hint for scheduling only (a
   * request with a key this node served lately may wait for its body before it is authenticated),
   * never an answer — the key is still read behind the epoch.
   */
  holdsApiKey(hash: string): boolean;
  /**
   * The store's cache epoch as read by a read that began after this call (shared by the calls of
   * one turn of the event loop, as every cached read): the decision path reads it first, so that
   * the active policy version read with it (`onPolicyVersion`) is checked before any decision.
   */
  freshEpoch(): Promise<number>;
}

export interface ReadCacheOptions {
  /** Most rows kept per kind (keys, agents, users, resources, grants, grant lists). Default 10,000. */
  maxEntries?: number;
  /**
   * Told the active policy version each epoch read found, with when (`performance.now()`) that read
   * began: the hot path's check that no other node has activated another set (DESIGN.md, Storage).
   */
  onPolicyVersion?: (version: string | null, began: number) => void;
}

interface Slot<T> {
  epoch: number;
  value: T;
}

/** Wraps `store` so its hot reads are cached behind its cache epoch. */
export function withReadCache(store: Store, opts: ReadCacheOptions = {}): ReadCachedStore {
  const maxEntries = Math.max(1, Math.floor(opts.maxEntries ?? 10_000));
  const stats = { hits: 0, misses: 0, epochReads: 0, turnShared: 0, invalidations: 0 };
  const maps = {
    keys: new Map<string, Slot<ApiKeyRecord>>(),
    agents: new Map<string, Slot<Agent>>(),
    users: new Map<string, Slot<User>>(),
    resources: new Map<string, Slot<Resource>>(),
    grants: new Map<string, Slot<GrantRecord>>(),
    grantLists: new Map<string, Slot<GrantRecord[]>>(),
  };
  /** The epoch seen last; the maps hold rows read under it only. */
  let newest = -1;

  // Epoch reads. A read already under way may have started before the caller saw some write
  // committed, so a caller never joins it: it waits for the next read, which starts after the
  // caller arrived and is shared by everyone who arrived meanwhile.
  let inFlight: Promise<number> | null = null;
  let next: Promise<number> | null = null;
  const readEpoch = (): Promise<number> => {
    stats.epochReads++;
    const began = performance.now();
    const p = store.cacheEpoch().then((e) => {
      opts.onPolicyVersion?.(e.policyVersion, began);
      return e.n;
    });
    inFlight = p;
    const done = () => {
      if (inFlight === p) inFlight = null;
    };
    p.then(done, done);
    return p;
  };
  const sharedRead = (): Promise<number> => {
    if (!inFlight) return readEpoch();
    if (!next) {
      const current = inFlight;
      const settle = () => undefined;
      next = current.then(settle, settle).then(() => {
        next = null;
        return readEpoch();
      });
    }
    return next;
  };
  // Within one turn of the event loop (one I/O callback and the microtasks it runs) every call
  // may share one epoch read started in that turn: whatever the turn handles arrived before the
  // turn began — its bytes were read at the start of the callback, or in an earlier one — so a
  // read started during the turn started after each of those requests arrived. The turn ends when
  // its microtasks are drained, which is when a tick queued from them runs. A write through this
  // store ends the sharing at once, so a call that reads after its own write sees it.
  let turnEpoch: Promise<number> | null = null;
  const endTurn = () => {
    turnEpoch = null;
  };
  // A call with no read of its turn to share waits for one that begins at the loop's next check
  // phase (`setImmediate`): every request whose bytes this poll phase handed over — one I/O
  // callback each — joins it, and it begins after each of them arrived (and after any write
  // they made or waited for). Its waiters go on in the turn it began in, so they share it there
  // too: one read for a whole burst of requests instead of one per socket that had data.
  let waiting: Promise<number> | null = null;
  const beginShared = (): Promise<number> => {
    waiting = null;
    const p = sharedRead();
    turnEpoch = p;
    // Queued from a microtask: a tick queued from the callback itself would run before the
    // microtasks in which the waiters go on, ending the turn before them.
    queueMicrotask(() =>
      process.nextTick(() => {
        if (turnEpoch === p) turnEpoch = null;
      }),
    );
    return p;
  };
  const freshEpoch = (): Promise<number> => {
    const shared = turnEpoch ?? waiting;
    if (shared) {
      stats.turnShared++;
      return shared;
    }
    const p = new Promise<number>((resolve, reject) => {
      setImmediate(() => beginShared().then(resolve, reject));
    });
    waiting = p;
    return p;
  };

  const observe = (epoch: number): void => {
    if (epoch === newest) return;
    // A newer epoch, or an older one — which only a database restored under the node gives, since
    // epoch reads never overlap and are seen in order: either way the kept rows are not current.
    newest = epoch;
    if (Object.values(maps).some((m) => m.size > 0)) stats.invalidations++;
    for (const m of Object.values(maps)) m.clear();
  };

  /** The epoch as read after the call began, the kept rows emptied if it moved. */
  const currentEpoch = async (): Promise<number> => {
    const epoch = await freshEpoch();
    observe(epoch);
    return epoch;
  };

  async function cached<T>(
    map: Map<string, Slot<T>>,
    key: string,
    load: () => Promise<T | null>,
  ): Promise<T | null> {
    const epoch = await currentEpoch();
    const slot = map.get(key);
    if (slot && slot.epoch === epoch) {
      stats.hits++;
      return slot.value;
    }
    stats.misses++;
    // Read after the epoch: the row is at least as new as that epoch.
    const value = await load();
    // Misses are not kept (a flood of unknown keys must not push out the known ones), nor is a row
    // read under an epoch that another call has seen change meanwhile.
    if (value === null || epoch !== newest) return value;
    deepFreeze(value);
    if (map.size >= maxEntries) map.delete(map.keys().next().value!);
    map.set(key, { epoch, value });
    return value;
  }

  // Every other method may write: each call ends the turn's shared epoch, before and after. A plain
  // read on the hot path (PLAIN_READS) goes to the store as it is: it writes nothing to be seen.
  const passThrough: Record<string, unknown> = {};
  for (const name of Object.keys(store) as (keyof Store)[]) {
    const method = store[name];
    if (typeof method !== 'function' || CACHED_READS.has(name) || PLAIN_READS.has(name)) continue;
    passThrough[name] = (...args: unknown[]) => {
      endTurn();
      const out = (method as (...a: unknown[]) => unknown).apply(store, args);
      if (out instanceof Promise) return out.finally(endTurn);
      endTurn();
      return out;
    };
  }
  const cachedStore: ReadCachedStore = Object.assign(Object.create(store) as Store, passThrough, {
    kind: store.kind,
    findApiKeyByHash: (hash: string) => cached(maps.keys, hash, () => store.findApiKeyByHash(hash)),
    getAgent: (id: string) => cached(maps.agents, id, () => store.getAgent(id)),
    getUser: (id: string) => cached(maps.users, id, () => store.getUser(id)),
    getResource: (type: string, id: string) =>
      cached(maps.resources, `${type}\u0000${id}`, () => store.getResource(type, id)),
    getGrant: (id: string) => cached(maps.grants, id, () => store.getGrant(id)),
    listGrants: async (filter: GrantFilter) => {
      const key = grantFilterKey(filter);
      // A filter field this cache does not know is not keyed on: such a list is read each time.
      if (key === null) return store.listGrants(filter);
      return (await cached(maps.grantLists, key, () => store.listGrants(filter))) ?? [];
    },
    holdsApiKey: (hash: string) => maps.keys.has(hash),
    freshEpoch: currentEpoch,
    readCacheStats: (): ReadCacheStats => ({
      ...stats,
      entries: Object.values(maps).reduce((n, m) => n + m.size, 0),
    }),
  });
  return cachedStore;
}

/** The reads this cache serves; every other method of the store passes through. */
const CACHED_READS: ReadonlySet<string> = new Set([
  'cacheEpoch',
  'findApiKeyByHash',
  'getAgent',
  'getUser',
  'getResource',
  'getGrant',
  'listGrants',
]);

/** Reads on a decision's path that are not cached (always read from the store) and write nothing. */
const PLAIN_READS: ReadonlySet<string> = new Set(['getToolPin']);

function grantFilterKey(f: GrantFilter): string | null {
  const { user, agent, includeRevoked, ...rest } = f;
  if (Object.keys(rest).length > 0) return null;
  return JSON.stringify([user ?? null, agent ?? null, includeRevoked === true]);
}

/** Cached rows are shared by every caller: freezing makes a caller that would change one fail loudly. */
function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
