import { POSTGRES_MIGRATIONS } from '../../src/storage/postgres/migrations.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { auditEvent, expectChain, testSealer } from '../../src/storage/contract/index.js';
import { POSTGRES_AUDIT_LOCK_KEY, createPostgresStore } from '../../src/storage/postgres/index.js';
import { POSTGRES_URL, appendFromBoth, dropSchemas, freshSchema } from './helpers.js';

describe('postgres driver without a server', () => {
  it('maps a refused connection to store_unavailable', async () => {
    const s = createPostgresStore('postgres://postgres@127.0.0.1:1/none', { connectTimeoutMs: 2000 });
    try {
      await expect(s.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
      await expect(s.migrate()).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      await s.close();
    }
  });

  it('refuses a schema name it would have to quote', () => {
    expect(() => createPostgresStore('postgres://x@127.0.0.1/none', { schema: 'a"; drop' })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });
});

const withServer = POSTGRES_URL ? describe : describe.skip;
if (!POSTGRES_URL)
  console.warn('MANDATE_TEST_POSTGRES_URL is not set: the PostgreSQL driver tests were skipped.');

withServer('postgres driver specifics', () => {
  const url = POSTGRES_URL ?? '';
  afterAll(() => dropSchemas(url));

  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };

  it('creates its schema on migrate, records the migration, and is idempotent', async () => {
    const schema = freshSchema();
    const s = createPostgresStore(url, { schema });
    try {
      expect(await s.migrate()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.name));
      expect(await s.migrate()).toEqual([]);
      const tables = await withClient(async (c) =>
        (
          await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema])
        ).rows.map((r) => r.table_name),
      );
      expect(tables).toEqual(
        expect.arrayContaining([
          'schema_migrations',
          'audit_events',
          'approvals',
          'grants',
          'policy_activations',
        ]),
      );
    } finally {
      await s.close();
    }
  });

  it('two nodes on one database append into one gapless chain (advisory lock)', async () => {
    const schema = freshSchema();
    const a = createPostgresStore(url, { schema, poolSize: 5 });
    const b = createPostgresStore(url, { schema, poolSize: 5 });
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await appendFromBoth(a, b);
      const all = await b.readAudit(0, 100);
      expect(all).toHaveLength(40);
      expectChain(all);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('returns an edited audit row as edited, so the verifier can find it', async () => {
    const schema = freshSchema();
    const s = createPostgresStore(url, { schema });
    try {
      await s.migrate();
      await s.appendAudit([auditEvent(1), auditEvent(2, { effect: 'deny' }), auditEvent(3)], testSealer);
      const forged = JSON.stringify(auditEvent(2, { effect: 'allow' }));
      await withClient((c) =>
        c.query(`UPDATE "${schema}".audit_events SET event_text = $1, effect = 'allow' WHERE seq = 2`, [
          forged,
        ]),
      );

      const all = await s.readAudit(0, 10);
      expect(all[1]!.eventText).toBe(forged);
      expect(all[1]!.columns.effect).toBe('allow');
      expect(await s.queryAudit({ effect: 'deny', limit: 10 })).toEqual([]);
      expect(() => expectChain(all)).toThrow();
    } finally {
      await s.close();
    }
  });

  it('maps an administrator terminating its connection mid-append to store_unavailable, then recovers', async () => {
    const schema = freshSchema();
    const app = `mandate_test_${randomBytes(4).toString('hex')}`;
    const s = createPostgresStore(`${url}${url.includes('?') ? '&' : '?'}application_name=${app}`, {
      schema,
      poolSize: 2,
    });
    try {
      await s.migrate();
      await withClient(async (holder) => {
        // Hold the audit lock so the append parks inside its transaction, then kill its backend.
        await holder.query('SELECT pg_advisory_lock($1)', [POSTGRES_AUDIT_LOCK_KEY]);
        const pending = s.appendAudit([auditEvent(1)], testSealer);
        pending.catch(() => undefined);
        for (let i = 0; i < 100; i++) {
          const { rows } = await holder.query(
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [app],
          );
          if (rows.length) {
            await holder.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
            break;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        await expect(pending).rejects.toMatchObject({ code: 'store_unavailable' });
        await holder.query('SELECT pg_advisory_unlock($1)', [POSTGRES_AUDIT_LOCK_KEY]);
      });
      const [r] = await s.appendAudit([auditEvent(2)], testSealer);
      expect(r!.seq).toBe(1);
    } finally {
      await s.close();
    }
  });
});
