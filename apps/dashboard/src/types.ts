/** The v1 API shapes the dashboard reads (docs/api.md); unknown extra fields are ignored. */

// Types only (erased by the bundler): the SDK's wire types are the v1 API's shapes.
import type { Approval as WireApproval } from '@mandate/sdk';

export type { ApprovalVote as Vote } from '@mandate/sdk';

/** An approval as `GET /v1/approvals` returns it, with the policy whose `@approval` asked (null on older ones). */
export type Approval = WireApproval;

/** One row of `GET /v1/approvals/:id/history`: a past decision of that agent for that user. */
export interface ApprovalHistoryItem {
  decisionId: string | null;
  time: string;
  action: string | null;
  effect: string | null;
  policies: string[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AuditItem {
  seq: number;
  hash: string;
  prevHash: string;
  event: {
    type: string;
    time: string;
    decisionId?: string;
    agent?: string;
    user?: string | null;
    action?: string;
    effect?: string;
    data?: Record<string, unknown>;
  };
}
