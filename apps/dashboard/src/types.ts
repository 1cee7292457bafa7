/** The v1 API shapes the dashboard reads (docs/api.md); unknown extra fields are ignored. */

// Types only (erased by the bundler): the SDK's wire types are the v1 API's shapes.
import type { Approval as WireApproval } from '@mandate/sdk';

export type { ApprovalVote as Vote } from '@mandate/sdk';

/** An approval as `GET /v1/approvals` returns it, and the asking policy should the server add it. */
export interface Approval extends WireApproval {
  policy?: { id: string; reason?: string | null } | null;
  policyId?: string | null;
  reason?: string | null;
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
