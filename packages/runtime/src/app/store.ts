import { MandateError, type Logger } from '../kernel/index.js';
import type { Store } from '../storage/port.js';
import { createMemoryStore } from '../storage/memory/index.js';
import { createSqliteStore } from '../storage/sqlite/index.js';
import { createPostgresStore } from '../storage/postgres/index.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Names this node's PostgreSQL sessions (`application_name` `mandate <nodeId>`), for operators. */
  nodeId?: string;
}

/** Opens the store a `--store` URL names: `memory`, `sqlite:<path>` or `postgres://…`. */
export function openStore(url: string, logger: Logger, opts: OpenStoreOptions = {}): Store {
  if (url === 'memory') return createMemoryStore();
  if (url.startsWith('sqlite:')) return createSqliteStore(url.slice('sqlite:'.length), { logger });
  if (url.startsWith('postgres://') || url.startsWith('postgresql://'))
    return createPostgresStore(url, {
      logger,
      ...(opts.nodeId === undefined ? {} : { applicationName: `mandate ${opts.nodeId}` }),
    });
  throw new MandateError('bad_request', `unknown store ${url}: use memory, sqlite:<path> or postgres://…`);
}

/** The store URL with any password masked, for logs and banners. */
export function describeStore(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
