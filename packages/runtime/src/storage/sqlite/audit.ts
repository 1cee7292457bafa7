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
import { auditFromRow, checkpointFromRow, sinkCursorFromRow, str } from '../sql-rows.js';
import type { SqliteDeps } from './deps.js';
import { sqliteWhere } from '../where.js';

/** The SQLite driver's audit trail: the hash-chained records, signed checkpoints and sink cursors. */
export function createSqliteAudit({ run, write, tx, all, get, exec, prep }: SqliteDeps): AuditMethods {
  const head = (): AuditHead => {
    const r = get('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    return r ? { seq: Number(r.seq), hash: str(r.hash) } : { seq: 0, hash: GENESIS_HASH };
  };
  return {
    getSinkCursor: (sink) =>
      run(() => {
        const r = get('SELECT * FROM sink_cursors WHERE sink = ?', sink);
        return r ? sinkCursorFromRow(r) : null;
      }),
    advanceSinkCursor: (sink, seq, at, hash = null) =>
      write(() => {
        exec(
          `INSERT INTO sink_cursors (sink, seq, hash, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at
           WHERE excluded.seq > sink_cursors.seq`,
          sink,
          seq,
          hash,
          at,
        );
      }),
    rewindSinkCursor: (sink, to, at, expected) =>
      write(() => {
        // Compare-and-set (`IS`: a null hash matches a null one): a node that moved it since wins.
        const r = exec(
          `UPDATE sink_cursors SET seq = ?, hash = ?, updated_at = ?
           WHERE sink = ? AND seq = ? AND hash IS ?`,
          to.seq,
          to.hash,
          at,
          sink,
          expected.seq,
          expected.hash,
        );
        return r.changes > 0;
      }),
    listSinkCursors: () => run(() => all('SELECT * FROM sink_cursors ORDER BY sink').map(sinkCursorFromRow)),

    appendAudit: (events: readonly AuditEvent[], seal: AuditSealer) =>
      write(() =>
        // SECURITY: one chain — the head is read inside the IMMEDIATE (write-locked) transaction, so
        // no other writer can append between reading it and inserting; the commit, once its WAL
        // fsync completed (`write`), is the durability point.
        tx(() => {
          const h = head();
          const records = seal(h, events);
          assertChainExtends(h, records);
          // Prepared once (prep caches by text): this runs on every decision's commit.
          const ins = prep(
            `INSERT INTO audit_events (seq, prev_hash, hash, event_text, type, time, agent, user_id, action, effect, decision_id, seal)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          );
          for (const r of records) {
            const c = r.columns;
            ins.run(
              r.seq,
              r.prevHash,
              r.hash,
              r.eventText,
              c.type,
              c.time,
              c.agent,
              c.user,
              c.action,
              c.effect,
              c.decisionId,
              r.seal ?? null,
            );
          }
          return records;
        }),
      ),
    auditHead: () => run(head),
    readAudit: (afterSeq, limit) =>
      run(() =>
        all(
          'SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?',
          afterSeq,
          Math.max(0, limit),
        ).map(auditFromRow),
      ),
    queryAudit: (f: AuditFilter) =>
      run(() => {
        const w = sqliteWhere();
        auditFilterSql(f, (clause, value) => w.add(clause, value));
        // SECURITY: records are numbered from 1; a row below (put in by hand) is no record, and was
        // served first by `GET /v1/audit` and in place of a decision's own record (a probe).
        w.add('seq >= ?', 1);
        const sql = `SELECT * FROM audit_events ${w.sql()} ORDER BY seq${f.order === 'desc' ? ' DESC' : ''} LIMIT ?`;
        return all(sql, ...w.params, Math.max(0, f.limit)).map(auditFromRow);
      }),
    appendCheckpoint: (cp) =>
      write(() => {
        exec(
          'INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?, ?, ?, ?, ?)',
          cp.seq,
          cp.hash,
          cp.time,
          cp.keyId,
          cp.signature,
        );
      }),
    listCheckpoints: (r: CheckpointRange = {}) =>
      run(() => {
        const w = sqliteWhere();
        checkpointRangeSql(r, (clause, value) => w.add(clause, value));
        const sql = `SELECT * FROM audit_checkpoints ${w.sql()} ORDER BY ord${r.order === 'desc' ? ' DESC' : ''} LIMIT ?`;
        // LIMIT -1: no limit.
        return all(sql, ...w.params, r.limit === undefined ? -1 : Math.max(0, r.limit)).map(
          checkpointFromRow,
        );
      }),
  };
}
