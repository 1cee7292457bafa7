/** How the PostgreSQL driver names faults in the port's vocabulary (see docs/configuration.md#faults). */
import pg from 'pg';
import { MandateError, type Logger } from '../../kernel/index.js';
import { storeUnavailable } from '../unavailable.js';

/** Node socket errors that mean the server cannot be reached. */
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
/** Messages pg raises without a code when a connection dies or cannot be had in time. */
const DEAD_CONNECTION =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Cannot use a pool after calling end|Client was closed|not queryable|Query read timeout/i;

/** True when `err` means the server cannot be used now (as opposed to "this statement is wrong"). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NET_CODES.has(code)) return true;
    // 25P03: the server ended this session, idle in a transaction for too long (a stall here).
    // 25006: read-only transaction — a standby after a failover, or a database set read-only: the
    // connection is dropped (a fresh one may reach the primary), not handed back to the pool.
    if (err instanceof pg.DatabaseError && (code === '25P03' || code === '25006')) return true;
    // SQLSTATE classes: 08 connection, 28 auth, 3D no database, 53 resources (disk full, too many
    // connections), 57 operator intervention (admin shutdown, cancel), 58 system/IO errors.
    if (err instanceof pg.DatabaseError && /^(08|28|3D|53|57|58)/.test(code)) return true;
  }
  return DEAD_CONNECTION.test(err.message);
}

/** `constraint tools_pkey on table tools`, as the server reported it: something an operator can act on. */
function describeConstraint(err: pg.DatabaseError): string {
  const parts: string[] = [];
  if (err.constraint) parts.push(`constraint ${err.constraint}`);
  if (err.table) parts.push(`on table ${err.table}`);
  return parts.length ? parts.join(' ') : 'no constraint named by the server';
}

/** Translates a driver error into the port's error vocabulary; anything not from pg passes through. */
export function translate(err: unknown, log: Logger): unknown {
  if (err instanceof MandateError) return err;
  // 55P03 lock_not_available: lock_timeout ran out waiting on another session (a stalled node).
  if (err instanceof pg.DatabaseError && err.code === '55P03') {
    log.warn('postgres lock wait timed out', { error: err.message });
    return storeUnavailable('locked', 'the database is locked by another session', err);
  }
  if (isUnavailable(err)) {
    const code = (err as { code?: unknown }).code ?? null;
    log.error('postgres store unavailable', { code, error: (err as Error).message });
    // 53100 disk_full, 53200 out_of_memory, 53300 too_many_connections … only the first is "full".
    if (code === '53100') return storeUnavailable('full', 'the database is full', err);
    return storeUnavailable('unreachable', 'the database is unavailable', err);
  }
  if (err instanceof pg.DatabaseError) {
    // 42501 insufficient_privilege: the role Mandate connects as may not do what the store needs (a
    // privilege revoked, a role set up by hand). Not this request's fault and not a bug: the store is
    // unavailable until an operator grants it (it was a 500 `internal` that named nothing).
    if (err.code === '42501') {
      log.error('postgres refused a statement: the role lacks a privilege', { error: err.message });
      return storeUnavailable(
        'unreachable',
        `the database refused this role a privilege it needs (${err.message}): grant it (docs/configuration.md#faults)`,
        err,
      );
    }
    if (err.code === '23505')
      return new MandateError('conflict', `the record already exists (${describeConstraint(err)})`, {
        cause: err,
      });
    return new MandateError('internal', 'database error', { cause: err });
  }
  return err;
}
