import type pg from 'pg';
import type { Tool } from '@mandate/protocol';
import { MandateError, silentLogger, type Logger } from '../../kernel/index.js';
import { activationConflict, type PolicySetSummary, type Store } from '../port.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { CACHE_EPOCH_SQL } from '../shared-migrations.js';
import { createPostgresIdempotency } from './idempotency.js';
import { createPostgresUiSessions } from './ui-sessions.js';
import { createPostgresUsage } from './usage.js';
import { createPostgresPersonal } from './personal.js';
import { createPostgresEntities } from './entities.js';
import { AUDIT_LOCK_HELD_MS_SQL, createPostgresAudit } from './audit.js';
import { createPostgresConsent } from './consent.js';
import type { PostgresDeps } from './deps.js';
import { translate } from './faults.js';
import { createPostgresPool, type PostgresSessionOptions } from './pool.js';
import { watchActivations } from './listener.js';
import { storeUnavailable } from '../unavailable.js';
import {
  json,
  parse,
  str,
  strOrNull,
  type Row,
  policySetFromRow,
  apiKeyFromRow,
  pinFromRow,
  apiKeyParams,
} from '../sql-rows.js';

/** The audit lock held longer than this (ms) by one transaction: `/readyz` says `locked`. An append holds it for milliseconds. */
const AUDIT_LOCK_READY_MS = 1000;

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions extends PostgresSessionOptions {
  logger?: Logger;
}

export { POSTGRES_AUDIT_LOCK_KEY } from './audit.js';
/** Keeps two nodes starting at once from applying the same migration twice. */
const MIGRATE_LOCK = '7731948201550002';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The PostgreSQL driver (pg; only this folder imports it), for several `mandate serve` nodes
 * sharing one database. Postgres commits synchronously by default; this driver relies on that.
 */
export function createPostgresStore(url: string, opts: PostgresStoreOptions = {}): Store {
  const log = opts.logger ?? silentLogger;
  const schema = opts.schema;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new MandateError('bad_request', `invalid schema name ${JSON.stringify(schema)}`);
  }
  const { connection, pool, tx, checked, withinCheckTimeout } = createPostgresPool(url, opts);
  // An idle client whose server went away emits here; without a listener Node would crash. The
  // pool drops that client and opens a fresh one for the next query: that is the reconnection.
  pool.on('error', (err) => log.warn('postgres idle connection error', { error: err.message }));
  let closed = false;
  /** Stops the activation listeners still running, at close. */
  const listeners = new Set<() => Promise<void>>();
  // NOTIFY is database-wide: one channel per schema keeps isolated deployments (and tests) apart.
  const channel = `mandate_policy_${(schema ?? 'public').toLowerCase()}`.slice(0, 63);

  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) throw storeUnavailable('closed', 'store is closed');
    try {
      return await fn();
    } catch (err) {
      throw translate(err, log);
    }
  };
  const rows = async (sql: string, params: unknown[] = []): Promise<Row[]> =>
    (await pool.query<Row>(sql, params)).rows;
  const one = async (sql: string, params: unknown[] = []): Promise<Row | undefined> =>
    (await rows(sql, params))[0];

  const deps: PostgresDeps = { run, pool, tx, rows, one };

  return {
    kind: 'postgres',

    migrate: () =>
      run(() =>
        tx(async (c) => {
          // Another node may be migrating for longer than a lock wait is bounded to: wait it out.
          await c.query('SET LOCAL lock_timeout = 0');
          await c.query(longStatement(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`));
          if (schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
          await c.query(
            'CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
          );
          const done = new Set(
            (await c.query<Row>('SELECT name FROM schema_migrations')).rows.map((r) => str(r.name)),
          );
          const applied: string[] = [];
          for (const m of POSTGRES_MIGRATIONS) {
            if (done.has(m.name)) continue;
            await c.query(longStatement(m.sql));
            await c.query('INSERT INTO schema_migrations (name) VALUES ($1)', [m.name]);
            applied.push(m.name);
          }
          if (applied.length) log.info('postgres migrations applied', { applied });
          return applied;
        }),
      ),
    ping: () =>
      run(async () => {
        // SECURITY (readiness): bounded as a whole, the wait for a connection included — a link
        // black-holed left /readyz unanswered while every pooled connection waited on it (a probe) —
        // and a database that takes no writes is not ready: a read-only one (a standby after a
        // failover) said ready while every decision failed.
        const row = await withinCheckTimeout(
          checked(
            `SELECT current_setting('transaction_read_only') AS ro, ${AUDIT_LOCK_HELD_MS_SQL} AS held_ms`,
          ),
        );
        if (row?.ro === 'on')
          throw storeUnavailable('unreachable', 'the database is read-only: it takes no audit records');
        // A session holding the audit lock this long (a node stalled mid-append) holds up every
        // decision of every node until it lets go or the server ends it: said here, as SQLite's
        // ping says `locked` when it cannot take the write lock (decisions said 503 while ready).
        const heldMs = Number(row?.held_ms ?? 0);
        if (heldMs > AUDIT_LOCK_READY_MS)
          throw storeUnavailable(
            'locked',
            `the audit lock has been held by one session for ${heldMs} ms (a node stalled mid-append?): decisions wait for it`,
          );
      }),
    ensureSecret: (name, candidate) =>
      run(async () => {
        await pool.query('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
          name,
          candidate,
        ]);
        const r = await one('SELECT value FROM secrets WHERE name = $1', [name]);
        if (!r) throw new MandateError('internal', `the secret ${name} is missing`);
        return str(r.value);
      }),
    cacheEpoch: () =>
      run(async () => {
        const r = await checked(CACHE_EPOCH_SQL);
        if (!r) throw new MandateError('internal', 'the cache epoch row is missing');
        return { n: Number(r.n), policyVersion: r.v === null ? null : String(r.v) };
      }),
    async close() {
      if (closed) return;
      closed = true;
      try {
        for (const unwatch of [...listeners]) await unwatch();
      } finally {
        await pool.end();
      }
    },

    ...createPostgresEntities(deps),

    putTools: (tools: Tool[]) =>
      run(() =>
        tx(async (c) => {
          // Replacements serialise: two nodes starting at once both DELETE what they see and then
          // INSERT positions 0…n, so without this the second one's INSERT meets the first one's
          // rows (23505 on tools_pkey) once that commits. Readers are not blocked (MVCC).
          await c.query('LOCK TABLE tools IN SHARE ROW EXCLUSIVE MODE');
          await c.query('DELETE FROM tools');
          for (const [i, t] of tools.entries()) {
            await c.query('INSERT INTO tools (position, action, doc) VALUES ($1, $2, $3)', [
              i,
              t.action,
              json(t),
            ]);
          }
        }),
      ),
    listTools: () =>
      run(async () => (await rows('SELECT doc FROM tools ORDER BY position')).map((r) => parse<Tool>(r.doc))),

    savePolicySet: (set) =>
      run(async () => {
        await pool.query(
          `INSERT INTO policy_sets (version, policies, schema_text, created_at, source) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (version) DO NOTHING`,
          [set.version, json(set.policies), set.schema, set.createdAt, set.source],
        );
      }),
    activatePolicySet: (version, at, expected) =>
      run(async () => {
        const inserted = await tx(async (c) => {
          // Activations serialise (reads go on): no other node can activate between the check of
          // the active version and the insert, so a set activated by two nodes at once is one.
          await c.query('LOCK TABLE policy_activations IN SHARE ROW EXCLUSIVE MODE');
          const known = await c.query('SELECT 1 FROM policy_sets WHERE version = $1', [version]);
          if (known.rowCount !== 1) throw new MandateError('not_found', `no policy set ${version}`);
          const active = await c.query<{ version: string }>(
            'SELECT version FROM policy_activations ORDER BY ord DESC LIMIT 1',
          );
          const current = active.rows[0]?.version ?? null;
          if (current === version) return false;
          if (expected !== undefined && current !== expected) throw activationConflict(current, expected);
          await c.query('INSERT INTO policy_activations (version, activated_at) VALUES ($1, $2)', [
            version,
            at,
          ]);
          return true;
        });
        // P5 across nodes: every listening node reloads now (the version poll is the backstop).
        if (inserted) await pool.query('SELECT pg_notify($1, $2)', [channel, version]);
        return inserted;
      }),
    async watchPolicyActivations(onActivated) {
      if (closed) throw storeUnavailable('closed', 'store is closed');
      let stop: () => Promise<void>;
      try {
        stop = await watchActivations(
          {
            client: connection,
            channel,
            log,
            activeVersion: async () => {
              const r = await checked('SELECT version FROM policy_activations ORDER BY ord DESC LIMIT 1');
              return r ? String(r.version) : null;
            },
          },
          onActivated,
        );
      } catch (err) {
        throw translate(err, log);
      }
      const unwatch = async () => {
        listeners.delete(unwatch);
        await stop();
      };
      listeners.add(unwatch);
      return unwatch;
    },
    getActivePolicyVersion: () =>
      run(async () => {
        const r = await checked('SELECT version FROM policy_activations ORDER BY ord DESC LIMIT 1');
        return r ? String(r.version) : null;
      }),
    getActivePolicySet: () =>
      run(async () => {
        const r = await one(
          'SELECT s.* FROM policy_activations a JOIN policy_sets s ON s.version = a.version ORDER BY a.ord DESC LIMIT 1',
        );
        return r ? policySetFromRow(r) : null;
      }),
    getPolicySet: (version) =>
      run(async () => {
        const r = await one('SELECT * FROM policy_sets WHERE version = $1', [version]);
        return r ? policySetFromRow(r) : null;
      }),
    setShadowPolicy: (version, at) =>
      run(async () => {
        if (version !== null && !(await one('SELECT 1 FROM policy_sets WHERE version = $1', [version])))
          throw new MandateError('not_found', `no policy set ${version}`);
        await pool.query(
          `INSERT INTO policy_shadow (id, version, set_at) VALUES (1, $1, $2)
           ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, set_at = EXCLUDED.set_at`,
          [version, at],
        );
        // Every listening node reloads its shadow now (the poll is the backstop).
        await pool.query('SELECT pg_notify($1, $2)', [channel, 'shadow']);
      }),
    getShadowPolicy: () =>
      run(async () => {
        const r = await one('SELECT version, set_at FROM policy_shadow WHERE id = 1 AND version IS NOT NULL');
        return r ? { version: str(r.version), setAt: str(r.set_at) } : null;
      }),
    listPolicySets: () =>
      run(async () =>
        (
          await rows(
            `SELECT s.version, s.created_at, s.source,
               (SELECT a.activated_at FROM policy_activations a WHERE a.version = s.version ORDER BY a.ord DESC LIMIT 1)
                 AS activated_at,
               s.version = (SELECT a.version FROM policy_activations a ORDER BY a.ord DESC LIMIT 1) AS active
             FROM policy_sets s ORDER BY s.ord DESC`,
          )
        ).map((r): PolicySetSummary => ({
          version: str(r.version),
          createdAt: str(r.created_at),
          source: str(r.source),
          active: r.active === true,
          activatedAt: strOrNull(r.activated_at),
        })),
      ),

    putApiKey: (k) =>
      run(async () => {
        await pool.query(
          `INSERT INTO api_keys (id, hash, role, subject, name, created_at, revoked_at, expires_at, last_used_at, origin)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, role = excluded.role, subject = excluded.subject,
             name = excluded.name, created_at = excluded.created_at, revoked_at = excluded.revoked_at,
             expires_at = excluded.expires_at, last_used_at = excluded.last_used_at, origin = excluded.origin`,
          apiKeyParams(k),
        );
      }),
    findApiKeyByHash: (hash) =>
      run(async () => {
        const r = await one('SELECT * FROM api_keys WHERE hash = $1 ORDER BY ord LIMIT 1', [hash]);
        return r ? apiKeyFromRow(r) : null;
      }),
    listApiKeys: () =>
      run(async () => (await rows('SELECT * FROM api_keys ORDER BY ord')).map(apiKeyFromRow)),
    getApiKey: (id) =>
      run(async () => {
        const r = await one('SELECT * FROM api_keys WHERE id = $1', [id]);
        return r ? apiKeyFromRow(r) : null;
      }),
    revokeApiKey: (id, at) =>
      run(async () => {
        const r = await pool.query(
          'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
          [at, id],
        );
        return r.rowCount === 1;
      }),
    touchApiKey: (id, at) =>
      run(async () => {
        await pool.query(
          'UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)',
          [at, id],
        );
      }),

    ...createPostgresConsent(deps),

    putToolPin: (pin) =>
      run(async () => {
        await pool.query(
          `INSERT INTO tool_pins (server, tool, hash, definition, status, first_seen_at, updated_at, approved_by,
             approved_hash, approved_definition)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (server, tool) DO UPDATE SET hash = excluded.hash, definition = excluded.definition,
             status = excluded.status, first_seen_at = excluded.first_seen_at, updated_at = excluded.updated_at,
             approved_by = excluded.approved_by, approved_hash = excluded.approved_hash,
             approved_definition = excluded.approved_definition`,
          [
            pin.server,
            pin.tool,
            pin.hash,
            JSON.stringify(pin.definition),
            pin.status,
            pin.firstSeenAt,
            pin.updatedAt,
            pin.approvedBy,
            pin.approvedHash,
            pin.approvedDefinition === null ? null : JSON.stringify(pin.approvedDefinition),
          ],
        );
      }),
    getToolPin: (server, tool) =>
      run(async () => {
        const r = await one('SELECT * FROM tool_pins WHERE server = $1 AND tool = $2', [server, tool]);
        return r ? pinFromRow(r) : null;
      }),
    listToolPins: (server) =>
      run(async () =>
        (server === undefined
          ? await rows('SELECT * FROM tool_pins ORDER BY server COLLATE "C", tool COLLATE "C"')
          : await rows('SELECT * FROM tool_pins WHERE server = $1 ORDER BY tool COLLATE "C"', [server])
        ).map(pinFromRow),
      ),

    ...createPostgresIdempotency(deps),
    ...createPostgresUiSessions(deps),
    ...createPostgresUsage(deps),
    ...createPostgresPersonal(deps),

    ...createPostgresAudit(deps),
  };
}

/**
 * A statement allowed to run for hours (`queryTimeoutMs` bounds the others): waiting for another
 * node's migration, and a migration itself on a large trail (an index over every record).
 */
function longStatement(text: string): pg.QueryConfig {
  // pg reads `query_timeout` from a query's config too (its typings do not list it).
  const config = { text, query_timeout: 6 * 3600_000 };
  return config;
}
