import { z } from 'zod';
import { ACTION_NAME } from './decision.js';

/**
 * One declared path argument: a dot path into args, `[]` meaning "every element of this array"
 * (`path`, `paths[]`, `edits[].path`).
 */
export const PATH_ARG = /^[A-Za-z_][A-Za-z0-9_-]{0,63}(\[\])?(\.[A-Za-z_][A-Za-z0-9_-]{0,63}(\[\])?){0,7}$/;

/**
 * Which args name files. Mandate canonicalises each before deciding (docs/policies.md "Path and URL
 * arguments"), decides on the canonical value and forwards exactly that.
 */
export const ToolPathsSchema = z.strictObject({
  args: z
    .array(z.string().regex(PATH_ARG, 'a path arg is a dot path into args, [] for each element'))
    .min(1)
    .max(64),
  /**
   * Also resolve symlinks with `realpath` on the machine Mandate runs on. Only meaningful when the
   * tool runs on this machine's filesystem (a local stdio upstream); off by default.
   */
  resolveSymlinks: z.boolean().default(false),
  /** The Cedar entity type of the folders of a path resource (`resource in Dir::"/srv"`). */
  folderType: z
    .string()
    .regex(/^[A-Z][A-Za-z0-9_]{0,63}$/, 'folderType is a Cedar entity type name')
    .default('Dir'),
});
export type ToolPaths = z.infer<typeof ToolPathsSchema>;

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
  /**
   * Args that are filesystem paths. A `resource` naming one of them (`File::args.path`) is a path
   * entity whose parents are its folders, so a policy can say `resource in Dir::"/srv/sandbox"`.
   */
  paths: ToolPathsSchema.optional(),
});
export type Tool = z.infer<typeof ToolSchema>;

export const ToolsDocumentSchema = z.strictObject({ tools: z.array(ToolSchema).max(10_000) });
