export { createSqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { SQLITE_MIGRATIONS } from './migrations.js';
export type { SqliteMigration } from './migrations.js';
