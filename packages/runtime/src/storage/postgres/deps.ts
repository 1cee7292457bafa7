import type pg from 'pg';
import type { Row } from '../sql-rows.js';

/** What the PostgreSQL store lends the modules it is split into: its error boundary, pool and transactions. */
export interface PostgresDeps {
  /** Translates driver errors at the store's boundary; refuses once the store is closed. */
  run: <T>(fn: () => Promise<T>) => Promise<T>;
  pool: Pick<pg.Pool, 'query'>;
  /** BEGIN … COMMIT on one pooled connection (a connection that failed is destroyed). */
  tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
  rows: (sql: string, params?: unknown[]) => Promise<Row[]>;
  /** The first row, or undefined. */
  one: (sql: string, params?: unknown[]) => Promise<Row | undefined>;
}
