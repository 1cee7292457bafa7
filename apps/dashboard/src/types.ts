/** The v1 API shapes the dashboard reads (docs/api.md); unknown extra fields are ignored. */

export interface Vote {
  approver: string;
  verdict: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

export interface Approval {
  id: string;
  callHash: string;
  decisionId: string;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
  policyVersion: string;
  role: string;
  quorum: number;
  summary: string;
  args: Record<string, unknown>;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';
  requestedAt: string;
  expiresAt: string;
  votes: Vote[];
  resolvedAt: string | null;
  consumedAt: string | null;
  /** The policy that asked for the approval and its @reason, when the server gives them. */
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
