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

/**
 * Usage counters (usage/, ADR 0024): one row per counter, agent, user and fixed window; '' stands
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

/**
 * The policy (id and `@reason`) whose `@approval` asked for an approval, for the approver's screen
 * (issue 11 §1). Approvals requested before stay without one.
 */
export const APPROVAL_POLICY_SQL = `
ALTER TABLE approvals ADD COLUMN policy_id TEXT;
ALTER TABLE approvals ADD COLUMN policy_reason TEXT;
`;

/** Deployment secrets shared by the nodes of one store ({@link Store.ensureSecret}). */
export const SECRETS_SQL = `
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** The tables whose rows the read cache keeps (storage/read-cache.ts, ADR 0026). */
export const CACHED_TABLES = ['agents', 'users', 'resources', 'grants', 'api_keys'] as const;

/**
 * One read of the cache epoch (Store.cacheEpoch), both dialects: the counter and, in the same
 * statement, the active policy set's version, so the hot path checks both for the price of one.
 */
export const CACHE_EPOCH_SQL =
  'SELECT n, (SELECT version FROM policy_activations ORDER BY ord DESC LIMIT 1) AS v FROM cache_epoch WHERE id = 1';

/**
 * The cache epoch (ADR 0026): one counter that every write to a cached table moves, by trigger, in
 * the writer's own transaction — whoever writes (this node, another node, an operator's shell).
 * Each node reads it before serving a cached row, so a revocation holds at the next request on
 * every node.
 */
export const cacheEpochSql = (driver: 'sqlite' | 'postgres'): string => {
  const table = `CREATE TABLE cache_epoch (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n ${driver === 'sqlite' ? 'INTEGER' : 'BIGINT'} NOT NULL
);
INSERT INTO cache_epoch (id, n) VALUES (1, 0);
`;
  if (driver === 'sqlite') {
    // SQLite triggers are per row; each changed row moves the epoch (bulk imports are rare).
    return (
      table +
      CACHED_TABLES.flatMap((t) =>
        ['INSERT', 'UPDATE', 'DELETE'].map(
          (op) =>
            `CREATE TRIGGER ${t}_epoch_${op.toLowerCase()} AFTER ${op} ON ${t}
` + 'BEGIN UPDATE cache_epoch SET n = n + 1 WHERE id = 1; END;\n',
        ),
      ).join('')
    );
  }
  // The function keeps the search_path it was created with, so a change made from a session with
  // another path (an operator's psql) still finds this schema's counter.
  return (
    table +
    `CREATE FUNCTION mandate_bump_cache_epoch() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE cache_epoch SET n = n + 1 WHERE id = 1;
  RETURN NULL;
END
$$;
` +
    CACHED_TABLES.map(
      (t) =>
        `CREATE TRIGGER ${t}_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t}
` + 'FOR EACH STATEMENT EXECUTE FUNCTION mandate_bump_cache_epoch();\n',
    ).join('')
  );
};

/** The columns of api_keys whose change the read cache must see: all but `last_used_at`. */
export const API_KEY_CACHED_COLUMNS = [
  'ord',
  'id',
  'hash',
  'role',
  'subject',
  'name',
  'created_at',
  'revoked_at',
  'expires_at',
  'origin',
] as const;

/**
 * Recording that a key was used (`last_used_at`, at most once a minute per key and node) is not a
 * change the read cache must see, yet it moved the cache epoch and so emptied every node's cache
 * each time. The update trigger of api_keys now fires on the other columns only; inserts and
 * deletes still move the epoch. test/storage/cache-epoch.test.ts updates each column of the live
 * table, so a column added later without being listed here fails it.
 */
export const keyUseKeepsEpochSql = (driver: 'sqlite' | 'postgres'): string => {
  const columns = API_KEY_CACHED_COLUMNS.join(', ');
  if (driver === 'sqlite')
    return `DROP TRIGGER api_keys_epoch_update;
CREATE TRIGGER api_keys_epoch_update AFTER UPDATE OF ${columns} ON api_keys
BEGIN UPDATE cache_epoch SET n = n + 1 WHERE id = 1; END;
`;
  return `DROP TRIGGER api_keys_epoch ON api_keys;
CREATE TRIGGER api_keys_epoch AFTER INSERT OR DELETE OR TRUNCATE ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION mandate_bump_cache_epoch();
CREATE TRIGGER api_keys_epoch_update AFTER UPDATE OF ${columns} ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION mandate_bump_cache_epoch();
`;
};
