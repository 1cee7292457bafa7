/**
 * Migration text that is the same for SQLite and PostgreSQL (plain TEXT columns, standard ALTER and
 * UPDATE). Each driver lists these under the same names in its own history.
 */

/** Dashboard sessions (ADR 0022): by the hash of the id only, shared by every node. */
export const UI_SESSIONS_SQL = `
CREATE TABLE ui_sessions (
  id_hash TEXT PRIMARY KEY,
  family TEXT NOT NULL,
  key_id TEXT NOT NULL,
  role TEXT NOT NULL,
  subject TEXT,
  csrf_token TEXT NOT NULL,
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  max_expires_at TEXT NOT NULL,
  replaced_until TEXT
);
CREATE INDEX ui_sessions_family ON ui_sessions (family);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
`;

/**
 * The definition last approved stays on a pin while a changed one is quarantined, so the change can
 * be reviewed (issue 11). Pins approved before this migration start with their current definition.
 */
export const TOOL_PIN_APPROVED_SQL = `
ALTER TABLE tool_pins ADD COLUMN approved_hash TEXT;
ALTER TABLE tool_pins ADD COLUMN approved_definition TEXT;
UPDATE tool_pins SET approved_hash = hash, approved_definition = definition WHERE status = 'approved';
`;
