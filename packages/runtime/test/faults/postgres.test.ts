import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, disposeAll, tempDir } from '../fixtures/mandate.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { KEYS, client, refund, type HttpResult } from '../fixtures/http.js';
import { createPostgresStore, type PostgresStoreOptions } from '../../src/storage/postgres/index.js';
import { unavailableReason } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/port.js';
import { auditEvent, everyStoreCall, expectChain, testSealer } from '../../src/storage/contract/index.js';
import {
  killChildren,
  postgresUrl,
  sleep,
  spawnServe,
  startProxy,
  stopServe,
  terminateBackends,
  uniqueName,
  withClient,
  writeServeConfig,
  type TcpProxy,
} from './helpers.js';

/*
 * Issue 9, "PostgreSQL connections lost under load crash the node". Every test kills only the
 * connections it opened (its own application_name) or cuts its own TCP proxy: the shared server,
 * which other people use, is never stopped.
 */

const url = POSTGRES_URL ?? '';
const schemas: string[] = [];
const stores: Store[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const p of proxies.splice(0)) await p.close();
});
afterAll(async () => {
  killChildren();
  if (POSTGRES_URL)
    await withClient(url, async (c) => {
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    });
  await disposeAll();
});

/** A store on `schema`; `app` goes in the URL (what an operator would do), `port` to a proxy. */
function store(schema: string, opts: { app?: string; port?: number; poolSize?: number } = {}): Store {
  const s = createPostgresStore(postgresUrl(url, opts), {
    schema,
    poolSize: opts.poolSize ?? 4,
    connectTimeoutMs: 3000,
  });
  stores.push(s);
  return s;
}

const freshSchema = () => {
  const s = uniqueName('mandate_faults');
  schemas.push(s);
  return s;
};

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!POSTGRES_URL)('postgres driver under lost connections', () => {
  it('names its connections with application_name; one in the URL wins', async () => {
    const app = uniqueName('mandate_app');
    const own = createPostgresStore(url, { schema: freshSchema(), applicationName: app });
    const byUrl = createPostgresStore(postgresUrl(url, { app: `${app}_url` }), {
      schema: freshSchema(),
      applicationName: app,
    });
    stores.push(own, byUrl);
    await own.migrate();
    await byUrl.migrate();
    const count = (name: string) =>
      withClient(url, async (c) =>
        Number(
          (await c.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [name]))
            .rows[0].n,
        ),
      );
    const [mine, theirs] = [await count(app), await count(`${app}_url`)];
    expect(mine).toBeGreaterThan(0);
    expect(theirs).toBeGreaterThan(0);
  });

  it('survives its backends being terminated while appending: no crash, store_unavailable or success, one chain', async () => {
    const schema = freshSchema();
    const app = uniqueName('mandate_kill');
    const s = store(schema, { app, poolSize: 6 });
    await s.migrate();
    const outcomes = { ok: 0, unavailable: 0 };
    let stop = false;
    const writer = async () => {
      let n = 0;
      while (!stop) {
        try {
          await s.appendAudit([auditEvent(n++)], testSealer);
          // The bounded checks take a connection of their own too (checkTimeoutMs).
          await s.cacheEpoch();
          await s.getActivePolicyVersion();
          outcomes.ok++;
        } catch (err) {
          // Anything but store_unavailable (a raw driver error, an internal error) fails the test.
          expect(unavailableReason(err)).toBe('unreachable');
          outcomes.unavailable++;
        }
      }
    };
    // An unhandled 'error' event from a pg client is an uncaught exception: in `mandate serve`, the end.
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const writers = Array.from({ length: 6 }, writer);
      await withClient(url, async (c) => {
        for (let i = 0; i < 25; i++) {
          await terminateBackends(c, app);
          await sleep(40);
        }
      });
      stop = true;
      await Promise.all(writers);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    // Reconnected: the pool replaced every killed connection.
    await s.appendAudit([auditEvent(9999)], testSealer);
    expect(outcomes.unavailable).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
    expectChain(await s.readAudit(0, 100_000));
  });

  it('fails every method with store_unavailable while the server is away, and works again once it is back', async () => {
    const schema = freshSchema();
    await store(schema).migrate();
    const proxy = await startProxy('127.0.0.1', Number(new URL(url).port || 5432));
    proxies.push(proxy);
    const s = store(schema, { port: proxy.port });
    await s.ping();
    proxy.cut();
    for (const { name, call } of everyStoreCall(s)) {
      const err = await call().then(
        () => new Error(`${name} resolved while the server was away`),
        (e: unknown) => e,
      );
      expect({ name, reason: unavailableReason(err) }).toEqual({ name, reason: 'unreachable' });
    }
    proxy.restore();
    await s.ping();
    const [r] = await s.appendAudit([auditEvent(1)], testSealer);
    expect(r!.seq).toBe(1);
  });

  it('the activation listener reconnects and listens again after its connection is killed', async () => {
    const schema = freshSchema();
    const app = uniqueName('mandate_listen');
    const listener = store(schema, { app });
    const writer = store(schema);
    await writer.migrate();
    const heard: string[] = [];
    await listener.watchPolicyActivations!((v) => heard.push(v));
    const activate = async (version: string) => {
      await writer.savePolicySet({ version, policies: {}, schema: '', createdAt: 't', source: 'test' });
      await writer.activatePolicySet(version, 't');
    };
    await activate('v1');
    await until('v1 is heard', () => heard.includes('v1'));
    // Kill every connection of the listening store, the LISTEN one included.
    await withClient(url, async (c) => {
      await until('the listener is connected', async () => (await terminateBackends(c, app)) > 0);
    });
    // Activations after the reconnection are pushed again (the 1 s poll is not involved here).
    await until(
      'an activation after the kill is heard',
      async () => {
        const v = `v-${heard.length}-${Math.random()}`;
        await activate(v);
        await sleep(300);
        return heard.includes(v);
      },
      20_000,
    );
  });

  /** A migrated fresh schema and a store on it with one pooled connection, through a proxy of its own. */
  async function oneConnectionBehindProxy(opts: Omit<PostgresStoreOptions, 'schema' | 'poolSize'>) {
    const schema = freshSchema();
    await store(schema).migrate();
    const proxy = await startProxy('127.0.0.1', Number(new URL(url).port || 5432));
    proxies.push(proxy);
    const s = createPostgresStore(postgresUrl(url, { port: proxy.port }), { schema, poolSize: 1, ...opts });
    stores.push(s);
    return { proxy, s };
  }

  /** `p`'s outcome, or `'pending'` if it has none after `ms`. */
  const within = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
    Promise.race([p, sleep(ms).then(() => 'pending' as const)]);

  /**
   * A second store on `schema` behind a proxy of its own, appending one record: the proxy freezes
   * once the chain's lock is held (in the seal), as if the node were paused there. `appended` is
   * the append's outcome (it can only fail), `release()` cuts the link for good.
   */
  async function stalledNode(schema: string, opts: { idleInTransactionTimeoutMs: number }) {
    const proxy = await startProxy('127.0.0.1', Number(new URL(url).port || 5432));
    proxies.push(proxy);
    const s = createPostgresStore(postgresUrl(url, { port: proxy.port }), { schema, poolSize: 2, ...opts });
    await s.ping();
    const appended = s
      .appendAudit([auditEvent(500)], (head, events) => {
        proxy.freeze();
        return testSealer(head, events);
      })
      .then(
        () => new Error('the stalled append resolved'),
        (e: unknown) => e,
      );
    await sleep(200);
    return { appended, release: () => proxy.cut(), close: () => s.close() };
  }

  it('a node stalled holding the audit lock does not stop the others: the server ends its transaction', async () => {
    const schema = freshSchema();
    const other = store(schema);
    await other.migrate();
    await other.appendAudit([auditEvent(1)], testSealer);
    const stalled = await stalledNode(schema, { idleInTransactionTimeoutMs: 1000 });
    // Without the bound the lock is held until TCP keepalive gives up: hours.
    const t0 = Date.now();
    const appending = other.appendAudit([auditEvent(2)], testSealer);
    const appended = await within(appending, 8000);
    const waitedMs = Date.now() - t0;
    // The stalled node gets its connection back only as an error, never as a written record. (Cut
    // before asserting: without the bound, this is what frees the lock and ends the test.)
    stalled.release();
    await appending;
    expect(appended).not.toBe('pending');
    expect(waitedMs).toBeLessThan(5000);
    expect(unavailableReason(await stalled.appended)).toBe('unreachable');
    await stalled.close();
    const chain = await other.readAudit(0, 100);
    expectChain(chain);
    expect(chain.map((r) => r.seq)).toEqual([1, 2]);
  });

  it('a check of the active policy version on a black-holed link fails in time, and the next one works', async () => {
    const { proxy, s } = await oneConnectionBehindProxy({ checkTimeoutMs: 500 });
    expect(await s.getActivePolicyVersion()).toBeNull();
    // The pool's one connection black-holed: without the bound, the check waits for TCP keepalive.
    proxy.freeze();
    const check = s.getActivePolicyVersion().then(
      () => 'answered',
      (e: unknown) => unavailableReason(e),
    );
    const outcome = await within(check, 5000);
    proxy.cut();
    proxy.restore();
    await check;
    expect(outcome).toBe('unreachable');
    // A fresh connection for the next check (the pool has room for one only: the dead one is gone).
    expect(await s.getActivePolicyVersion()).toBeNull();
    expect((await s.cacheEpoch()).n).toBeGreaterThanOrEqual(0);
  });

  it('an audit append on a black-holed link fails in time (queryTimeoutMs), and the next one works', async () => {
    // A probe lost the server mid-append: the audit writer, and with it every decision and the
    // node's shutdown, waited for TCP keepalive (about two hours), even after the server was back.
    const { proxy, s } = await oneConnectionBehindProxy({ lockTimeoutMs: 300, queryTimeoutMs: 800 });
    await s.appendAudit([auditEvent(1)], testSealer);
    proxy.freeze();
    const append = s.appendAudit([auditEvent(2)], testSealer).then(
      () => 'appended',
      (e: unknown) => unavailableReason(e),
    );
    const outcome = await within(append, 5000);
    proxy.cut();
    proxy.restore();
    await append;
    expect(outcome).toBe('unreachable');
    // The dead connection is gone: the next append takes a fresh one, and the chain holds.
    await s.appendAudit([auditEvent(3)], testSealer);
    const chain = await s.readAudit(0, 100);
    expectChain(chain);
    expect(chain.length).toBeGreaterThanOrEqual(2);
  });

  it('a read-only session (a standby after a failover) is store_unavailable, and its connection is not reused', async () => {
    // A probe set the database read-only and back: 25006 was an internal error and its read-only
    // connections went back into the pool, failing decisions for 30–40 s after the fault cleared.
    const schema = freshSchema();
    await store(schema).migrate();
    const u = new URL(url);
    u.searchParams.set('options', `-c search_path=${schema} -c default_transaction_read_only=on`);
    const s = createPostgresStore(u.toString(), { schema, poolSize: 1 });
    stores.push(s);
    const failed = await s.appendAudit([auditEvent(1)], testSealer).then(
      () => 'appended',
      (e: unknown) => unavailableReason(e) ?? (e as { code?: string }).code,
    );
    expect(failed).toBe('unreachable');
    // And /readyz's ping says so: it took writes for granted (SELECT 1) while every decision failed.
    expect(unavailableReason(await s.ping().catch((e: unknown) => e))).toBe('unreachable');
  });

  it('a privilege revoked (42501) is store_unavailable naming what was refused, not internal', async () => {
    // A probe revoked INSERT on audit_events from the node's role: every decision failed closed, as
    // a 500 `internal` that named nothing an operator could act on.
    const schema = freshSchema();
    await store(schema).migrate();
    const role = uniqueName('mandate_limited');
    await withClient(url, async (c) => {
      await c.query(`CREATE ROLE "${role}" LOGIN`);
      await c.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
      await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`);
      await c.query(`REVOKE INSERT ON "${schema}".audit_events FROM "${role}"`);
    });
    try {
      const u = new URL(url);
      u.username = role;
      const s = createPostgresStore(u.toString(), { schema, poolSize: 1 });
      stores.push(s);
      const err = await s.appendAudit([auditEvent(1)], testSealer).then(
        () => null,
        (e: unknown) => e,
      );
      expect(unavailableReason(err), String(err)).toBe('unreachable');
      expect((err as Error).message).toMatch(/permission denied .*audit_events/);
      // What the role may still do goes on: nothing was appended, the trail reads as empty.
      expect(await s.readAudit(0, 10)).toEqual([]);
      await s.close();
    } finally {
      await withClient(url, async (c) => {
        await c.query(`DROP OWNED BY "${role}"`);
        await c.query(`DROP ROLE "${role}"`);
      });
    }
  });

  it('ping answers within its bound on a black-holed link, the wait for a connection included', async () => {
    const { proxy, s } = await oneConnectionBehindProxy({ checkTimeoutMs: 500 });
    await s.ping();
    proxy.freeze();
    // The pool's one connection held by an append waiting on the dead link: the ping waits for none.
    const stuck = s.appendAudit([auditEvent(1)], testSealer).catch(() => 'failed');
    const pinged = await within(
      s.ping().then(
        () => 'ready',
        (e: unknown) => unavailableReason(e),
      ),
      3000,
    );
    proxy.cut();
    proxy.restore();
    await stuck;
    expect(pinged).toBe('unreachable');
  });

  it('ping says locked while a stalled node holds the audit lock, and ready once it is let go', async () => {
    // A probe: /readyz said ready for the whole of a stall while every decision waited lock_timeout
    // and failed 503 (SQLite's ping says `locked` when it cannot take the write lock).
    const schema = freshSchema();
    const s = store(schema, { poolSize: 2 });
    await s.migrate();
    await s.ping();
    const stalled = await stalledNode(schema, { idleInTransactionTimeoutMs: 60_000 });
    await sleep(1200);
    const pinged = await s.ping().then(
      () => 'ready',
      (e: unknown) => unavailableReason(e),
    );
    stalled.release();
    await stalled.appended;
    await stalled.close();
    expect(pinged).toBe('locked');
    await until('ping says ready', () =>
      s.ping().then(
        () => true,
        () => false,
      ),
    );
  });

  it('a node waiting on the lock a stalled node holds answers store_unavailable (locked) after lock_timeout', async () => {
    const schema = freshSchema();
    const waiter = createPostgresStore(url, { schema, poolSize: 2, lockTimeoutMs: 500 });
    stores.push(waiter);
    await waiter.migrate();
    const stalled = await stalledNode(schema, { idleInTransactionTimeoutMs: 60_000 });
    const waiting = waiter.appendAudit([auditEvent(2)], testSealer).then(
      () => 'appended',
      (e: unknown) => unavailableReason(e),
    );
    const waited = await within(waiting, 8000);
    // The stalled node's link cut for good: the server ends its session, the lock is free again.
    stalled.release();
    await waiting;
    expect(waited).toBe('locked');
    expect(unavailableReason(await stalled.appended)).toBe('unreachable');
    await stalled.close();
    await until('the lock is free', async () =>
      waiter.appendAudit([auditEvent(3)], testSealer).then(
        () => true,
        () => false,
      ),
    );
    expectChain(await waiter.readAudit(0, 100));
  });
});

describe.skipIf(!POSTGRES_URL)('a node under lost connections (real binary, real HTTP)', () => {
  beforeAll(() => ensureBuilt());

  it('answers 503 while the database is away, reconnects, never crashes, and every allow has its record', async () => {
    const schema = freshSchema();
    await withClient(url, (c) => c.query(`CREATE SCHEMA "${schema}"`));
    const app = uniqueName('mandate_node');
    const proxy = await startProxy('127.0.0.1', Number(new URL(url).port || 5432));
    proxies.push(proxy);
    const dir = tempDir('mandate-pgfault-');
    const config = writeServeConfig(dir, postgresUrl(url, { port: proxy.port, schema, app }));
    const node = await spawnServe(config);
    expect(node.url, node.stderr()).not.toBeNull();
    const api = client(node.url!);

    const results: HttpResult[] = [];
    let stop = false;
    const load = async () => {
      while (!stop) {
        try {
          results.push(await api.decide(KEYS.supportBot, refund(120)));
        } catch {
          // A connection refused would mean the process is gone: checked below.
          await sleep(50);
        }
      }
    };
    const loaders = Array.from({ length: 6 }, load);
    // A node that died is said at once, with its stderr, not as a wait that timed out.
    const allowsSince = (i: number) => {
      if (node.child.exitCode !== null || node.child.signalCode !== null)
        throw new Error(
          `the node exited (${node.child.exitCode ?? node.child.signalCode}): ${node.stderr()}`,
        );
      return results.slice(i).filter((r) => r.status === 200 && r.body.effect === 'allow').length;
    };

    await until('the node decides under load', () => allowsSince(0) > 5, 60_000);
    // 1. Its connections are killed again and again (pg_terminate_backend).
    await withClient(url, async (c) => {
      for (let i = 0; i < 15; i++) {
        await terminateBackends(c, app);
        await sleep(150);
      }
    });
    const afterKills = results.length;
    await until('decisions are allowed again after the kills', () => allowsSince(afterKills) > 3, 60_000);

    // 2. The server "stops immediately": every connection is reset and new ones are refused.
    proxy.cut();
    const cutAt = results.length;
    await until('a 503 while the database is away', () => results.slice(cutAt).some((r) => r.status === 503));
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, store: 'unavailable', storeReason: 'unreachable' });
    expect((await api.get('/healthz')).status).toBe(200);
    await sleep(1000);
    // 3. It comes back: the node reconnects by itself.
    proxy.restore();
    const backAt = results.length;
    await until('decisions are allowed again after the restart', () => allowsSince(backAt) > 3, 60_000);
    stop = true;
    await Promise.all(loaders);

    expect(node.child.exitCode, node.stderr()).toBeNull();
    expect((await api.get('/readyz')).status).toBe(200);
    // Only answers and 503s with a store code: no 500, no crash, no hang.
    const statuses = new Set(results.map((r) => r.status));
    expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    const unavailable = results.filter((r) => r.status === 503).map((r) => r.body?.error?.code);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.filter((c) => c !== 'store_unavailable' && c !== 'audit_unavailable')).toEqual([]);

    expect(await stopServe(node)).toEqual({ code: 0, signal: null });

    // SECURITY: no allow without its record, and the chain verifies.
    const allowed = results
      .filter((r) => r.status === 200 && r.body.effect === 'allow')
      .map((r) => r.body.decisionId as string);
    const recorded = await withClient(url, async (c) => {
      const rows = await c.query(
        `SELECT decision_id, effect FROM "${schema}".audit_events WHERE type = 'decision'`,
      );
      return new Map(
        rows.rows.map((r: { decision_id: string; effect: string }) => [r.decision_id, r.effect]),
      );
    });
    expect(allowed.filter((id) => recorded.get(id) !== 'allow')).toEqual([]);
    const verify = await runCli(['audit', 'verify', '--config', config, '--json'], { timeoutMs: 120_000 });
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 300_000);
});
