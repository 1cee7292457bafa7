import {
  PERSONAL_DATA_SQL,
  cacheEpochSql,
  SECRETS_SQL,
  keyUseKeepsEpochSql,
  TOOL_PIN_APPROVED_SQL,
  UI_SESSIONS_SQL,
  usageCountersSql,
  APPROVAL_POLICY_SQL,
} from '../shared-migrations.js';

/** One forward-only schema step; `name` is recorded in `schema_migrations` once applied. */
export interface SqliteMigration {
  name: string;
  sql: string;
}

/*
 * Why the shapes below:
 * - JSON-ish fields are TEXT holding JSON so getters return exactly what was stored.
 * - Times are ISO strings in TEXT: SQLite compares TEXT bytewise, which matches the string
 *   comparison the audit filter semantics use (storage/audit-filter.ts).
 * - "Newest first" means insertion order, as in the memory driver, so tables listed newest first
 *   carry an explicit `ord INTEGER PRIMARY KEY` (a rowid alias, which VACUUM never renumbers).
 */
const INITIAL = `
CREATE TABLE agents (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  roles TEXT NOT NULL,
  owner TEXT,
  status TEXT NOT NULL,
  attributes TEXT NOT NULL,
  parent TEXT
);

CREATE TABLE users (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  roles TEXT NOT NULL,
  status TEXT NOT NULL,
  attributes TEXT NOT NULL
);

CREATE TABLE resources (
  ord INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  attributes TEXT NOT NULL,
  tags TEXT NOT NULL,
  UNIQUE (type, id)
);

CREATE TABLE tools (
  position INTEGER PRIMARY KEY,
  action TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX tools_action ON tools (action);

CREATE TABLE policy_sets (
  ord INTEGER PRIMARY KEY,
  version TEXT NOT NULL UNIQUE,
  policies TEXT NOT NULL,
  schema_text TEXT NOT NULL,
  created_at TEXT NOT NULL,
  source TEXT NOT NULL
);

CREATE TABLE policy_activations (
  ord INTEGER PRIMARY KEY,
  version TEXT NOT NULL REFERENCES policy_sets (version),
  activated_at TEXT NOT NULL
);
CREATE INDEX policy_activations_version ON policy_activations (version, ord);

CREATE TABLE api_keys (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  role TEXT NOT NULL,
  subject TEXT,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX api_keys_hash ON api_keys (hash);

CREATE TABLE approvals (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  call_hash TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  user_id TEXT,
  action TEXT NOT NULL,
  resource TEXT,
  policy_version TEXT NOT NULL,
  role TEXT NOT NULL,
  quorum INTEGER NOT NULL,
  summary TEXT NOT NULL,
  args TEXT NOT NULL,
  status TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  votes TEXT NOT NULL,
  vote_count INTEGER NOT NULL,
  resolved_at TEXT,
  consumed_at TEXT,
  consumed_by TEXT
);
CREATE INDEX approvals_status ON approvals (status, ord);
CREATE INDEX approvals_agent ON approvals (agent, status);

CREATE TABLE grants (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  actions TEXT NOT NULL,
  resources TEXT NOT NULL,
  resource_attributes TEXT NOT NULL,
  limits TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT,
  parent_id TEXT,
  created_by TEXT NOT NULL
);
CREATE INDEX grants_parent ON grants (parent_id);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_agent ON grants (agent);

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  event_text TEXT NOT NULL,
  type TEXT NOT NULL,
  time TEXT NOT NULL,
  agent TEXT,
  user_id TEXT,
  action TEXT,
  effect TEXT,
  decision_id TEXT
);
CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_agent ON audit_events (agent, seq);
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_effect ON audit_events (effect, seq);
CREATE INDEX audit_events_decision ON audit_events (decision_id);

CREATE TABLE audit_checkpoints (
  ord INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  time TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
`;

/** The SQLite schema history, oldest first. Never edit an entry that has shipped: append a new one. */
const TOOL_PINS = `
CREATE TABLE tool_pins (
  server TEXT NOT NULL,
  tool TEXT NOT NULL,
  hash TEXT NOT NULL,
  definition TEXT NOT NULL,
  status TEXT NOT NULL,
  first_seen_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  approved_by TEXT,
  PRIMARY KEY (server, tool)
);
`;

/** Idempotency keys of `POST /v1/decisions` and the once-only decision outcomes (decisions/idempotency.ts). */
const IDEMPOTENCY_KEYS = `
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  response TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
`;

/**
 * Key lifecycle (ADR 0018): an expiry, the coalesced last-used time, and where the key came from
 * (`config` keys are revoked at start once the config no longer lists them).
 */
const API_KEY_LIFECYCLE = `
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN origin TEXT;
`;

/** Delivery cursors of the audit sinks (sinks/): the last seq each sink's receiver acknowledged. */
const SINK_CURSORS = `
CREATE TABLE sink_cursors (
  sink TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);
`;

const POLICY_SHADOW = `
CREATE TABLE policy_shadow (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version TEXT REFERENCES policy_sets (version),
  set_at TEXT NOT NULL
);
`;

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  { name: '001_initial', sql: INITIAL },
  { name: '002_tool_pins', sql: TOOL_PINS },
  { name: '017_idempotency_keys', sql: IDEMPOTENCY_KEYS },
  // The pinned definition hash of the MCP tool an approval was given for (ADR 0017).
  { name: '040_approval_tool_hash', sql: 'ALTER TABLE approvals ADD COLUMN tool_hash TEXT;' },
  { name: '045_api_key_lifecycle', sql: API_KEY_LIFECYCLE },
  { name: '050_sink_cursors', sql: SINK_CURSORS },
  { name: '060_ui_sessions', sql: UI_SESSIONS_SQL },
  { name: '061_tool_pin_approved', sql: TOOL_PIN_APPROVED_SQL },
  { name: '062_approval_policy', sql: APPROVAL_POLICY_SQL },
  // The shadow policy set (one row; version null when cleared), issue 14 §1.
  { name: '070_policy_shadow', sql: POLICY_SHADOW },
  { name: '080_usage_counters', sql: usageCountersSql('INTEGER') },
  { name: '085_personal_data', sql: PERSONAL_DATA_SQL },
  // The read cache's epoch, moved by triggers on every cached table (ADR 0026).
  { name: '090_cache_epoch', sql: cacheEpochSql('sqlite') },
  // A key's last-used time no longer moves the epoch (it emptied every node's cache).
  { name: '091_key_use_keeps_cache_epoch', sql: keyUseKeepsEpochSql('sqlite') },
  // The key of the approval call hash, shared by every node (it is not in any record).
  { name: '095_secrets', sql: SECRETS_SQL },
  // The writer's seal over each batch, on its last record (ADR 0038): a record no writer sealed was inserted.
  { name: '096_audit_seal', sql: 'ALTER TABLE audit_events ADD COLUMN seal TEXT;' },
  // The hash of the record a sink's cursor stands on: a chain rewritten at or below it is found (docs/streaming.md).
  { name: '097_sink_cursor_hash', sql: 'ALTER TABLE sink_cursors ADD COLUMN hash TEXT;' },
];
