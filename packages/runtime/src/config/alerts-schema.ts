import { z } from 'zod';
import { urlHasNoCredentials } from './sinks-schema.js';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a rule name is lower-case letters, digits, _ and -');
const base = {
  name,
  /** After firing for a subject (an agent, or the whole node), the rule stays quiet this long for it. */
  cooldownSeconds: z.number().int().min(0).max(86_400).default(300),
};

/** One alert rule over the audit stream (docs/alerts.md). */
export const AlertRuleSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...base,
    /** Denies of one agent in a window, against that agent's own baseline. */
    type: z.literal('deny_spike'),
    windowSeconds: z.number().int().min(1).max(86_400).default(60),
    /** Never fire below this many denies in the window (a quiet agent's first denies are not a spike). */
    minDenies: z.number().int().min(1).default(10),
    /** Fire when the window's denies reach this multiple of the agent's mean over the baseline windows. */
    factor: z.number().min(1).default(3),
    baselineWindows: z.number().int().min(1).max(1000).default(10),
  }),
  z.strictObject({ ...base, type: z.literal('policy_error') }),
  z.strictObject({
    ...base,
    /** Approval requests of one agent in a window. */
    type: z.literal('approval_flood'),
    windowSeconds: z.number().int().min(1).max(86_400).default(300),
    max: z.number().int().min(1).default(20),
  }),
  z.strictObject({ ...base, type: z.literal('tool_quarantined') }),
  z.strictObject({ ...base, type: z.literal('audit_verification_failed') }),
  z.strictObject({ ...base, type: z.literal('suspended_agent_calling') }),
]);
export type AlertRule = z.infer<typeof AlertRuleSchema>;

export const AlertsSchema = z
  .strictObject({
    rules: z
      .array(AlertRuleSchema)
      .max(100)
      .default([])
      .refine((r) => new Set(r.map((x) => x.name)).size === r.length, 'rule names must be unique'),
    /** Where fired alerts are posted, besides the audit trail (and so the sinks). */
    webhook: z
      .strictObject({
        url: z
          .url({ protocol: /^https?$/ })
          .refine(
            urlHasNoCredentials,
            'an alert webhook URL must not carry credentials (user:password@host)',
          ),
        /** `slack`: `{"text": …}` for Slack-compatible incoming webhooks; `json`: the alert object. */
        format: z.enum(['slack', 'json']).default('json'),
        /** HMAC-SHA256 key for `x-mandate-signature` (json format). */
        secret: z.string().min(16).optional(),
        timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      })
      .optional(),
  })
  .prefault({});
export type AlertsConfig = z.infer<typeof AlertsSchema>;
