import type pg from 'pg';
import type { AuditEvent } from '@mandate/protocol';
import {
  GENESIS_HASH,
  type AuditFilter,
  type AuditMethods,
  type AuditHead,
  type AuditSealer,
  type CheckpointRange,
} from '../port.js';
import { assertChainExtends } from '../audit-chain.js';
import { auditFilterSql, checkpointRangeSql } from '../audit-filter.js';
import { auditFromRow, checkpointFromRow, sinkCursorFromRow, str, type Row } from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';
import { postgresWhere } from '../where.js';

/**
 * The advisory lock key (database-wide) every node takes inside its audit append transaction,
 * which is what makes all nodes write one chain. Exported so tests and operators can see it.
 */
export const POSTGRES_AUDIT_LOCK_KEY = '7731948201550001';
const AUDIT_LOCK = POSTGRES_AUDIT_LOCK_KEY;

/**
 * How long (ms) the session holding the audit lock has been in its transaction, by `pg_locks` and
 * `pg_stat_activity` (null when nobody holds it, or the holder is a session of another role this one
 * may not see). Taking nothing itself: readiness must not queue behind the appends it reports on. A
 * bigint advisory key is `classid` (high 32 bits) and `objid` (low 32 bits), `objsubid` 1.
 */
export const AUDIT_LOCK_HELD_MS_SQL = `(SELECT floor(extract(epoch FROM max(clock_timestamp() - a.xact_start)) * 1000)
   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.classid = ${BigInt(AUDIT_LOCK) >> 32n} AND l.objid = ${BigInt(AUDIT_LOCK) & 0xffffffffn}
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

/** Rows per multi-row INSERT: 11 parameters each, well under Postgres's 65535-parameter limit. */
const AUDIT_INSERT_CHUNK = 1000;

type Queryable = Pick<pg.PoolClient, 'query'>;

async function readHead(c: Queryable): Promise<AuditHead> {
  const { rows } = await c.query<Row>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const r = rows[0];
  return r ? { seq: Number(r.seq), hash: str(r.hash) } : { seq: 0, hash: GENESIS_HASH };
}

/** The PostgreSQL driver's audit trail: the hash-chained records, signed checkpoints and sink cursors. */
export function createPostgresAudit({ run, pool, tx, rows, one }: PostgresDeps): AuditMethods {
  return {
    getSinkCursor: (sink) =>
      run(async () => {
        const r = await one('SELECT * FROM sink_cursors WHERE sink = $1', [sink]);
        return r ? sinkCursorFromRow(r) : null;
      }),
    advanceSinkCursor: (sink, seq, at, hash = null) =>
      run(async () => {
        // Forward only, also when two nodes acknowledge batches of one sink out of order.
        await pool.query(
          `INSERT INTO sink_cursors (sink, seq, hash, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at
           WHERE excluded.seq > sink_cursors.seq`,
          [sink, seq, hash, at],
        );
      }),
    rewindSinkCursor: (sink, to, at, expected) =>
      run(async () => {
        // Compare-and-set: a node that moved the cursor since the caller read it wins.
        const r = await pool.query(
          `UPDATE sink_cursors SET seq = $1, hash = $2, updated_at = $3
           WHERE sink = $4 AND seq = $5 AND hash IS NOT DISTINCT FROM $6::text`,
          [to.seq, to.hash, at, sink, expected.seq, expected.hash],
        );
        return (r.rowCount ?? 0) > 0;
      }),
    listSinkCursors: () =>
      run(async () =>
        (await rows('SELECT * FROM sink_cursors ORDER BY sink COLLATE "C"')).map(sinkCursorFromRow),
      ),

    appendAudit: (events: readonly AuditEvent[], seal: AuditSealer) =>
      run(() =>
        // SECURITY: one chain across nodes — the transaction-scoped advisory lock serialises every
        // appender on every node, the head is read after taking it, and COMMIT (synchronous) is the
        // durability point: appendAudit resolves only once the batch is on disk.
        tx(async (c) => {
          await c.query(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`);
          const head = await readHead(c);
          const records = seal(head, events);
          assertChainExtends(head, records);
          for (let i = 0; i < records.length; i += AUDIT_INSERT_CHUNK) {
            const chunk = records.slice(i, i + AUDIT_INSERT_CHUNK);
            const params: unknown[] = [];
            const tuples = chunk.map((r) => {
              const c0 = params.length;
              const col = r.columns;
              params.push(
                r.seq,
                r.prevHash,
                r.hash,
                r.eventText,
                col.type,
                col.time,
                col.agent,
                col.user,
                col.action,
                col.effect,
                col.decisionId,
                r.seal ?? null,
              );
              return `(${Array.from({ length: 12 }, (_, k) => `$${c0 + k + 1}`).join(', ')})`;
            });
            await c.query(
              `INSERT INTO audit_events (seq, prev_hash, hash, event_text, type, time, agent, user_id, action, effect, decision_id, seal)
               VALUES ${tuples.join(', ')}`,
              params,
            );
          }
          return records;
        }),
      ),
    auditHead: () => run(() => readHead(pool)),
    readAudit: (afterSeq, limit) =>
      run(async () =>
        (
          await rows('SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2', [
            afterSeq,
            Math.max(0, limit),
          ])
        ).map(auditFromRow),
      ),
    queryAudit: (f: AuditFilter) =>
      run(async () => {
        const w = postgresWhere();
        auditFilterSql(f, (clause, value) => w.add(clause, value));
        // SECURITY: records are numbered from 1; a row below (put in by hand) is no record, and was
        // served first by `GET /v1/audit` and in place of a decision's own record (a probe).
        w.add('seq >= ?', 1);
        const limit = w.next();
        const sql = `SELECT * FROM audit_events ${w.sql()} ORDER BY seq${f.order === 'desc' ? ' DESC' : ''} LIMIT ${limit}`;
        return (await rows(sql, [...w.params, Math.max(0, f.limit)])).map(auditFromRow);
      }),
    appendCheckpoint: (cp) =>
      run(async () => {
        await pool.query(
          'INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)',
          [cp.seq, cp.hash, cp.time, cp.keyId, cp.signature],
        );
      }),
    listCheckpoints: (r: CheckpointRange = {}) =>
      run(async () => {
        const w = postgresWhere();
        checkpointRangeSql(r, (clause, value) => w.add(clause, value));
        const limit = w.next();
        const sql = `SELECT * FROM audit_checkpoints ${w.sql()} ORDER BY ord${r.order === 'desc' ? ' DESC' : ''} LIMIT ${limit}`;
        // LIMIT NULL: no limit.
        const params = [...w.params, r.limit === undefined ? null : Math.max(0, r.limit)];
        return (await rows(sql, params)).map(checkpointFromRow);
      }),
  };
}
