/**
 * Migration text both SQL drivers run as is (the column types that differ are parameters): one
 * definition, so the two schemas cannot drift.
 */

/**
 * Usage counters (usage/, ADR 0022): one row per counter, agent, user and fixed window; '' stands
 * for "not kept per agent / per user". Charged atomically with allow decisions, shared by nodes.
 */
export const usageCountersSql = (integer: 'INTEGER' | 'BIGINT') => `
CREATE TABLE usage_counters (
  name TEXT NOT NULL,
  agent TEXT NOT NULL,
  user_id TEXT NOT NULL,
  window_start TEXT NOT NULL,
  window_end TEXT NOT NULL,
  value ${integer} NOT NULL,
  PRIMARY KEY (name, agent, user_id, window_start)
);
CREATE INDEX usage_counters_end ON usage_counters (window_end);
`;

/**
 * Personal data kept beside the chain, erasable (docs/audit.md "Erasure"): the hashed record names
 * the row by its decision id; erasing a subject deletes its rows and leaves the chain as it was.
 */
export const PERSONAL_DATA_SQL = `
CREATE TABLE personal_data (
  ref TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX personal_data_subject ON personal_data (subject);
`;
