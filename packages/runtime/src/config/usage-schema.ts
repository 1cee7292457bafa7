import { z } from 'zod';
import { ACTION_NAME } from '@mandate/protocol';

/**
 * Usage counters (docs/policies.md "Budgets and rates", ADR 0024): a count of calls or a sum of one
 * integer arg, per user, agent or agent+user, over fixed windows aligned to the clock. Policies read
 * them as `context.usage.<name>` (before this call) and `context.usage.<name>After` (with it).
 */
const UsageCounterSchema = z
  .strictObject({
    /** A Cedar attribute name; `<name>After` is the value including the call. */
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, 'a name is letters, digits and _ (max 63)'),
    /** The action whose allowed calls are counted: one exact action name (no wildcard). */
    action: z
      .string()
      .regex(
        ACTION_NAME,
        'an exact action name such as payments.refund (a counter matches one action; no wildcards)',
      ),
    /** Count calls (each allowed call adds 1). */
    count: z.literal(true).optional(),
    /** Sum this arg (dot path into the args; a non-negative integer, e.g. an amount in cents). */
    sum: z.string().min(1).max(256).optional(),
    /** Whose counter: the user the agent acts for, the agent, or the pair. */
    per: z.enum(['user', 'agent', 'agent+user']),
    /** Window length (`30s`, `1m`, `1h`, `1d`): windows are fixed, aligned to the Unix epoch in UTC. */
    window: z.string().regex(/^[1-9]\d{0,5}[smhd]$/, 'use e.g. 1m, 1h, 1d'),
  })
  .refine((c) => (c.count === true) !== (c.sum !== undefined), 'give exactly one of count: true and sum');

export const UsageSchema = z
  .array(UsageCounterSchema)
  .max(256)
  .default([])
  .refine((list) => {
    const names = new Set<string>();
    for (const c of list) {
      for (const n of [c.name, `${c.name}After`]) {
        if (names.has(n)) return false;
        names.add(n);
      }
    }
    return true;
  }, 'usage counter names must be unique (also against each other name + "After")');

export type UsageCounterConfig = z.infer<typeof UsageCounterSchema>;
