/**
 * Row mapping shared by the SQL drivers (SQLite and PostgreSQL store the same columns, JSON as
 * text): one place decides how a row becomes a port record, so both round-trip identically.
 */
import type { Agent, AuditCheckpoint, Resource, User } from '@mandate/protocol';
import type {
  ApiKeyRecord,
  ApprovalRecord,
  GrantRecord,
  IdempotencyRecord,
  PersonalDataRecord,
  SinkCursor,
  StoredAuditRecord,
  StoredPolicySet,
  ToolPin,
  UiSessionRecord,
  UsageCounterRecord,
  UsageFilter,
} from './port.js';

export type Row = Record<string, unknown>;

export const json = (v: unknown): string => JSON.stringify(v);
export const parse = <T>(v: unknown): T => JSON.parse(v as string) as T;
export const str = (v: unknown): string => v as string;
export const strOrNull = (v: unknown): string | null =>
  v === null || v === undefined ? null : (v as string);

export function agentFromRow(r: Row): Agent {
  const a: Agent = {
    id: str(r.id),
    roles: parse(r.roles),
    status: str(r.status) as Agent['status'],
    attributes: parse(r.attributes),
  };
  // Optional fields stay absent when they were absent, as the memory driver returns them.
  if (r.owner !== null) a.owner = str(r.owner);
  if (r.parent !== null) a.parent = str(r.parent);
  return a;
}

export function userFromRow(r: Row): User {
  return {
    id: str(r.id),
    roles: parse(r.roles),
    status: str(r.status) as User['status'],
    attributes: parse(r.attributes),
  };
}

export function resourceFromRow(r: Row): Resource {
  return { type: str(r.type), id: str(r.id), attributes: parse(r.attributes), tags: parse(r.tags) };
}

export function policySetFromRow(r: Row): StoredPolicySet {
  return {
    version: str(r.version),
    policies: parse(r.policies),
    schema: str(r.schema_text),
    createdAt: str(r.created_at),
    source: str(r.source),
  };
}

export function apiKeyFromRow(r: Row): ApiKeyRecord {
  return {
    id: str(r.id),
    hash: str(r.hash),
    role: str(r.role) as ApiKeyRecord['role'],
    subject: strOrNull(r.subject),
    name: str(r.name),
    createdAt: str(r.created_at),
    revokedAt: strOrNull(r.revoked_at),
    expiresAt: strOrNull(r.expires_at),
    lastUsedAt: strOrNull(r.last_used_at),
    origin: (strOrNull(r.origin) ?? 'cli') as ApiKeyRecord['origin'],
  };
}

export function approvalFromRow(r: Row): ApprovalRecord {
  return {
    id: str(r.id),
    callHash: str(r.call_hash),
    decisionId: str(r.decision_id),
    agent: str(r.agent),
    user: strOrNull(r.user_id),
    action: str(r.action),
    resource: strOrNull(r.resource),
    policyVersion: str(r.policy_version),
    role: str(r.role),
    quorum: Number(r.quorum),
    summary: str(r.summary),
    args: parse(r.args),
    status: str(r.status) as ApprovalRecord['status'],
    requestedAt: str(r.requested_at),
    expiresAt: str(r.expires_at),
    votes: parse(r.votes),
    resolvedAt: strOrNull(r.resolved_at),
    consumedAt: strOrNull(r.consumed_at),
    consumedBy: strOrNull(r.consumed_by),
    toolHash: strOrNull(r.tool_hash),
    policy: r.policy_id == null ? null : { id: str(r.policy_id), reason: strOrNull(r.policy_reason) },
  };
}

export function grantFromRow(r: Row): GrantRecord {
  return {
    id: str(r.id),
    user: str(r.user_id),
    agent: str(r.agent),
    actions: parse(r.actions),
    resources: parse(r.resources),
    resourceAttributes: parse(r.resource_attributes),
    limits: parse(r.limits),
    createdAt: str(r.created_at),
    expiresAt: str(r.expires_at),
    revokedAt: strOrNull(r.revoked_at),
    parentId: strOrNull(r.parent_id),
    createdBy: str(r.created_by),
  };
}

export function auditFromRow(r: Row): StoredAuditRecord {
  return {
    // BIGINT arrives as a string; sequence numbers stay far below 2^53.
    seq: Number(r.seq),
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
    eventText: str(r.event_text),
    columns: {
      type: str(r.type),
      time: str(r.time),
      agent: strOrNull(r.agent),
      user: strOrNull(r.user_id),
      action: strOrNull(r.action),
      effect: strOrNull(r.effect),
      decisionId: strOrNull(r.decision_id),
    },
    ...(r.seal === null || r.seal === undefined ? {} : { seal: str(r.seal) }),
  };
}

export function checkpointFromRow(r: Row): AuditCheckpoint {
  return {
    seq: Number(r.seq),
    hash: str(r.hash),
    time: str(r.time),
    keyId: str(r.key_id),
    signature: str(r.signature),
  };
}

export function pinFromRow(r: Row): ToolPin {
  return {
    server: String(r.server),
    tool: String(r.tool),
    hash: String(r.hash),
    definition: JSON.parse(String(r.definition)) as Record<string, unknown>,
    status: String(r.status) as ToolPin['status'],
    firstSeenAt: String(r.first_seen_at),
    updatedAt: String(r.updated_at),
    approvedBy: r.approved_by === null || r.approved_by === undefined ? null : String(r.approved_by),
    approvedHash: strOrNull(r.approved_hash),
    approvedDefinition:
      r.approved_definition === null || r.approved_definition === undefined
        ? null
        : (JSON.parse(String(r.approved_definition)) as Record<string, unknown>),
  };
}

export function idempotencyFromRow(r: Row): IdempotencyRecord {
  return {
    scope: String(r.scope),
    key: String(r.key),
    fingerprint: String(r.fingerprint),
    response: r.response === null || r.response === undefined ? null : String(r.response),
    createdAt: String(r.created_at),
    expiresAt: String(r.expires_at),
  };
}

export function sinkCursorFromRow(r: Row): SinkCursor {
  return {
    sink: str(r.sink),
    seq: Number(r.seq),
    hash: r.hash === null || r.hash === undefined ? null : str(r.hash),
    updatedAt: str(r.updated_at),
  };
}

/** Statement parameters of an agent row, in column order (id, roles, owner, status, attributes, parent). */
export const agentParams = (a: Agent): unknown[] => [
  a.id,
  json(a.roles),
  a.owner ?? null,
  a.status,
  json(a.attributes),
  a.parent ?? null,
];
/** Statement parameters of a user row (id, roles, status, attributes). */
export const userParams = (u: User): unknown[] => [u.id, json(u.roles), u.status, json(u.attributes)];
/** Statement parameters of a resource row (type, id, attributes, tags). */
export const resourceParams = (r: Resource): unknown[] => [r.type, r.id, json(r.attributes), json(r.tags)];
/** Statement parameters of an API key row, in the column order of the `api_keys` inserts. */
export const apiKeyParams = (k: ApiKeyRecord): unknown[] => [
  k.id,
  k.hash,
  k.role,
  k.subject,
  k.name,
  k.createdAt,
  k.revokedAt,
  k.expiresAt,
  k.lastUsedAt,
  k.origin,
];
/** The `grants` insert: its column list and the statement parameters of a grant in that order. */
export const GRANT_COLUMNS =
  'id, user_id, agent, actions, resources, resource_attributes, limits, created_at, expires_at, revoked_at, parent_id, created_by';
export const grantParams = (g: GrantRecord): unknown[] => [
  g.id,
  g.user,
  g.agent,
  json(g.actions),
  json(g.resources),
  json(g.resourceAttributes),
  json(g.limits),
  g.createdAt,
  g.expiresAt,
  g.revokedAt,
  g.parentId,
  g.createdBy,
];

export function uiSessionFromRow(r: Row): UiSessionRecord {
  return {
    idHash: str(r.id_hash),
    family: str(r.family),
    keyId: str(r.key_id),
    role: str(r.role) as UiSessionRecord['role'],
    subject: strOrNull(r.subject),
    csrfToken: str(r.csrf_token),
    issuedAt: str(r.issued_at),
    expiresAt: str(r.expires_at),
    maxExpiresAt: str(r.max_expires_at),
    replacedUntil: strOrNull(r.replaced_until),
  };
}

/** Statement parameters of a ui_sessions row, in column order. */
export const uiSessionParams = (s: UiSessionRecord): unknown[] => [
  s.idHash,
  s.family,
  s.keyId,
  s.role,
  s.subject,
  s.csrfToken,
  s.issuedAt,
  s.expiresAt,
  s.maxExpiresAt,
  s.replacedUntil,
];

export const UI_SESSION_COLUMNS =
  'id_hash, family, key_id, role, subject, csrf_token, issued_at, expires_at, max_expires_at, replaced_until';
export function usageFromRow(r: Row): UsageCounterRecord {
  return {
    name: str(r.name),
    agent: str(r.agent),
    user: str(r.user_id),
    windowStart: str(r.window_start),
    windowEnd: str(r.window_end),
    value: Number(r.value),
  };
}

/** The WHERE clause of a usage listing, with `?` or `$n` placeholders. */
export function usageWhere(
  f: UsageFilter,
  placeholder: (n: number) => string,
): { where: string; params: unknown[]; limit: number } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    clauses.push(`${sql} ${placeholder(params.length)}`);
  };
  if (f.name !== undefined) add('name =', f.name);
  if (f.agent !== undefined) add('agent =', f.agent);
  if (f.user !== undefined) add('user_id =', f.user);
  if (f.activeAt !== undefined) add('window_end >', f.activeAt);
  return {
    where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '',
    params,
    limit: Math.min(Math.max(1, f.limit ?? 1000), 10_000),
  };
}

export function personalFromRow(r: Row): PersonalDataRecord {
  return { ref: str(r.ref), subject: str(r.subject), data: parse(r.data), createdAt: str(r.created_at) };
}
