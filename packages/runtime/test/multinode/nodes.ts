/**
 * Nodes for the multi-node tests: Mandates built from the repository's example config on one
 * shared store (a SQLite file, or a PostgreSQL schema handed in as `storeOverride`), without
 * gateway upstreams, closed (and the PostgreSQL schemas dropped) after each test.
 */
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/port.js';
import { POSTGRES_URL, dropSchemas } from '../storage/helpers.js';

export const root = join(import.meta.dirname, '../../../..');
const opened: Mandate[] = [];

/** Closes the nodes each test started, then drops the PostgreSQL schemas it made. */
export function closeNodesAfterEach(): void {
  afterEach(async () => {
    for (const m of opened.splice(0)) await m.close();
    if (POSTGRES_URL) await dropSchemas(POSTGRES_URL);
  });
}

export async function node(store: string, keysDir: string, storeOverride?: Store): Promise<Mandate> {
  const loaded = loadConfig(
    { configFile: join(root, 'mandate.config.json'), store, logLevel: 'silent', port: 0 },
    {},
    root,
  );
  loaded.config.keys.dir = keysDir;
  loaded.config.gateway.upstreams = [];
  const m = await createMandate(loaded, {
    logger: silentLogger,
    ...(storeOverride ? { store: storeOverride } : {}),
  });
  opened.push(m);
  return m;
}
