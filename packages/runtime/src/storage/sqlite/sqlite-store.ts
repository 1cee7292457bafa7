import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Tool } from '@mandate/protocol';
import { MandateError, silentLogger, type Logger } from '../../kernel/index.js';
import { activationConflict, type PolicySetSummary, type Store } from '../port.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { CACHE_EPOCH_SQL } from '../shared-migrations.js';
import { createSqliteIdempotency } from './idempotency.js';
import { createSqliteUiSessions } from './ui-sessions.js';
import { createSqliteUsage } from './usage.js';
import { createSqlitePersonal } from './personal.js';
import { createSqliteEntities } from './entities.js';
import { createSqliteAudit } from './audit.js';
import { createSqliteConsent } from './consent.js';
import type { SqliteDeps } from './deps.js';
import { LOCK_SLICE_MS, isBusy, isCorrupt, isFull, retryWhileBusy, translate } from './faults.js';
import { storeUnavailable } from '../unavailable.js';
import { createWalSync, type SyncFile, type WalSync } from './wal-sync.js';
import { SQLITE_AUTOCHECKPOINT_FRAMES, createCheckpointer, type Checkpointer } from './checkpointer.js';
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

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions {
  logger?: Logger;
  /**
   * How long a call waits for another process's lock before failing with store_unavailable
   * (reason `locked`); default 5 s. The wait is asynchronous: other requests go on meanwhile.
   */
  busyTimeoutMs?: number;
  /**
   * Caps the file at this many pages (`PRAGMA max_page_count`): past it writes fail with
   * store_unavailable (reason `full`), as on a full disk. Unset: SQLite's own limit.
   */
  maxPageCount?: number;
  /**
   * How the WAL file is flushed to the disk after a commit; default `fs.fsync`. Tests inject a
   * slow or failing one.
   */
  syncWal?: SyncFile;
  /**
   * Who checkpoints the WAL into the database file: a worker thread (default; checkpointer.ts,
   * docs/adr/0031) or SQLite itself inside the commit that crosses 1,000 frames (`inline`).
   * The numbers tune the worker (tests use small ones).
   */
  checkpoints?: 'inline' | { everyCommits?: number; restartFrames?: number; driver?: string };
}

/** The checkpoint worker of each SQLite store that has one (tests read its counters). */
const checkpointers = new WeakMap<Store, Checkpointer>();

/** The store's checkpoint worker, or undefined when SQLite checkpoints inline (no WAL, or `checkpoints: 'inline'`). */
export function checkpointerOf(store: Store): Checkpointer | undefined {
  return checkpointers.get(store);
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** How long `ping` tries for the write lock before it reports the database locked. */
const PING_LOCK_BUDGET_MS = 250;

/**
 * The WAL file of the connection's main database, or null when it has none (not in WAL mode,
 * `:memory:`, a temporary database). SQLite names it after the full path it opened.
 */
export function walPathOf(db: Database.Database): string | null {
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') return null;
  const main = (db.pragma('database_list') as { name: string; file: string }[]).find(
    (d) => d.name === 'main',
  );
  return main?.file ? `${main.file}-wal` : null;
}

/**
 * Opens (creating when missing) and configures the database file. Exported for the driver's own
 * tests, which read the pragmas back; everything else goes through {@link createSqliteStore}.
 * In WAL mode commits are not synced by SQLite (NORMAL): a writer must sync the WAL file after
 * each commit, as the store does ({@link createWalSync}).
 */
export function openSqliteDatabase(path: string, opts: SqliteStoreOptions = {}): Database.Database {
  try {
    if (path !== ':memory:' && path !== '' && !path.startsWith('file:'))
      mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      // Opening happens before serving, so it may wait the whole budget in SQLite's busy handler:
      // switching a fresh file to WAL needs a moment of exclusive access while other nodes start.
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && path !== ':memory:') {
        // Still durable with synchronous=FULL, but readers now block the writer.
        (opts.logger ?? silentLogger).warn('sqlite could not enable WAL', { mode: String(mode) });
      }
      // SECURITY: durability — a WAL file is synced by the store after every commit, off the
      // event loop (wal-sync.ts, docs/adr/0028), so SQLite need not sync it inside the commit
      // (NORMAL); it still syncs the WAL before and the database after each checkpoint. Without
      // a WAL file (`:memory:`, a temporary database, a file system that refused WAL) SQLite
      // syncs every commit itself (FULL).
      // A first read opens (creating) the WAL file, so the store can open it too.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      db.pragma(walPathOf(db) === null ? 'synchronous = FULL' : 'synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
      // From here on a call blocks the process for one short slice at most; longer waits for
      // another process's lock are asynchronous retries (faults.ts, docs/adr/0016).
      db.pragma(`busy_timeout = ${LOCK_SLICE_MS}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return db;
  } catch (err) {
    const t = translate(err, opts.logger ?? silentLogger);
    if (t instanceof MandateError) throw t;
    // mkdir and similar filesystem failures: the database cannot be opened.
    throw storeUnavailable('unreachable', 'cannot open the database', err);
  }
}

/**
 * The embedded SQLite driver (better-sqlite3; the only module that imports it). Calls are
 * synchronous underneath, so each attempt runs start to end without interleaving inside this
 * process; `BEGIN IMMEDIATE` serialises against other processes, and a call that finds the lock
 * taken waits for it asynchronously (faults.ts), so one waiting write never stalls the process.
 *
 * @param path a file path (its directory is created when missing) or `:memory:`.
 */
export function createSqliteStore(path: string, opts: SqliteStoreOptions = {}): Store {
  const log = opts.logger ?? silentLogger;
  const db = openSqliteDatabase(path, opts);
  let walSync: WalSync | null = null;
  let checkpointer: Checkpointer | null = null;
  try {
    const walPath = walPathOf(db);
    if (walPath !== null) {
      walSync = createWalSync(walPath, opts.syncWal, () => {
        try {
          const r = db.pragma('wal_checkpoint(FULL)') as {
            busy: number;
            log: number;
            checkpointed: number;
          }[];
          log.error('sqlite WAL file gone while open: its records were copied into the database file', {
            walPath,
            ...r[0],
          });
        } catch (err) {
          log.error('sqlite WAL file gone while open, and its records could not be copied', {
            walPath,
            error: String(err),
          });
          throw err;
        }
      });
      if (opts.checkpoints !== 'inline') {
        // PERF: the copy into the database file and its sync leave the event loop (docs/adr/0031).
        db.pragma('wal_autocheckpoint = 0');
        checkpointer = createCheckpointer(walPath.slice(0, -'-wal'.length), {
          ...opts.checkpoints,
          logger: log,
          fallBack: () => {
            if (!closed) db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_FRAMES}`);
          },
        });
      }
    }
  } catch (err) {
    void walSync?.close();
    db.close();
    throw storeUnavailable('unreachable', 'cannot open the database', err);
  }
  const budgetMs = Math.max(0, opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  let closed = false;
  /** The last write failed for lack of room and none has succeeded since: `ping` reports `full`. */
  let full = false;
  /**
   * EVIDENCE: SQLite found the file damaged. Every write fails from then on and `ping` reports
   * `corrupt`: records written into a damaged file were lost with it — a probe truncated the WAL
   * under a running node, and a node restarted on the file logged SQLITE_CORRUPT as a warning,
   * said ready and answered 4,064 allows none of which could be read back.
   */
  let corrupt: MandateError | null = null;

  /**
   * Runs `fn` against the open database — retrying asynchronously while another process holds the
   * lock — and translates driver errors at this one boundary.
   */
  const attempt = async <T>(fn: () => T, write: boolean, budget = budgetMs): Promise<T> => {
    try {
      let out: T;
      try {
        // The hot path: one synchronous call, no timer, no extra await (a write then awaits its fsync).
        if (closed) throw storeUnavailable('closed', 'store is closed');
        // SECURITY: durability — after a failed fsync nothing on this connection can be trusted
        // to be on the disk: every call fails until the store is reopened (docs/adr/0028).
        const lost = walSync?.failure();
        if (lost) throw lost;
        if (write && corrupt) throw corrupt;
        out = fn();
      } catch (err) {
        if (!isBusy(err)) throw err;
        out = await retryWhileBusy(fn, budget, () => closed);
      }
      if (write) {
        checkpointer?.committed();
        // SECURITY: durability — a write resolves only once its commit is on the disk: the WAL's
        // fsync, shared by every commit made before it started, runs off the event loop.
        if (walSync) await walSync.durable();
        full = false;
      }
      return out;
    } catch (err) {
      if (isFull(err)) full = true;
      const t = translate(err, log);
      if (isCorrupt(err) && !corrupt) {
        log.error('sqlite database file is corrupt: writes stop until it is restored', {
          error: String(err),
        });
        corrupt = t as MandateError;
      }
      throw t;
    }
  };
  const run = <T>(fn: () => T): Promise<T> => attempt(fn, false);
  const write = <T>(fn: () => T): Promise<T> => attempt(fn, true);
  // Writes take the write lock up front (IMMEDIATE) so a read-then-write cannot be upgraded into a
  // deadlock; multi-statement reads only need one snapshot (DEFERRED).
  const tx = <T>(fn: () => T): T => db.transaction(fn).immediate();
  const readTx = <T>(fn: () => T): T => db.transaction(fn).deferred();
  // Statements are prepared once per SQL text: preparing costs more than running on the hot path.
  const statements = new Map<string, Database.Statement>();
  const prep = (sql: string): Database.Statement => {
    let st = statements.get(sql);
    if (!st) {
      st = db.prepare(sql);
      statements.set(sql, st);
    }
    return st;
  };
  const all = (sql: string, ...params: unknown[]): Row[] => prep(sql).all(...params) as Row[];
  const get = (sql: string, ...params: unknown[]): Row | undefined =>
    prep(sql).get(...params) as Row | undefined;
  const exec = (sql: string, ...params: unknown[]): Database.RunResult => prep(sql).run(...params);

  const activeVersion = (): string | null => {
    const r = get('SELECT version FROM policy_activations ORDER BY ord DESC LIMIT 1');
    return r ? str(r.version) : null;
  };

  const deps: SqliteDeps = { db, run, write, tx, readTx, all, get, exec, prep };

  const store: Store = {
    kind: 'sqlite',

    migrate: () =>
      write(() =>
        tx(() => {
          exec(
            `CREATE TABLE IF NOT EXISTS schema_migrations (
               name TEXT PRIMARY KEY,
               applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             )`,
          );
          const done = new Set(all('SELECT name FROM schema_migrations').map((r) => str(r.name)));
          const applied: string[] = [];
          for (const m of SQLITE_MIGRATIONS) {
            if (done.has(m.name)) continue;
            db.exec(m.sql);
            exec('INSERT INTO schema_migrations (name) VALUES (?)', m.name);
            applied.push(m.name);
          }
          if (applied.length) log.info('sqlite migrations applied', { applied });
          return applied;
        }),
      ),
    ensureSecret: (name, candidate) =>
      write(() =>
        tx(() => {
          exec(
            'INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
            name,
            candidate,
          );
          return str(get('SELECT value FROM secrets WHERE name = ?', name)!.value);
        }),
      ),
    cacheEpoch: () =>
      run(() => {
        const r = get(CACHE_EPOCH_SQL);
        if (!r) throw new MandateError('internal', 'the cache epoch row is missing');
        return { n: Number(r.n), policyVersion: r.v === null ? null : str(r.v) };
      }),
    async ping() {
      if (corrupt) throw corrupt;
      // Reads a page of the file (a `SELECT 1` would not touch it), so an unreadable file fails here.
      await run(() => get('SELECT count(*) AS n FROM sqlite_master'));
      const pages = await run(() => ({
        count: Number(db.pragma('page_count', { simple: true })),
        max: Number(db.pragma('max_page_count', { simple: true })),
        free: Number(db.pragma('freelist_count', { simple: true })),
      }));
      if (full || (pages.count >= pages.max && pages.free === 0))
        throw storeUnavailable('full', 'the database is full');
      // Takes the write lock and lets it go, writing nothing: tells "locked by another process"
      // from "busy for a moment" within a short, asynchronous budget.
      await attempt(() => tx(() => undefined), false, PING_LOCK_BUDGET_MS);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        // Writes already committed still get their answer before the file goes.
        await walSync?.close();
      } catch (err) {
        log.warn('sqlite WAL file close failed', { error: String(err) });
      }
      // Before the connection: the last one to close checkpoints the rest itself.
      await checkpointer?.close();
      try {
        db.close();
      } catch (err) {
        log.warn('sqlite close failed', { error: String(err) });
      }
    },

    ...createSqliteEntities(deps),

    putTools: (tools: Tool[]) =>
      write(() =>
        tx(() => {
          exec('DELETE FROM tools');
          const ins = db.prepare('INSERT INTO tools (position, action, doc) VALUES (?, ?, ?)');
          tools.forEach((t, i) => ins.run(i, t.action, json(t)));
        }),
      ),
    listTools: () => run(() => all('SELECT doc FROM tools ORDER BY position').map((r) => parse<Tool>(r.doc))),

    savePolicySet: (set) =>
      write(() => {
        exec(
          `INSERT INTO policy_sets (version, policies, schema_text, created_at, source) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (version) DO NOTHING`,
          set.version,
          json(set.policies),
          set.schema,
          set.createdAt,
          set.source,
        );
      }),
    activatePolicySet: (version, at, expected) =>
      write(() =>
        tx(() => {
          if (!get('SELECT 1 FROM policy_sets WHERE version = ?', version)) {
            throw new MandateError('not_found', `no policy set ${version}`);
          }
          // Inside the write lock (IMMEDIATE): no other node can activate between check and insert.
          const current = activeVersion();
          if (current === version) return false;
          if (expected !== undefined && current !== expected) throw activationConflict(current, expected);
          exec('INSERT INTO policy_activations (version, activated_at) VALUES (?, ?)', version, at);
          return true;
        }),
      ),
    getActivePolicyVersion: () => run(() => activeVersion()),
    getActivePolicySet: () =>
      run(() => {
        const r = get(
          `SELECT s.* FROM policy_activations a JOIN policy_sets s ON s.version = a.version ORDER BY a.ord DESC LIMIT 1`,
        );
        return r ? policySetFromRow(r) : null;
      }),
    getPolicySet: (version) =>
      run(() => {
        const r = get('SELECT * FROM policy_sets WHERE version = ?', version);
        return r ? policySetFromRow(r) : null;
      }),
    setShadowPolicy: (version, at) =>
      write(() =>
        tx(() => {
          if (version !== null && !get('SELECT 1 FROM policy_sets WHERE version = ?', version))
            throw new MandateError('not_found', `no policy set ${version}`);
          exec(
            `INSERT INTO policy_shadow (id, version, set_at) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, set_at = excluded.set_at`,
            version,
            at,
          );
        }),
      ),
    getShadowPolicy: () =>
      run(() => {
        const r = get('SELECT version, set_at FROM policy_shadow WHERE id = 1 AND version IS NOT NULL');
        return r ? { version: str(r.version), setAt: str(r.set_at) } : null;
      }),
    listPolicySets: () =>
      run(() =>
        readTx(() => {
          const active = activeVersion();
          return all(
            `SELECT s.version, s.created_at, s.source,
               (SELECT a.activated_at FROM policy_activations a WHERE a.version = s.version ORDER BY a.ord DESC LIMIT 1) AS activated_at
             FROM policy_sets s ORDER BY s.ord DESC`,
          ).map((r): PolicySetSummary => ({
            version: str(r.version),
            createdAt: str(r.created_at),
            source: str(r.source),
            active: r.version === active,
            activatedAt: strOrNull(r.activated_at),
          }));
        }),
      ),

    putApiKey: (k) =>
      write(() => {
        exec(
          `INSERT INTO api_keys (id, hash, role, subject, name, created_at, revoked_at, expires_at, last_used_at, origin)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, role = excluded.role, subject = excluded.subject,
             name = excluded.name, created_at = excluded.created_at, revoked_at = excluded.revoked_at,
             expires_at = excluded.expires_at, last_used_at = excluded.last_used_at, origin = excluded.origin`,
          ...apiKeyParams(k),
        );
      }),
    findApiKeyByHash: (hash) =>
      run(() => {
        const r = get('SELECT * FROM api_keys WHERE hash = ? ORDER BY ord LIMIT 1', hash);
        return r ? apiKeyFromRow(r) : null;
      }),
    listApiKeys: () => run(() => all('SELECT * FROM api_keys ORDER BY ord').map(apiKeyFromRow)),
    getApiKey: (id) =>
      run(() => {
        const r = get('SELECT * FROM api_keys WHERE id = ?', id);
        return r ? apiKeyFromRow(r) : null;
      }),
    revokeApiKey: (id, at) =>
      write(
        () =>
          exec('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', at, id).changes ===
          1,
      ),
    touchApiKey: (id, at) =>
      write(() => {
        exec(
          'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
          at,
          id,
          at,
        );
      }),

    ...createSqliteConsent(deps),

    putToolPin: (pin) =>
      write(() => {
        exec(
          `INSERT INTO tool_pins (server, tool, hash, definition, status, first_seen_at, updated_at, approved_by,
             approved_hash, approved_definition)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (server, tool) DO UPDATE SET hash = excluded.hash, definition = excluded.definition,
             status = excluded.status, first_seen_at = excluded.first_seen_at, updated_at = excluded.updated_at,
             approved_by = excluded.approved_by, approved_hash = excluded.approved_hash,
             approved_definition = excluded.approved_definition`,
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
        );
      }),
    getToolPin: (server, tool) =>
      run(() => {
        const r = get('SELECT * FROM tool_pins WHERE server = ? AND tool = ?', server, tool);
        return r ? pinFromRow(r) : null;
      }),
    listToolPins: (server) =>
      run(() =>
        (server === undefined
          ? all('SELECT * FROM tool_pins ORDER BY server, tool')
          : all('SELECT * FROM tool_pins WHERE server = ? ORDER BY tool', server)
        ).map(pinFromRow),
      ),

    ...createSqliteIdempotency(deps),
    ...createSqliteUiSessions(deps),
    ...createSqliteUsage(deps),
    ...createSqlitePersonal(deps),

    ...createSqliteAudit(deps),

    walCheckpointStats: () => checkpointer?.stats() ?? null,
  };
  if (checkpointer) checkpointers.set(store, checkpointer);
  return store;
}
