/**
 * Whether an approved approval still stands when it is used: its votes still count, and what it
 * was asked under — the policy set, the tool definition — has not been replaced since.
 */
import type { User } from '@mandate/protocol';
import type { ApprovalRecord, Store } from '../storage/port.js';

/**
 * The approval role that means "the user the agent acts for confirms this exact call" (a policy's
 * `@approval("self")`): the one case where someone on the requesting side may approve — never the
 * agent, and only that user.
 */
export const SELF_CONFIRMATION = 'self';

/** Users looked up once per listing or use (the same approver votes on many approvals). */
export type UserLookups = Map<string, Promise<User | null>>;

export function createStanding(store: Pick<Store, 'getUser' | 'listPolicySets' | 'listToolPins'>) {
  /**
   * SECURITY: whether `voter`'s approving vote on `a` still counts: the voter still exists, is
   * active and still holds the role the approval is routed to (for `@approval("self")`: is still
   * the user the call is made for). Votes were checked only when cast: a vote whose approver lost
   * the role or was suspended since still made the quorum, and the call ran (a probe).
   */
  const stillCounts = async (voter: string, a: ApprovalRecord, users: UserLookups): Promise<boolean> => {
    let found = users.get(voter);
    if (!found) users.set(voter, (found = store.getUser(voter)));
    const user = await found;
    if (!user || user.status !== 'active') return false;
    return a.role === SELF_CONFIRMATION ? voter === a.user : user.roles.includes(a.role);
  };

  /** The approving votes of `a` that count now, and the voters whose approving votes no longer do. */
  const standing = async (
    a: ApprovalRecord,
    users: UserLookups = new Map(),
  ): Promise<{ counted: number; lapsed: string[] }> => {
    let counted = 0;
    const lapsed: string[] = [];
    for (const v of a.votes) {
      if (v.verdict !== 'approve') continue;
      if (await stillCounts(v.approver, a, users)) counted++;
      else lapsed.push(v.approver);
    }
    return { counted, lapsed };
  };

  /** When the store's active policy set was last activated (null: none is). */
  const activeSetActivatedAt = async (): Promise<string | null> =>
    (await store.listPolicySets()).find((s) => s.active)?.activatedAt ?? null;

  /** When a pin now holding this definition hash last changed (quarantined, approved); null: none. */
  const pinChangedAt = async (toolHash: string): Promise<string | null> => {
    let newest: string | null = null;
    for (const p of await store.listToolPins())
      if (p.hash === toolHash && (newest === null || p.updatedAt > newest)) newest = p.updatedAt;
    return newest;
  };

  /**
   * Why `a` no longer stands for its call though the call matches it, or null: a policy set or a
   * definition of its tool put in place after it was asked for.
   */
  const superseded = async (a: ApprovalRecord): Promise<string | null> => {
    // SECURITY: a new policy version voids it, for good. It is bound to the version it was asked
    // under, so under another set it does not match; but a set activated since (B) and the first
    // one activated again (A) made it match once more, and the call ran under A although B had
    // refused it (a probe). The active set's last activation must come before the request.
    const replacedAt = await activeSetActivatedAt();
    if (replacedAt !== null && replacedAt > a.requestedAt)
      return `was asked for before another policy set was activated (the active one was activated again at ${replacedAt})`;
    // SECURITY: the same for the tool definition it was asked for: after v2 was approved it did
    // not match; v1 back and approved again made it match once more (a probe). A pin of its
    // definition that changed (quarantined, approved) since it was asked for voids it.
    const repinnedAt = a.toolHash === null ? null : await pinChangedAt(a.toolHash);
    if (repinnedAt !== null && repinnedAt > a.requestedAt)
      return `was asked for before the tool's definition was changed and approved again (at ${repinnedAt})`;
    return null;
  };

  return { standing, superseded };
}
