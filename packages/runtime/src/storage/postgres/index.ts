export { POSTGRES_AUDIT_LOCK_KEY, createPostgresStore } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { POSTGRES_MIGRATIONS } from './migrations.js';
export type { PostgresMigration } from './migrations.js';
