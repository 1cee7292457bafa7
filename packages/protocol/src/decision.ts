import { z } from 'zod';
import type { ErrorCode } from './errors.js';

const id = z.string().min(1).max(256);

/** `namespace.verb`, lower-case ASCII only, so that confusable or differently-cased names cannot alias an action. */
export const ACTION_NAME = /^[a-z][a-z0-9_-]{0,63}(\.[A-Za-z][A-Za-z0-9_-]{0,63}){1,3}$/;

/** Body of `POST /v1/decisions`. `args` arrives already parsed by the strict JSON parser. */
export const DecisionRequestSchema = z.strictObject({
  agent: id,
  onBehalfOf: id.nullish(),
  action: z.string().regex(ACTION_NAME, 'action must be namespace.verb in lower-case ASCII'),
  args: z.record(z.string(), z.unknown()).default({}),
  intent: z.string().max(2000).nullish(),
  approvalId: id.nullish(),
  sessionId: id.nullish(),
  traceId: id.nullish(),
});
export type DecisionRequest = z.infer<typeof DecisionRequestSchema>;

export type Effect = 'allow' | 'deny' | 'approval_required';

export interface DecisionReason {
  policyId: string;
  reason?: string;
  /** Which principal the policy was evaluated for. */
  principal?: 'agent' | 'user';
}

export interface DecisionError {
  code: ErrorCode;
  message: string;
  policyId?: string;
}

export interface ApprovalRef {
  id: string;
  status: ApprovalStatus;
  role: string;
  quorum: number;
  expiresAt: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';

/** The answer of the decision path; the same object on HTTP, in the SDK and in `mandate check --json`. */
export interface Decision {
  decisionId: string;
  effect: Effect;
  reasons: DecisionReason[];
  errors: DecisionError[];
  policyVersion: string | null;
  approval?: ApprovalRef;
  grantId?: string;
  resource?: { type: string; id: string } | null;
}
