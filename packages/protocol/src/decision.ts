import { z } from 'zod';
import type { ErrorCode } from './errors.js';
import { JsonObjectSchema } from './json.js';

const id = z.string().min(1).max(256);

/**
 * `namespace.verb`, ASCII only, so that confusable names cannot alias an action: the namespace in
 * lower case, the verb as MCP tools name them (`getWeather`); `a.B` and `a.b` are two actions.
 */
export const ACTION_NAME = /^[a-z][a-z0-9_-]{0,63}(\.[A-Za-z][A-Za-z0-9_-]{0,63}){1,3}$/;

/** Body of `POST /v1/decisions`. `args` arrives already parsed by the strict JSON parser. */
export const DecisionRequestSchema = z.strictObject({
  agent: id,
  onBehalfOf: id.nullish(),
  action: z.string().regex(ACTION_NAME, 'action must be namespace.verb in lower-case ASCII'),
  args: JsonObjectSchema.default({}),
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
  /**
   * The args that were decided on, in the server's canonical form (HTTP answers carry them): the
   * SDK and the gateway run the tool with exactly these, never with what they sent.
   */
  args?: Record<string, unknown>;
}

/** Body of `POST /v1/decisions/:id/outcome`: what happened when the allowed call ran. */
export const DecisionOutcomeReportSchema = z.strictObject({
  status: z.enum(['ok', 'error']),
  /** Wall time of the tool body, in milliseconds. */
  durationMs: z.number().min(0).max(86_400_000),
  /**
   * A short, code-like name of the failure (an error class or code), never a message: the audit
   * record is hashed and cannot be erased, so free text with personal data must not reach it.
   */
  errorType: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'errorType is a code-like name (letters, digits, _ . : -)')
    .optional(),
});
export type DecisionOutcomeReport = z.infer<typeof DecisionOutcomeReportSchema>;
