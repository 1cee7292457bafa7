/**
 * The cache epoch's triggers (ADR 0026, migrations 090 and 091), checked against the live schema:
 * a change to any column of a cached table moves the epoch, made straight in the database as an
 * operator's shell would — except a key's `last_used_at`, which nodes write once a minute per key
 * and which no cached answer depends on. Columns are read from the database, so a column added by
 * a later migration is covered without editing this test.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { CACHED_TABLES } from '../../src/storage/shared-migrations.js';
import type { Store } from '../../src/storage/port.js';
import { apiKey } from '../../src/storage/contract/index.js';
import { POSTGRES_URL, dropSchemas, freshSchema, removeTempDirs, tempDir } from './helpers.js';

afterAll(async () => {
  removeTempDirs();
  if (POSTGRES_URL) await dropSchemas(POSTGRES_URL);
});

/** Columns whose change the cache does not need to see. */
const NOT_CACHED: Record<string, string[]> = { api_keys: ['last_used_at'] };

/** One row in each cached table, through the store, so that every UPDATE below touches a row. */
async function seed(store: Store): Promise<void> {
  await store.putEntities({
    agents: [{ id: 'bot', roles: ['support'], status: 'active', attributes: {} }],
    users: [{ id: 'u1', roles: ['support'], status: 'active', attributes: {} }],
    resources: [{ type: 'Customer', id: 'c-1', attributes: {}, tags: [] }],
  });
  await store.putApiKey(apiKey('k1'));
  await store.createGrant({
    id: 'g1',
    user: 'u1',
    agent: 'bot',
    actions: ['payments.refund'],
    resources: [],
    resourceAttributes: {},
    limits: [],
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: '2030-01-01T00:00:00.000Z',
    revokedAt: null,
    parentId: null,
    createdBy: 'user:u1',
  });
}

/**
 * Updates each column of each cached table (`UPDATE t SET c = c`) and expects the epoch to move
 * for every column but the uncached ones; then the same through the store for a key's use.
 */
async function checkTriggers(
  store: Store,
  columns: (table: string) => Promise<string[]>,
  exec: (sql: string) => Promise<number>,
): Promise<void> {
  const out: Record<string, boolean> = {};
  const expected: Record<string, boolean> = {};
  for (const table of CACHED_TABLES) {
    for (const column of await columns(table)) {
      const before = (await store.cacheEpoch()).n;
      // Setting a column to itself is an update of that column to SQLite and PostgreSQL triggers.
      expect(await exec(`UPDATE ${table} SET "${column}" = "${column}"`)).toBeGreaterThan(0);
      out[`${table}.${column}`] = (await store.cacheEpoch()).n !== before;
      expected[`${table}.${column}`] = !(NOT_CACHED[table] ?? []).includes(column);
    }
  }
  expect(Object.keys(out)).toContain('api_keys.last_used_at');
  expect(out).toEqual(expected);
  // Through the store: touching a key leaves the epoch, revoking it moves it.
  const e = (await store.cacheEpoch()).n;
  await store.touchApiKey('k1', '2026-01-01T00:00:00.000Z');
  expect((await store.cacheEpoch()).n).toBe(e);
  await store.revokeApiKey('k1', '2026-01-01T00:00:00.000Z');
  expect((await store.cacheEpoch()).n).not.toBe(e);
}

describe('cache epoch triggers on SQLite', () => {
  it('every column of a cached table moves the epoch, except a key’s last use', async () => {
    const file = join(tempDir(), 'm.db');
    const store = createSqliteStore(file);
    await store.migrate();
    await seed(store);
    const db = new Database(file);
    try {
      await checkTriggers(
        store,
        async (t) => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name),
        async (sql) => db.prepare(sql).run().changes,
      );
    } finally {
      db.close();
      await store.close();
    }
  });
});

describe.skipIf(!POSTGRES_URL)('cache epoch triggers on PostgreSQL', () => {
  it('every column of a cached table moves the epoch, except a key’s last use', async () => {
    const schema = freshSchema();
    const store = createPostgresStore(POSTGRES_URL!, { schema });
    await store.migrate();
    await seed(store);
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    try {
      // The operator's session has the default search_path; the triggers still find the epoch.
      await checkTriggers(
        store,
        async (t) =>
          (
            await c.query<{ column_name: string }>(
              'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
              [schema, t],
            )
          ).rows.map((r) => r.column_name),
        async (sql) => (await c.query(sql.replace(/^UPDATE (\w+)/, `UPDATE "${schema}".$1`))).rowCount ?? 0,
      );
    } finally {
      await c.end();
      await store.close();
    }
  });
});
