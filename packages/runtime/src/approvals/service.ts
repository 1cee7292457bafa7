import type { ApprovalRef, AuditEvent } from '@mandate/protocol';
import { randomBytes } from 'node:crypto';
import { MandateError, newId, type Clock, type Logger } from '../kernel/index.js';
import type { ApprovalFilter, ApprovalRecord, ApprovalVote, Store } from '../storage/port.js';
import { redactText } from '../audit/redact.js';
import { APPROVAL_VOTE_SIGNATURE_TYPE, verifyApprovalSignature } from './signature.js';
import { boundTo, callHash, type CallBinding } from './binding.js';

import { approvalEvent, recordWhatIsMissing } from './recorded.js';
import { SELF_CONFIRMATION, createStanding, type UserLookups } from './standing.js';

export { callHash, type CallBinding } from './binding.js';
export { SELF_CONFIRMATION } from './standing.js';

export interface Approver {
  id: string;
  roles: readonly string[];
  /** Registered Ed25519 public key (PEM), if the approver has one. */
  publicKeyPem?: string | null;
  /**
   * The credential the vote came with: the person's own (`user` key or JWT), an approver's
   * (default), or the MCP client's elicitation prompt (`gateway.confirmByElicitation`). Recorded
   * with the vote; `@approval("self")` takes `user` and `mcp-elicitation` only.
   */
  via?: 'user' | 'approver' | 'mcp-elicitation';
  /**
   * The id of the credential that cast the vote (API key id, `jwt:…`, the session's key id), put
   * in the vote's audit record as `caller`, as decision, key and entity records name theirs.
   */
  keyId?: string;
}

/** The approval a call needs now: routed to `role`, with at least `quorum` approving votes. */
export interface ApprovalRouting {
  role: string;
  quorum: number;
}

export type ConsumeResult =
  { ok: true; approval: ApprovalRecord } | { ok: false; code: ConsumeError; message: string };
export type ConsumeError =
  | 'approval_not_found'
  | 'approval_mismatch'
  | 'approval_pending'
  | 'approval_denied'
  | 'approval_expired'
  | 'approval_consumed'
  | 'approval_voided';

export interface ApprovalServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Appends an audit event durably (audit before act). */
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** Resolves once every audit event this node accepted before the call is committed. */
  flushAudit?: () => Promise<void>;
  /** Called after an approval is created or resolved (webhooks). Errors are logged, never thrown. */
  notify?: (kind: 'approval.requested' | 'approval.resolved', approval: ApprovalRecord) => void;
}

export interface ApprovalServiceOptions {
  ttlSeconds: number;
  /** Pending approvals one agent may have in all (every user it acts for). */
  maxPendingPerAgent: number;
  /** Pending approvals one agent may have for one user: one user's backlog does not block the others. */
  maxPendingPerAgentUser: number;
}

export interface RequestApprovalInput extends CallBinding {
  decisionId: string;
  role: string;
  quorum: number;
  summary: string;
  /**
   * The summary is shown to approvers but left out of the hashed `approval.requested` record: the
   * call's args are kept beside the chain, erasable (`audit.personal`).
   */
  summaryOffRecord?: boolean;
  redactedArgs: Record<string, unknown>;
  /** The policy whose `@approval` asked for it, with its `@reason`, for the approver's screen. */
  policy?: { id: string; reason: string | null } | null;
}

/** The approval life cycle: requested → approved | denied | expired → consumed (once). */
export interface ApprovalService {
  /** Creates a pending approval for this exact call, or returns the pending one already bound to it. */
  request(input: RequestApprovalInput): Promise<ApprovalRecord>;
  get(id: string): Promise<ApprovalRecord | null>;
  list(filter: ApprovalFilter): Promise<ApprovalRecord[]>;
  /**
   * One page, newest first, filtered in the store before the limit; `nextCursor` (an approval id,
   * passed back as `filter.before`) is null on the last page.
   */
  page(filter: ApprovalFilter): Promise<{ items: ApprovalRecord[]; nextCursor: string | null }>;
  vote(
    id: string,
    approver: Approver,
    verdict: 'approve' | 'deny',
    comment: string | null,
    signature: string | null,
  ): Promise<ApprovalRecord>;
  /**
   * Checks the approval against the call and what it needs now (`need`: the role and quorum the
   * policies ask for) and consumes it atomically: of two racing calls exactly one gets ok. One
   * refused is not consumed.
   */
  consume(
    id: string,
    binding: CallBinding,
    decisionId: string,
    need: ApprovalRouting,
  ): Promise<ConsumeResult>;
  /** Long-poll: resolves when the approval leaves `pending` or after `timeoutMs`. */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<ApprovalRecord | null>;
  /**
   * Whether an approval a recorded allow consumed would still be taken now (for the replay of that
   * allow): its votes still make its quorum and no policy set or tool definition replaced what it
   * was asked under (standing.ts). False for one that is gone.
   */
  stillStands(id: string): Promise<boolean>;
}

export function toApprovalRef(a: ApprovalRecord): ApprovalRef {
  return { id: a.id, status: a.status, role: a.role, quorum: a.quorum, expiresAt: a.expiresAt };
}

/**
 * Why `voter` may not see approval `a` (the rule of `GET /v1/approvals/:id` for those who vote), or
 * null when they may: a vote by a person's own word (`user` credential, elicitation) sees the
 * approvals of calls made for that person; an approver's credential those routed to a role it
 * holds — never `@approval("self")`: it holds a role, not the person's own word (ADR 0008).
 */
function invisibleTo(voter: Approver, a: ApprovalRecord): string | null {
  if (voter.via === 'user' || voter.via === 'mcp-elicitation')
    return a.user !== null && a.user === voter.id ? null : 'is not for a call made on their behalf';
  if (a.role === SELF_CONFIRMATION) return "waits for the user's own confirmation, not an approver's";
  return voter.roles.includes(a.role) ? null : 'is not routed to a role they hold';
}

export function createApprovalService(
  deps: ApprovalServiceDeps,
  options: ApprovalServiceOptions,
): ApprovalService {
  const { store, clock, logger } = deps;
  const { standing, superseded } = createStanding(store);
  const iso = () => new Date(clock.now()).toISOString();
  /** The deployment's `approval-binding` key, read (or made, by the first node) once. */
  let bindingKey: Promise<string> | null = null;
  const key = (): Promise<string> => {
    bindingKey ??= store
      .ensureSecret('approval-binding', randomBytes(32).toString('hex'))
      .catch((err: unknown) => {
        bindingKey = null;
        throw err;
      });
    return bindingKey;
  };

  const notify = (kind: 'approval.requested' | 'approval.resolved', a: ApprovalRecord) => {
    try {
      deps.notify?.(kind, a);
    } catch (err) {
      logger.warn('approval notification failed', { approvalId: a.id, error: (err as Error).message });
    }
  };

  /** Marks a pending approval past its expiry as expired (and audits it); returns the fresh record. */
  const settleExpiry = async (a: ApprovalRecord): Promise<ApprovalRecord> => {
    if (a.status !== 'pending' && a.status !== 'approved') return a;
    if (Date.parse(a.expiresAt) > clock.now()) return a;
    const next: ApprovalRecord = { ...a, status: 'expired', resolvedAt: a.resolvedAt ?? iso() };
    if (await store.updateApproval(next, a.status, a.votes.length)) {
      await deps.audit(approvalEvent(a, 'approval.expired', { approvalId: a.id, callHash: a.callHash }));
      notify('approval.resolved', next);
      return next;
    }
    return (await store.getApproval(a.id)) ?? a;
  };

  /**
   * The approval as it is shown (API, inbox): a pending or approved one whose approving votes no
   * longer all count says so in `lapsedVotes`, never shown `approved` as if its quorum still held.
   */
  const shown = async (a: ApprovalRecord, users?: UserLookups): Promise<ApprovalRecord> => {
    if (a.status !== 'pending' && a.status !== 'approved') return a;
    const { lapsed } = await standing(a, users);
    return lapsed.length > 0 ? { ...a, lapsedVotes: lapsed } : a;
  };

  async function page(
    filter: ApprovalFilter,
  ): Promise<{ items: ApprovalRecord[]; nextCursor: string | null }> {
    const limit = filter.limit ?? 100;
    const raw = await store.listApprovals({ ...filter, limit });
    const items: ApprovalRecord[] = [];
    const users: UserLookups = new Map();
    for (const a of raw) {
      // A pending approval past its expiry is expired now: it leaves a `pending` page.
      const s = await settleExpiry(a);
      if (!filter.status || s.status === filter.status) items.push(await shown(s, users));
    }
    return { items, nextCursor: raw.length === limit && raw.length > 0 ? raw.at(-1)!.id : null };
  }

  /** The pending approval bound to this call, or a new one (audited) when there is none. */
  const openOrFind = async (
    input: RequestApprovalInput,
    k: string,
    hash: string,
  ): Promise<ApprovalRecord> => {
    const pending = await store.listApprovals({ status: 'pending', agent: input.agent, limit: 1000 });
    for (const p of pending) {
      if (boundTo(p, input, k)) {
        const settled = await settleExpiry(p);
        if (settled.status === 'pending') return settled;
      }
    }
    const now = clock.now();
    const approval: ApprovalRecord = {
      id: newId('apr', now),
      callHash: hash,
      decisionId: input.decisionId,
      agent: input.agent,
      user: input.user,
      action: input.action,
      resource: input.resource,
      policyVersion: input.policyVersion,
      role: input.role,
      quorum: input.quorum,
      summary: input.summary,
      args: input.redactedArgs,
      status: 'pending',
      requestedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + options.ttlSeconds * 1000).toISOString(),
      votes: [],
      resolvedAt: null,
      consumedAt: null,
      consumedBy: null,
      toolHash: input.toolHash ?? null,
      policy: input.policy ?? null,
    };
    // SECURITY: flooding the approver (THREATS: overwhelming the human in the loop) — cap pending per
    // agent and user, so that one user's backlog does not refuse the agent's calls for every other
    // user, and per agent in all. Counted by the store with the insert, atomically on every node
    // (`approval_backlog`); an approval past its expiry waits for no one and is not counted. The
    // same call asked at once (here or on another node) opened one meanwhile: the store answers it.
    const stored = await store.createApproval(approval, {
      perAgentUser: options.maxPendingPerAgentUser,
      perAgent: options.maxPendingPerAgent,
    });
    if (stored.id !== approval.id) return stored;
    await deps.audit({
      type: 'approval.requested',
      decisionId: input.decisionId,
      agent: input.agent,
      ...(input.user ? { user: input.user } : {}),
      action: input.action,
      ...(input.resource ? { resource: input.resource } : {}),
      data: {
        approvalId: approval.id,
        callHash: hash,
        role: approval.role,
        quorum: approval.quorum,
        ...(input.summaryOffRecord ? { summaryOffRecord: true } : { summary: approval.summary }),
        expiresAt: approval.expiresAt,
        ...(approval.toolHash ? { toolHash: approval.toolHash } : {}),
      },
    });
    notify('approval.requested', approval);
    return approval;
  };

  return {
    async request(input) {
      const k = await key();
      return openOrFind(input, k, callHash(input, k));
    },

    async get(id) {
      const a = await store.getApproval(id);
      return a ? shown(await settleExpiry(a)) : null;
    },

    async list(filter) {
      return (await page(filter)).items;
    },

    page,

    async vote(id, approver, verdict, comment, signature) {
      // SECURITY: a suspended person signs nothing off (their key may still be live: suspension is
      // the user's status, not the key's). Checked on every vote, whatever door it came through.
      if ((await store.getUser(approver.id))?.status === 'suspended')
        throw new MandateError('user_suspended', `user ${approver.id} is suspended and cannot vote`);
      for (let attempt = 0; attempt < 5; attempt++) {
        const found = await store.getApproval(id);
        if (!found) throw new MandateError('not_found', `no approval ${id}`);
        // SECURITY: an approval the voter may not see is answered as GET answers it (404), before
        // anything about it is looked at: its state, its expiry, who it waits for, whether the voter
        // is its agent or user were each told to any user or approver key of any tenant (a probe).
        // The record keeps the reason (request.refused).
        const hidden = invisibleTo(approver, found);
        if (hidden !== null)
          throw new MandateError('not_found', `no approval ${id}`, {
            recorded: `a vote on approval ${id}, which the voter may not see: it ${hidden}`,
          });
        const a = await settleExpiry(found);
        if (a.status === 'expired')
          throw new MandateError('approval_expired', `approval ${id} expired at ${a.expiresAt}`);
        if (a.status !== 'pending')
          throw new MandateError('conflict', `approval ${id} is already ${a.status}`);
        // SECURITY: separation of duties — the requesting agent never approves its own call, and the user
        // it acts for approves only where the policy asked for exactly that (`@approval("self")`).
        if (approver.id === a.agent) {
          throw new MandateError('self_approval', 'the requester of an approval cannot approve or deny it');
        }
        if (a.role !== SELF_CONFIRMATION && a.user !== null && approver.id === a.user) {
          throw new MandateError('self_approval', 'the requester of an approval cannot approve or deny it');
        }
        if (a.votes.some((v) => v.approver === approver.id)) {
          throw new MandateError('duplicate_approver', `${approver.id} has already voted on approval ${id}`);
        }
        if (signature !== null) {
          if (!approver.publicKeyPem)
            throw new MandateError('invalid_signature', 'approver has no registered signing key');
          // SECURITY: the signed message names this approval and this verdict: a signature over the
          // call hash alone fitted every approval of the same call, and either verdict.
          const statement = { approvalId: a.id, verdict, callHash: a.callHash };
          if (!verifyApprovalSignature(approver.publicKeyPem, statement, signature)) {
            throw new MandateError(
              'invalid_signature',
              `signature does not verify over this vote (${APPROVAL_VOTE_SIGNATURE_TYPE}: approval id, verdict and call hash)`,
            );
          }
        }
        // SECURITY: the comment is free text, stored with the approval and recorded in the hashed,
        // unerasable chain (and sent to the webhook): each secret-shaped span — a card number,
        // `password=…`, a key — becomes `[REDACTED:secret]`, as in a decision's intent. (The
        // signature covers the approval id, verdict and call hash, not the comment.)
        const note = comment === null ? null : redactText(comment);
        const vote: ApprovalVote = { approver: approver.id, verdict, comment: note, at: iso(), signature };
        const votes = [...a.votes, vote];
        // The earlier approving votes that still count (their approvers may have lost the role or
        // been suspended since), and this one, checked above.
        const before = await standing(a);
        const approvals = before.counted + (verdict === 'approve' ? 1 : 0);
        const status = verdict === 'deny' ? 'denied' : approvals >= a.quorum ? 'approved' : 'pending';
        const next: ApprovalRecord = { ...a, votes, status, resolvedAt: status === 'pending' ? null : iso() };
        if (!(await store.updateApproval(next, 'pending', a.votes.length))) continue;
        await deps.audit(
          approvalEvent(a, verdict === 'deny' ? 'approval.denied' : 'approval.approved', {
            approvalId: a.id,
            callHash: a.callHash,
            approver: approver.id,
            via: approver.via ?? 'approver',
            // The credential that cast it (for a confirmation by elicitation: the agent session's).
            caller: approver.keyId ?? null,
            comment: note,
            signed: signature !== null,
            status,
            approvals,
            quorum: a.quorum,
            ...(before.lapsed.length > 0 ? { lapsed: before.lapsed } : {}),
          }),
        );
        if (status !== 'pending') notify('approval.resolved', next);
        return before.lapsed.length > 0 ? { ...next, lapsedVotes: before.lapsed } : next;
      }
      throw new MandateError('conflict', `approval ${id} is being changed concurrently; try again`);
    },

    async consume(id, binding, decisionId, need) {
      const found = await store.getApproval(id);
      // SECURITY: another agent's approval (or one for another user) is not found, as an unknown
      // id is: a mismatch told an agent of another tenant that the id exists, and the tool-hash
      // check before it named that approval's tool definition (a re-probe).
      if (!found || found.agent !== binding.agent || found.user !== binding.user)
        return { ok: false, code: 'approval_not_found', message: `no approval ${id}` };
      const a = await settleExpiry(found);
      // SECURITY: bound to the tool definition that was pinned when it was asked for: after a rug
      // pull and the approval of the new definition, an approval of the old one runs nothing.
      if ((a.toolHash ?? null) !== (binding.toolHash ?? null)) {
        return {
          ok: false,
          code: 'approval_mismatch',
          message: `approval ${id} was given for another definition of the tool (${a.toolHash ?? 'none'}; now ${binding.toolHash ?? 'none'}); ask again`,
        };
      }
      // SECURITY: bound to one exact call — agent, user, action, canonical args, resource and policy version.
      if (!boundTo(a, binding, await key())) {
        return {
          ok: false,
          code: 'approval_mismatch',
          message: `approval ${id} was given for a different call (args, resource, user or policy version changed)`,
        };
      }
      switch (a.status) {
        case 'pending':
          return {
            ok: false,
            code: 'approval_pending',
            message: `approval ${id} is still waiting for role ${a.role}`,
          };
        case 'denied':
          return { ok: false, code: 'approval_denied', message: `approval ${id} was denied` };
        case 'expired':
          return { ok: false, code: 'approval_expired', message: `approval ${id} expired at ${a.expiresAt}` };
        case 'consumed':
          return { ok: false, code: 'approval_consumed', message: `approval ${id} was already used` };
        case 'approved':
          break;
      }
      // SECURITY: what it was asked under is still what the call runs under (standing.ts).
      const replaced = await superseded(a);
      if (replaced !== null) {
        return { ok: false, code: 'approval_voided', message: `approval ${id} ${replaced}; ask again` };
      }
      // SECURITY: what the call needs now, checked before the approval is spent: an entity's
      // attributes may have changed since it was asked for (same policy version), and the call now
      // needs another role or a higher quorum. Checked after, the use was denied but the approval
      // consumed, and `approval.consumed` recorded for a decision that ran nothing (a probe).
      if (a.role !== need.role || a.quorum < need.quorum) {
        return {
          ok: false,
          code: 'approval_mismatch',
          message: 'the approval was routed to another role or quorum',
        };
      }
      // SECURITY: the votes count when the approval is used, not only when they were cast: an
      // approver who has since lost the role, been suspended or removed no longer makes the
      // quorum. Refused, not consumed: it counts again if the approver is restored.
      const { counted, lapsed } = await standing(a);
      if (counted < a.quorum) {
        return {
          ok: false,
          code: 'approval_voided',
          message: `approval ${id} no longer has its quorum (${counted} of ${a.quorum}): the vote of ${lapsed.join(', ')} no longer counts (the approver is no longer active, or no longer holds the role it is routed to); ask again`,
        };
      }
      // EVIDENCE: its request and the votes it rests on are on the record before it is spent: a
      // node stopped between storing a vote and recording it left a vote that made a quorum with
      // no record of it (recorded.ts).
      await recordWhatIsMissing(deps, a);
      const next: ApprovalRecord = { ...a, status: 'consumed', consumedAt: iso(), consumedBy: decisionId };
      // SECURITY: single use — compare-and-set from approved; of two racing calls exactly one wins.
      if (!(await store.updateApproval(next, 'approved', a.votes.length))) {
        return { ok: false, code: 'approval_consumed', message: `approval ${id} was already used` };
      }
      // The event belongs to the decision that used the approval, not the one that asked for it.
      await deps.audit(
        approvalEvent(
          a,
          'approval.consumed',
          { approvalId: a.id, callHash: a.callHash, requestedBy: a.decisionId },
          decisionId,
        ),
      );
      return { ok: true, approval: next };
    },

    async wait(id, timeoutMs, signal) {
      const deadline = clock.now() + timeoutMs;
      for (;;) {
        const found = await store.getApproval(id);
        const a = found ? await settleExpiry(found) : null;
        if (!a || a.status !== 'pending' || clock.now() >= deadline || signal?.aborted)
          return a ? shown(a) : a;
        await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, deadline - clock.now()))));
      }
    },

    async stillStands(id) {
      const a = await store.getApproval(id);
      if (!a) return false;
      // The checks `consume` made before spending it, made again: the same answers or none.
      if ((await superseded(a)) !== null) return false;
      return (await standing(a)).counted >= a.quorum;
    },
  };
}
