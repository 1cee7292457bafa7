/**
 * The PostgreSQL driver's connections: the pool with the session bounds every connection starts
 * with, a checkout that can never lose an 'error' event, transactions, and the bounded checks.
 */
import pg from 'pg';
import { MandateError } from '../../kernel/index.js';
import type { Row } from '../sql-rows.js';
import { isUnavailable } from './faults.js';

/** Options of the pool's sessions (part of `PostgresStoreOptions`). */
export interface PostgresSessionOptions {
  /** A schema to keep every table in (created by `migrate()` when missing); the default is the server's search_path. */
  schema?: string;
  /** Maximum pooled connections; default 10. */
  poolSize?: number;
  /** How long to wait for a connection before failing with store_unavailable; default 10 s. */
  connectTimeoutMs?: number;
  /**
   * The `application_name` of every connection (pool and listener), so an operator can tell this
   * node's sessions apart in `pg_stat_activity`; default `mandate`. One in the URL wins.
   */
  applicationName?: string;
  /**
   * `idle_in_transaction_session_timeout` of every pooled session; default 10 s. A node that stalls
   * (paused, its link black-holed) in the middle of a transaction — an audit append holds the
   * chain's lock — has it rolled back by the server and the lock freed for the other nodes.
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * `lock_timeout` of every pooled session; default 20 s. A statement waiting longer for a lock
   * (the audit chain's, a row another node holds) fails `store_unavailable` (`locked`) instead of
   * waiting on. Longer than the idle timeout, so waiters outlast a stalled node's transaction.
   */
  lockTimeoutMs?: number;
  /**
   * How long the two checks a node makes to know its view is current — the active policy version
   * (every second) and the cache epoch (every decision) — may take on their connection; default
   * 3 s. Past it the connection is dropped and the check fails `store_unavailable`: a link that
   * black-holed mid-read would otherwise hold it until TCP keepalive gives up (hours), and the
   * node, unable to confirm its policy set, would answer `503` all that time.
   */
  checkTimeoutMs?: number;
  /**
   * How long any statement may wait for the server's answer on its connection; default
   * `lockTimeoutMs` + 10 s (30 s). Past it the statement fails `store_unavailable` (`unreachable`)
   * and its connection is dropped. A server that vanished mid-append (a host lost, a failover, a
   * partition) otherwise held the audit writer — and so every decision and the node's shutdown —
   * until TCP keepalive gave up, about two hours (a probe); longer than `lockTimeoutMs`, so a lock
   * wait still ends `locked` first.
   */
  queryTimeoutMs?: number;
}

/** Defaults of the session bounds above; one `options` in the URL replaces them all. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
const LOCK_TIMEOUT_MS = 20_000;
const CHECK_TIMEOUT_MS = 3000;

/** A whole, positive number of milliseconds (0 would switch the bound off), or the default. */
function wholeMs(ms: number | undefined, fallback: number): number {
  if (ms === undefined) return fallback;
  if (!Number.isInteger(ms) || ms < 1) throw new MandateError('bad_request', `invalid timeout ${ms} ms`);
  return ms;
}

/** The pool of one store and what the store does with its connections. */
export interface PostgresPool {
  /** The connection settings without the pool's (the activation listener's own connection). */
  connection: pg.ClientConfig;
  pool: pg.Pool;
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
  /** One row of a small read bounded by `checkTimeoutMs`; past it, its connection is dropped. */
  checked(sql: string): Promise<Row | undefined>;
  /** `p`, or a "Query read timeout" rejection (an unavailable store) after `checkTimeoutMs`. */
  withinCheckTimeout<T>(p: Promise<T>): Promise<T>;
}

export function createPostgresPool(url: string, opts: PostgresSessionOptions): PostgresPool {
  const schema = opts.schema;
  const connection: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    // pg applies the URL's parameters over these, so an application_name in the URL wins.
    application_name: (opts.applicationName ?? 'mandate').slice(0, 63),
    // TCP keepalive: a server that vanished without a reset (power cut, partition) is noticed
    // by the OS instead of being waited for forever; probing starts after 10 s idle.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: wholeMs(opts.queryTimeoutMs, wholeMs(opts.lockTimeoutMs, LOCK_TIMEOUT_MS) + 10_000),
  };
  // Startup parameters apply to every pooled connection before its first query, with no race.
  const startup = [
    `-c idle_in_transaction_session_timeout=${wholeMs(opts.idleInTransactionTimeoutMs, IDLE_IN_TRANSACTION_TIMEOUT_MS)}`,
    `-c lock_timeout=${wholeMs(opts.lockTimeoutMs, LOCK_TIMEOUT_MS)}`,
  ];
  if (schema !== undefined) startup.push(`-c search_path="${schema}"`);
  const pool = new pg.Pool({ ...connection, max: opts.poolSize ?? 10, options: startup.join(' ') });

  /**
   * A pooled connection, `onError` attached in the hand-over itself, not after an await: the pool
   * may hand over a fresh connection while the rest of its socket's bytes — a FATAL from the
   * server — are still being parsed, before any promise continuation could attach it. A
   * checked-out client has no pool listener, and an 'error' event with none ends the process.
   */
  const checkout = (onError: (err: Error) => void): Promise<pg.PoolClient> =>
    new Promise<pg.PoolClient>((resolve, reject) => {
      pool.connect((err, c) => {
        if (err || !c) {
          reject(err ?? new Error('Connection terminated: no client'));
          return;
        }
        c.on('error', onError);
        resolve(c);
      });
    });

  /**
   * BEGIN … COMMIT on one pooled connection; a connection that failed is destroyed, not reused.
   * A commit whose answer was lost with the connection rejects although it may have landed: the
   * caller treats it as not written (an audit append then rejects its decisions — never the
   * reverse, an answer without its record).
   */
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    let broken: Error | undefined;
    // A checked-out client has no pool listener: a connection killed between two statements
    // (pg_terminate_backend, a server stop) would be an unhandled 'error' event, ending the
    // process. Here it only marks the client broken; its next query rejects.
    const onError = (err: Error) => {
      broken ??= err;
    };
    const client = await checkout(onError);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      if (broken || isUnavailable(err)) broken ??= err as Error;
      else {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error;
        }
      }
      throw err;
    } finally {
      // Synchronous hand-over: release() attaches the pool's own listener before this one goes.
      client.release(broken);
      client.removeListener('error', onError);
    }
  };

  const checkTimeoutMs = wholeMs(opts.checkTimeoutMs, CHECK_TIMEOUT_MS);
  const withinCheckTimeout = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Query read timeout after ${checkTimeoutMs} ms`)),
          checkTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  };
  /** One row of a small read bounded by `checkTimeoutMs`; past it, its connection is dropped. */
  const checked = async (sql: string): Promise<Row | undefined> => {
    // The listener goes on in the hand-over (checkout): attached after `await pool.connect()`, a
    // backend killed right then emitted 'error' with no listener and ended the process (the
    // faults test's pg_terminate_backend storm, under load).
    const onError = () => {};
    const client = await checkout(onError);
    const query = client.query<Row>(sql);
    try {
      const res = await withinCheckTimeout(query);
      client.release();
      return res.rows[0];
    } catch (err) {
      // Released with an error: the pool ends the connection instead of handing it out again.
      query.catch(() => {});
      client.release(err as Error);
      throw err;
    } finally {
      client.removeListener('error', onError);
    }
  };

  return { connection, pool, tx, checked, withinCheckTimeout };
}
