/**
 * The read cache across nodes (ADR 0026): node B serves keys, entities and grants from memory, yet
 * every change made on node A — or by an operator straight in the database — holds on B's very
 * next request. SQLite (two nodes on one file) and PostgreSQL (two nodes on one schema).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Mandate } from '../../src/app/index.js';
import type { ReadCachedStore } from '../../src/storage/read-cache.js';
import { POSTGRES_URL } from '../storage/helpers.js';
import { closeNodesAfterEach, postgresNodes, sqliteNodes } from './nodes.js';

closeNodesAfterEach();

/** A node of the shared store, listening. */
async function listening(m: Mandate): Promise<{ m: Mandate; url: string }> {
  const { url } = await m.listen();
  return { m, url };
}

const refund = JSON.stringify({
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount: 120 },
});

async function call(
  url: string,
  key: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
const decide = async (url: string, key = 'demo-support-bot') => {
  const r = await call(url, key, 'POST', '/v1/decisions', refund);
  const d = r.json as { effect?: string; errors?: { code: string }[]; error?: { code: string } };
  return {
    status: r.status,
    effect: d.effect,
    codes: d.errors?.map((e) => e.code) ?? [],
    error: d.error?.code,
  };
};

/** Runs the scenario on two started nodes; `operator` changes the database directly, as a shell would. */
async function scenario(
  a: { m: Mandate; url: string },
  b: { m: Mandate; url: string },
  operator: (sql: string) => Promise<void>,
) {
  // Warm B's cache, and check it is in use (otherwise what follows would prove nothing).
  expect((await decide(b.url)).effect).toBe('allow');
  expect((await decide(b.url)).effect).toBe('allow');
  const stats = (b.m.store as ReadCachedStore).readCacheStats();
  expect(stats.hits).toBeGreaterThan(0);

  // Agent suspended on A → B refuses at the next request; resumed → allowed again.
  expect((await call(a.url, 'demo-admin', 'POST', '/v1/agents/support-bot/suspend')).status).toBe(200);
  const suspended = await decide(b.url);
  expect(suspended.effect ?? suspended.error).not.toBe('allow');
  expect([...suspended.codes, suspended.error]).toContain('agent_suspended');
  expect((await call(a.url, 'demo-admin', 'POST', '/v1/agents/support-bot/resume')).status).toBe(200);
  expect((await decide(b.url)).effect).toBe('allow');

  // A user's attributes changed on A (alice moved to another tenant) → B's next decision denies.
  const entities = (await call(a.url, 'demo-admin', 'GET', '/v1/entities')).json as {
    users: { id: string; attributes: Record<string, unknown> }[];
  };
  const alice = entities.users.find((u) => u.id === 'alice')!;
  const moved = {
    agents: [],
    resources: [],
    users: [{ ...alice, attributes: { ...alice.attributes, tenant: 'elsewhere' } }],
  };
  expect((await call(a.url, 'demo-admin', 'PUT', '/v1/entities', JSON.stringify(moved))).status).toBe(200);
  expect((await decide(b.url)).effect).toBe('deny');
  const back = { agents: [], resources: [], users: [alice] };
  expect((await call(a.url, 'demo-admin', 'PUT', '/v1/entities', JSON.stringify(back))).status).toBe(200);
  expect((await decide(b.url)).effect).toBe('allow');

  // A key made on A works on B; revoked on A → 401 on B at once.
  const made = await call(
    a.url,
    'demo-admin',
    'POST',
    '/v1/keys',
    JSON.stringify({ role: 'agent', subject: 'support-bot' }),
  );
  expect(made.status).toBe(201);
  const secret = String(made.json.secret);
  expect((await decide(b.url, secret)).effect).toBe('allow');
  expect((await decide(b.url, secret)).effect).toBe('allow');
  expect(
    (await call(a.url, 'demo-admin', 'DELETE', `/v1/keys/${(made.json.key as { id: string }).id}`)).status,
  ).toBe(200);
  const revoked = await decide(b.url, secret);
  expect(revoked.status).toBe(401);

  // Grant revoked on A → B denies with grant_revoked.
  const grants = (await call(a.url, 'demo-admin', 'GET', '/v1/grants?user=alice&agent=support-bot')).json as {
    items: { id: string }[];
  };
  expect(grants.items.length).toBeGreaterThan(0);
  for (const g of grants.items)
    expect((await call(a.url, 'demo-admin', 'DELETE', `/v1/grants/${g.id}`)).status).toBe(200);
  const noGrant = await decide(b.url);
  expect(noGrant.effect).toBe('deny');
  expect(noGrant.codes).toContain('grant_revoked');

  // An operator revokes a key by hand in the database, past every node: B refuses it at once.
  expect((await call(b.url, 'demo-trade-bot', 'GET', '/v1/grants')).status).toBe(200);
  expect((await call(b.url, 'demo-trade-bot', 'GET', '/v1/grants')).status).toBe(200);
  await operator(`UPDATE api_keys SET revoked_at = '2025-01-01T00:00:00.000Z' WHERE name = 'demo-trade-bot'`);
  expect((await call(b.url, 'demo-trade-bot', 'GET', '/v1/grants')).status).toBe(401);
}

describe('read cache: two nodes on one SQLite file', () => {
  it('every change on one node, or by hand, holds on the other at its next request', async () => {
    const { nodes, file } = await sqliteNodes(2);
    const [a, b] = await Promise.all([listening(nodes[0]!), listening(nodes[1]!)]);
    await scenario(a, b, async (sql) => {
      const db = new Database(file);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    });
  });
});

describe.skipIf(!POSTGRES_URL)('read cache: two nodes on one PostgreSQL schema', () => {
  it('every change on one node, or by hand, holds on the other at its next request', async () => {
    const { nodes, schema } = await postgresNodes(2);
    const [a, b] = await Promise.all([listening(nodes[0]!), listening(nodes[1]!)]);
    await scenario(a, b, async (sql) => {
      // The operator's session has the default search_path: the trigger still finds the schema's epoch.
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        await c.query(sql.replace('UPDATE api_keys', `UPDATE "${schema}".api_keys`));
      } finally {
        await c.end();
      }
    });
  });
});
