import type Database from 'better-sqlite3';
import type { Row } from '../sql-rows.js';

/** What the SQLite store lends the modules it is split into: its error boundaries, statements and transactions. */
export interface SqliteDeps {
  db: Database.Database;
  /** A read, translated at the driver's error boundary. */
  run: <T>(fn: () => T) => Promise<T>;
  /** A write: resolves once its commit is on the disk. */
  write: <T>(fn: () => T) => Promise<T>;
  /** An IMMEDIATE (write-locked) transaction. */
  tx: <T>(fn: () => T) => T;
  /** A DEFERRED transaction: one snapshot for a multi-statement read. */
  readTx: <T>(fn: () => T) => T;
  all: (sql: string, ...params: unknown[]) => Row[];
  get: (sql: string, ...params: unknown[]) => Row | undefined;
  exec: (sql: string, ...params: unknown[]) => Database.RunResult;
  /** The statement of `sql`, prepared once. */
  prep: (sql: string) => Database.Statement;
}
