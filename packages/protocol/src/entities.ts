import { z } from 'zod';
import { JsonObjectSchema } from './json.js';

const id = z.string().min(1).max(256);
const attrs = JsonObjectSchema;

export const AgentSchema = z.strictObject({
  id,
  roles: z.array(z.string().max(128)).max(256).default([]),
  owner: z.string().max(256).optional(),
  status: z.enum(['active', 'suspended']).default('active'),
  attributes: attrs.default({}),
  /** Agents this one may act for as a sub-agent (delegation chains). */
  parent: id.optional(),
});
export type Agent = z.infer<typeof AgentSchema>;

export const UserSchema = z.strictObject({
  id,
  /**
   * `self` is reserved: `@approval("self")` names the user the agent acts for, never a role (an
   * entity role of that name saw every user's confirmations).
   */
  roles: z
    .array(
      z
        .string()
        .max(128)
        .refine((r) => r !== 'self', {
          message:
            'the role name "self" is reserved: @approval("self") means the user the agent acts for, not a role',
        }),
    )
    .max(256)
    .default([]),
  status: z.enum(['active', 'suspended']).default('active'),
  attributes: attrs.default({}),
});
export type User = z.infer<typeof UserSchema>;

export const ResourceSchema = z.strictObject({
  type: z.string().regex(/^[A-Z][A-Za-z0-9_]{0,63}$/, 'resource type is a Cedar entity type name'),
  id,
  attributes: attrs.default({}),
  tags: z.array(z.string().max(128)).max(256).default([]),
});
export type Resource = z.infer<typeof ResourceSchema>;

/** Body of `PUT /v1/entities` and the shape of an entities file. Upserts every entity named. */
export const EntitiesDocumentSchema = z.strictObject({
  agents: z.array(AgentSchema).max(10_000).default([]),
  users: z.array(UserSchema).max(10_000).default([]),
  resources: z.array(ResourceSchema).max(100_000).default([]),
});
export type EntitiesDocument = z.infer<typeof EntitiesDocumentSchema>;
