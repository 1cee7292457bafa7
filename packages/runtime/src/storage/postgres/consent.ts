import type pg from 'pg';
import { MandateError } from '../../kernel/index.js';
import type { ApprovalFilter, ApprovalRecord, ConsentMethods, GrantFilter } from '../port.js';
import { approvalBacklog, grantChainRevoked, pendingBoundReached } from '../port.js';
import {
  GRANT_COLUMNS,
  approvalFromRow,
  grantFromRow,
  grantParams,
  json,
  str,
  type Row,
} from '../sql-rows.js';
import type { PostgresDeps } from './deps.js';
import { postgresWhere } from '../where.js';

/** Approval columns in the order of {@link approvalValues}; `id` first. */
const APPROVAL_COLUMNS = [
  'id',
  'call_hash',
  'decision_id',
  'agent',
  'user_id',
  'action',
  'resource',
  'policy_version',
  'role',
  'quorum',
  'summary',
  'args',
  'status',
  'requested_at',
  'expires_at',
  'votes',
  'vote_count',
  'resolved_at',
  'consumed_at',
  'consumed_by',
  'tool_hash',
  'policy_id',
  'policy_reason',
] as const;

function approvalValues(a: ApprovalRecord): unknown[] {
  return [
    a.id,
    a.callHash,
    a.decisionId,
    a.agent,
    a.user,
    a.action,
    a.resource,
    a.policyVersion,
    a.role,
    a.quorum,
    a.summary,
    json(a.args),
    a.status,
    a.requestedAt,
    a.expiresAt,
    json(a.votes),
    a.votes.length,
    a.resolvedAt,
    a.consumedAt,
    a.consumedBy,
    a.toolHash,
    a.policy?.id ?? null,
    a.policy?.reason ?? null,
  ];
}

/**
 * The first key of the two-key advisory lock an agent's new approvals are counted and inserted
 * under (the second: the hash of the agent id). The two-key space does not overlap the one-key
 * space of the audit and migration locks.
 */
const PENDING_LOCK_CLASS = 773194820;

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Pending approvals of `agent` (for `user`, when given) not expired at `now`. */
async function countPending(q: Queryable, agent: string, now: string, user?: string | null): Promise<number> {
  // Times are ISO strings in TEXT: compared byte-wise, whatever the database's collation.
  const r =
    user === undefined
      ? await q.query<Row>(
          `SELECT COUNT(*) AS n FROM approvals WHERE agent = $1 AND status = 'pending' AND expires_at COLLATE "C" > $2`,
          [agent, now],
        )
      : await q.query<Row>(
          `SELECT COUNT(*) AS n FROM approvals WHERE agent = $1 AND user_id IS NOT DISTINCT FROM $2
             AND status = 'pending' AND expires_at COLLATE "C" > $3`,
          [agent, user, now],
        );
  return Number(r.rows[0]!.n);
}

/** The PostgreSQL driver's consent: approvals (single use by compare-and-set) and grants (revoked with their sub-grants). */
export function createPostgresConsent({ run, pool, tx, rows, one }: PostgresDeps): ConsentMethods {
  return {
    createApproval: (a, cap) =>
      run(async () => {
        const insert = `INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')})
           VALUES (${APPROVAL_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
        if (!cap) {
          await pool.query(insert, approvalValues(a));
          return a;
        }
        // SECURITY: the agent's new approvals are counted and inserted one at a time, on every node:
        // the transaction-scoped lock is held until COMMIT, and each count (READ COMMITTED, a
        // snapshot per statement) is taken after it, so it sees every insert of the holders before.
        return tx(async (c): Promise<ApprovalRecord> => {
          await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [PENDING_LOCK_CLASS, a.agent]);
          const same = (
            await c.query<Row>(
              `SELECT * FROM approvals WHERE agent = $1 AND call_hash = $2 AND status = 'pending' AND expires_at > $3
               ORDER BY ord LIMIT 1`,
              [a.agent, a.callHash, a.requestedAt],
            )
          ).rows[0];
          if (same) return approvalFromRow(same);
          const bound = pendingBoundReached(
            cap,
            await countPending(c, a.agent, a.requestedAt, a.user),
            await countPending(c, a.agent, a.requestedAt),
          );
          if (bound) throw approvalBacklog(a, bound, cap);
          await c.query(insert, approvalValues(a));
          return a;
        });
      }),
    getApproval: (id) =>
      run(async () => {
        const r = await one('SELECT * FROM approvals WHERE id = $1', [id]);
        return r ? approvalFromRow(r) : null;
      }),
    listApprovals: (filter: ApprovalFilter) =>
      run(async () => {
        const w = postgresWhere();
        if (filter.status) w.add('status = ?', filter.status);
        if (filter.agent) w.add('agent = ?', filter.agent);
        if (filter.user) w.add('user_id = ?', filter.user);
        if (filter.roles) w.add('role = ANY(?)', filter.roles);
        // An unknown cursor matches nothing rather than restarting from the newest.
        if (filter.before !== undefined)
          w.add('ord < COALESCE((SELECT ord FROM approvals WHERE id = ?), 0)', filter.before);
        const limit = w.next();
        const sql = `SELECT * FROM approvals ${w.sql()} ORDER BY ord DESC LIMIT ${limit}`;
        return (await rows(sql, [...w.params, Math.max(0, filter.limit ?? 100)])).map(approvalFromRow);
      }),
    countPendingApprovals: ({ agent, user, now }) => run(() => countPending(pool, agent, now, user)),
    updateApproval: (next, expectedStatus, expectedVotes) =>
      run(async () => {
        const n = APPROVAL_COLUMNS.length;
        // SECURITY: single use — the WHERE clause is the compare-and-set. Under READ COMMITTED a
        // concurrent UPDATE of the same row waits, then re-checks the WHERE against the new row
        // version, so only one writer can move an approval out of a given (status, votes) state.
        const res = await pool.query(
          `UPDATE approvals SET ${APPROVAL_COLUMNS.slice(1)
            .map((col, i) => `${col} = $${i + 2}`)
            .join(', ')}
           WHERE id = $1 AND status = $${n + 1} AND vote_count = $${n + 2}
           RETURNING id`,
          [...approvalValues(next), expectedStatus, expectedVotes],
        );
        return res.rowCount === 1;
      }),

    createGrant: (g) =>
      run(async () => {
        const values = grantParams(g);
        const insert = `INSERT INTO grants (${GRANT_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`;
        if (g.revokedAt !== null || g.parentId === null) {
          await pool.query(insert, values);
          return;
        }
        // SECURITY: the chain is locked (FOR SHARE, root first, the order revokeGrant locks in)
        // until the insert commits: a revocation that committed first is read here — a locked row
        // is read as last committed — and one that comes after waits, then finds the new grant.
        await tx(async (c) => {
          const chain = await c.query<Row>(
            `WITH RECURSIVE chain (id, parent_id, depth) AS (
               SELECT id, parent_id, 0 FROM grants WHERE id = $1
               UNION ALL
               SELECT g.id, g.parent_id, c.depth + 1 FROM grants g JOIN chain c ON g.id = c.parent_id
               WHERE c.depth < 1000
             )
             SELECT g.id, g.revoked_at FROM grants g JOIN chain c ON g.id = c.id
             ORDER BY c.depth DESC FOR SHARE OF g`,
            [g.parentId],
          );
          // Nearest first: the parent itself, when it is the one revoked.
          const revoked = chain.rows.reverse().find((r) => r.revoked_at !== null);
          if (revoked) throw grantChainRevoked(g, str(revoked.id));
          await c.query(insert, values);
        });
      }),
    getGrant: (id) =>
      run(async () => {
        const r = await one('SELECT * FROM grants WHERE id = $1', [id]);
        return r ? grantFromRow(r) : null;
      }),
    listGrants: (filter: GrantFilter) =>
      run(async () => {
        const w = postgresWhere();
        if (filter.user) w.add('user_id = ?', filter.user);
        if (filter.agent) w.add('agent = ?', filter.agent);
        if (!filter.includeRevoked) w.add('revoked_at IS NULL');
        return (await rows(`SELECT * FROM grants ${w.sql()} ORDER BY ord DESC`, w.params)).map(grantFromRow);
      }),
    revokeGrant: (id, at) =>
      run(() =>
        // SECURITY: atomic — a grant and everything attenuated from it are revoked in one statement.
        tx(async (c) => {
          // Locked first: a sub-grant being created under it (which holds it FOR SHARE) commits
          // before this goes on, so the next statement's snapshot holds it and revokes it too.
          const root = await c.query('SELECT 1 FROM grants WHERE id = $1 FOR UPDATE', [id]);
          if (root.rowCount !== 1) throw new MandateError('not_found', `no grant ${id}`);
          const res = await c.query<Row>(
            `WITH RECURSIVE tree (id, depth) AS (
               SELECT id, 0 FROM grants WHERE id = $1
               UNION
               SELECT g.id, t.depth + 1 FROM grants g JOIN tree t ON g.parent_id = t.id WHERE t.depth < 1000
             )
             UPDATE grants g SET revoked_at = $2
             FROM (SELECT id, MIN(depth) AS depth FROM tree GROUP BY id) t
             WHERE g.id = t.id AND g.revoked_at IS NULL
             RETURNING g.id, t.depth, g.ord`,
            [id, at],
          );
          // Breadth-first order, like the memory driver: by depth, then by creation.
          return res.rows
            .sort((a, b) => Number(a.depth) - Number(b.depth) || Number(a.ord) - Number(b.ord))
            .map((r) => str(r.id));
        }),
      ),
  };
}
