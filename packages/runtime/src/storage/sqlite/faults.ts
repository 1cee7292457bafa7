/**
 * How the SQLite driver meets faults: error translation into the port's vocabulary, and waiting
 * for another process's lock without blocking the event loop (see docs/adr/0016).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { MandateError, type Logger } from '../../kernel/index.js';
import { storeUnavailable } from '../unavailable.js';

/**
 * The longest one attempt may wait inside SQLite's own busy handler. better-sqlite3 is synchronous,
 * so that wait blocks the whole process: it is kept to a few milliseconds, enough to ride out
 * another writer's ordinary commit, and longer waits happen between attempts, asynchronously.
 */
export const LOCK_SLICE_MS = 10;
/** The first pause between attempts; it doubles up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 2;
const MAX_PAUSE_MS = 50;

/*
 * Result codes meaning "this database cannot be used right now" rather than "this request is
 * wrong". better-sqlite3 reports extended codes (e.g. SQLITE_IOERR_WRITE), so match by prefix.
 */
const UNAVAILABLE = [
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_READONLY',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_PERM',
  'SQLITE_NOMEM',
  'SQLITE_PROTOCOL',
  'SQLITE_AUTH',
];

const codeOf = (err: unknown): string | null => (err instanceof Database.SqliteError ? err.code : null);

/** Another connection holds the lock this call needs (SQLITE_BUSY and its extended codes). */
export const isBusy = (err: unknown): boolean => codeOf(err)?.startsWith('SQLITE_BUSY') === true;

/** SQLite found the file damaged (a page that is not what it should be, or not a database at all). */
export const isCorrupt = (err: unknown): boolean => {
  const code = codeOf(err);
  return code !== null && (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'));
};

/** The file (or SQLite's page cap) has no room for the write. */
export const isFull = (err: unknown): boolean => codeOf(err)?.startsWith('SQLITE_FULL') === true;

/** Translates a driver error into the port's error vocabulary; anything not from SQLite passes through. */
export function translate(err: unknown, log: Logger): unknown {
  if (err instanceof MandateError) return err;
  if (err instanceof Database.SqliteError) {
    const code = err.code;
    if (UNAVAILABLE.some((c) => code.startsWith(c))) {
      log.error('sqlite store unavailable', { code });
      if (isBusy(err)) return storeUnavailable('locked', 'the database is locked by another writer', err);
      if (isFull(err)) return storeUnavailable('full', 'the database is full', err);
      if (isCorrupt(err))
        return storeUnavailable(
          'corrupt',
          'the database file is corrupt: nothing more is written to it (restore it from a backup, or repair it, and restart)',
          err,
        );
      return storeUnavailable('unreachable', 'the database is unavailable', err);
    }
    if (code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY') || code.startsWith('SQLITE_CONSTRAINT_UNIQUE')) {
      // SQLite's message names the columns ("UNIQUE constraint failed: approvals.id"): an operator
      // can act on that, and it carries no values.
      return new MandateError('conflict', `the record already exists (${err.message})`, { cause: err });
    }
    return new MandateError('internal', 'database error', { cause: err });
  }
  // A closed handle throws TypeError before reaching SQLite.
  if (err instanceof TypeError && /database connection is not open/.test(err.message)) {
    return storeUnavailable('closed', 'store is closed', err);
  }
  return err;
}

/**
 * Runs `attempt` (one synchronous driver call, a whole transaction at most) until it gets past
 * SQLITE_BUSY, pausing asynchronously between tries so the event loop keeps serving `/healthz`,
 * reads and everything else; after `budgetMs` the last BUSY is final. Retrying is safe because a
 * BUSY call changed nothing: better-sqlite3 rolls a failed transaction back, and a write is
 * refused its lock before it writes.
 */
export async function retryWhileBusy<T>(
  attempt: () => T,
  budgetMs: number,
  isClosed: () => boolean,
): Promise<T> {
  let expired = budgetMs <= LOCK_SLICE_MS;
  let timer: NodeJS.Timeout | undefined;
  let pause = FIRST_PAUSE_MS;
  try {
    for (;;) {
      if (isClosed()) throw storeUnavailable('closed', 'store is closed');
      try {
        return attempt();
      } catch (err) {
        if (!isBusy(err) || expired) throw err;
        // Timed by a timer rather than a clock: the budget is wall time the caller waits.
        timer ??= setTimeout(() => (expired = true), budgetMs - LOCK_SLICE_MS);
        await sleep(pause);
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
