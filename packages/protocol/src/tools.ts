import { z } from 'zod';
import { ACTION_NAME } from './decision.js';

/** A tool registry entry: the contract of one action. */
export const ToolSchema = z.strictObject({
  action: z.string().regex(ACTION_NAME),
  description: z.string().max(4000).default(''),
  /** JSON Schema (draft 2020-12 subset understood by Ajv) for the args. */
  inputSchema: z.record(z.string(), z.unknown()).default({ type: 'object' }),
  /** How the resource is derived from args, e.g. `Customer::args.customerId`; absent means the action itself. */
  resource: z
    .string()
    .regex(/^[A-Z][A-Za-z0-9_]{0,63}::args(\.[A-Za-z_][A-Za-z0-9_]*)+$/, 'resource is Type::args.path')
    .optional(),
  risk: z.enum(['low', 'medium', 'high', 'critical']).default('medium'),
  /** Human-readable summary template rendered from the real args, e.g. `Refund {amount} to {customerId}`. */
  summary: z.string().max(500).optional(),
  /** Arg paths redacted in the audit copy, in addition to the global list. */
  redact: z.array(z.string()).default([]),
});
export type Tool = z.infer<typeof ToolSchema>;

export const ToolsDocumentSchema = z.strictObject({ tools: z.array(ToolSchema).max(10_000) });
