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
import type { SqliteDeps } from './deps.js';
import { sqliteWhere } from '../where.js';

/** The revoked grant nearest to `?` on its way up the chain (itself included), if any. */
const REVOKED_UP_THE_CHAIN = `WITH RECURSIVE chain (id, parent_id, revoked_at, depth) AS (
    SELECT id, parent_id, revoked_at, 0 FROM grants WHERE id = ?
    UNION ALL
    SELECT g.id, g.parent_id, g.revoked_at, c.depth + 1 FROM grants g JOIN chain c ON g.id = c.parent_id
    WHERE c.depth < 1000
  )
  SELECT id FROM chain WHERE revoked_at IS NOT NULL ORDER BY depth LIMIT 1`;

function approvalParams(a: ApprovalRecord): Row {
  return {
    id: a.id,
    call_hash: a.callHash,
    decision_id: a.decisionId,
    agent: a.agent,
    user_id: a.user,
    action: a.action,
    resource: a.resource,
    policy_version: a.policyVersion,
    role: a.role,
    quorum: a.quorum,
    summary: a.summary,
    args: json(a.args),
    status: a.status,
    requested_at: a.requestedAt,
    expires_at: a.expiresAt,
    votes: json(a.votes),
    vote_count: a.votes.length,
    resolved_at: a.resolvedAt,
    consumed_at: a.consumedAt,
    consumed_by: a.consumedBy,
    tool_hash: a.toolHash,
    policy_id: a.policy?.id ?? null,
    policy_reason: a.policy?.reason ?? null,
  };
}

/** The SQLite driver's consent: approvals (single use by compare-and-set) and grants (revoked with their sub-grants). */
export function createSqliteConsent({ db, run, write, tx, all, get, exec }: SqliteDeps): ConsentMethods {
  /** Pending approvals of `agent` (for `user`, when given) not expired at `now`. */
  const countPending = (agent: string, now: string, user?: string | null): number =>
    Number(
      (user === undefined
        ? get(
            `SELECT COUNT(*) AS n FROM approvals WHERE agent = ? AND status = 'pending' AND expires_at > ?`,
            agent,
            now,
          )
        : get(
            `SELECT COUNT(*) AS n FROM approvals WHERE agent = ? AND user_id IS ? AND status = 'pending' AND expires_at > ?`,
            agent,
            user,
            now,
          ))!.n,
    );
  return {
    createApproval: (a, cap) =>
      write(() =>
        // SECURITY: the pending counts are read and the approval inserted under one write lock
        // (BEGIN IMMEDIATE, across processes): no other request is counted in between.
        tx((): ApprovalRecord => {
          if (cap) {
            const same = get(
              `SELECT * FROM approvals WHERE agent = ? AND call_hash = ? AND status = 'pending' AND expires_at > ?
               ORDER BY ord LIMIT 1`,
              a.agent,
              a.callHash,
              a.requestedAt,
            );
            if (same) return approvalFromRow(same);
            const bound = pendingBoundReached(
              cap,
              countPending(a.agent, a.requestedAt, a.user),
              countPending(a.agent, a.requestedAt),
            );
            if (bound) throw approvalBacklog(a, bound, cap);
          }
          exec(
            `INSERT INTO approvals (id, call_hash, decision_id, agent, user_id, action, resource, policy_version, role, quorum,
               summary, args, status, requested_at, expires_at, votes, vote_count, resolved_at, consumed_at, consumed_by,
               tool_hash, policy_id, policy_reason)
             VALUES (@id, @call_hash, @decision_id, @agent, @user_id, @action, @resource, @policy_version, @role, @quorum,
               @summary, @args, @status, @requested_at, @expires_at, @votes, @vote_count, @resolved_at, @consumed_at, @consumed_by,
               @tool_hash, @policy_id, @policy_reason)`,
            approvalParams(a),
          );
          return a;
        }),
      ),
    getApproval: (id) =>
      run(() => {
        const r = get('SELECT * FROM approvals WHERE id = ?', id);
        return r ? approvalFromRow(r) : null;
      }),
    listApprovals: (filter: ApprovalFilter) =>
      run(() => {
        if (filter.roles && filter.roles.length === 0) return [];
        const w = sqliteWhere();
        if (filter.status) w.add('status = ?', filter.status);
        if (filter.agent) w.add('agent = ?', filter.agent);
        if (filter.user) w.add('user_id = ?', filter.user);
        if (filter.roles) w.add(`role IN (${filter.roles.map(() => '?').join(', ')})`, ...filter.roles);
        // An unknown cursor matches nothing rather than restarting from the newest.
        if (filter.before !== undefined)
          w.add('ord < COALESCE((SELECT ord FROM approvals WHERE id = ?), 0)', filter.before);
        const sql = `SELECT * FROM approvals ${w.sql()} ORDER BY ord DESC LIMIT ?`;
        return all(sql, ...w.params, Math.max(0, filter.limit ?? 100)).map(approvalFromRow);
      }),
    countPendingApprovals: ({ agent, user, now }) => run(() => countPending(agent, now, user)),
    updateApproval: (next, expectedStatus, expectedVotes) =>
      write(() => {
        // SECURITY: single use — the WHERE clause is the compare-and-set; only one writer can move
        // an approval out of a given (status, vote count) state.
        const res = exec(
          `UPDATE approvals SET call_hash = @call_hash, decision_id = @decision_id, agent = @agent, user_id = @user_id,
             action = @action, resource = @resource, policy_version = @policy_version, role = @role, quorum = @quorum,
             summary = @summary, args = @args, status = @status, requested_at = @requested_at, expires_at = @expires_at,
             votes = @votes, vote_count = @vote_count, resolved_at = @resolved_at, consumed_at = @consumed_at,
             consumed_by = @consumed_by, tool_hash = @tool_hash,
             policy_id = @policy_id, policy_reason = @policy_reason
           WHERE id = @id AND status = @expected_status AND vote_count = @expected_votes`,
          { ...approvalParams(next), expected_status: expectedStatus, expected_votes: expectedVotes },
        );
        return res.changes === 1;
      }),

    createGrant: (g) =>
      write(() =>
        // SECURITY: the chain is read and the grant inserted under one write lock (BEGIN IMMEDIATE,
        // across processes): a revocation of a parent commits wholly before or after it.
        tx(() => {
          if (g.revokedAt === null && g.parentId !== null) {
            const revoked = get(REVOKED_UP_THE_CHAIN, g.parentId);
            if (revoked) throw grantChainRevoked(g, str(revoked.id));
          }
          exec(
            `INSERT INTO grants (${GRANT_COLUMNS}) VALUES (${grantParams(g)
              .map(() => '?')
              .join(', ')})`,
            ...grantParams(g),
          );
        }),
      ),
    getGrant: (id) =>
      run(() => {
        const r = get('SELECT * FROM grants WHERE id = ?', id);
        return r ? grantFromRow(r) : null;
      }),
    listGrants: (filter: GrantFilter) =>
      run(() => {
        const w = sqliteWhere();
        if (filter.user) w.add('user_id = ?', filter.user);
        if (filter.agent) w.add('agent = ?', filter.agent);
        if (!filter.includeRevoked) w.add('revoked_at IS NULL');
        return all(`SELECT * FROM grants ${w.sql()} ORDER BY ord DESC`, ...w.params).map(grantFromRow);
      }),
    revokeGrant: (id, at) =>
      write(() =>
        // SECURITY: atomic — a grant and everything attenuated from it are revoked together or not at all.
        tx(() => {
          const root = get('SELECT revoked_at FROM grants WHERE id = ?', id);
          if (!root) throw new MandateError('not_found', `no grant ${id}`);
          const children = db.prepare('SELECT id FROM grants WHERE parent_id = ? ORDER BY ord');
          const revoke = db.prepare('UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
          const revoked: string[] = [];
          const seen = new Set<string>();
          const queue = [id];
          while (queue.length) {
            const gid = queue.shift()!;
            if (seen.has(gid)) continue;
            seen.add(gid);
            if (revoke.run(at, gid).changes === 1) revoked.push(gid);
            for (const c of children.all(gid) as Row[]) queue.push(str(c.id));
          }
          return revoked;
        }),
      ),
  };
}
