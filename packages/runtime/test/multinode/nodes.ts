/**
 * Nodes for the multi-node tests: Mandates built from the repository's example config on one
 * shared store (a SQLite file, or a PostgreSQL schema handed in as `storeOverride`), without
 * gateway upstreams, closed (and the PostgreSQL schemas dropped) after each test.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/port.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { POSTGRES_URL, dropSchemas, freshSchema } from '../storage/helpers.js';

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

/** Starts `count` nodes one after another or, with `together`, all at once. */
async function startAll(count: number, together: boolean, one: () => Promise<Mandate>): Promise<Mandate[]> {
  if (together) return Promise.all(Array.from({ length: count }, one));
  const nodes: Mandate[] = [];
  for (let i = 0; i < count; i++) nodes.push(await one());
  return nodes;
}

/** `count` nodes on one SQLite file (`file`) in a fresh temp dir (`dir`, their keys in `dir/keys`). */
export async function sqliteNodes(
  count: number,
  opts: { together?: boolean } = {},
): Promise<{ nodes: Mandate[]; dir: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-nodes-'));
  const file = join(dir, 'm.db');
  const nodes = await startAll(count, opts.together ?? false, () =>
    node(`sqlite:${file}`, join(dir, 'keys')),
  );
  return { nodes, dir, file };
}

/**
 * `count` nodes on one fresh PostgreSQL schema (`POSTGRES_URL` set), each with a pool of its own,
 * their keys in `dir/keys`.
 */
export async function postgresNodes(
  count: number,
  opts: { together?: boolean; poolSize?: number } = {},
): Promise<{ nodes: Mandate[]; schema: string; dir: string }> {
  const schema = freshSchema();
  const dir = mkdtempSync(join(tmpdir(), 'mandate-pg-nodes-'));
  const pool = opts.poolSize === undefined ? {} : { poolSize: opts.poolSize };
  const nodes = await startAll(count, opts.together ?? false, () =>
    node('memory', join(dir, 'keys'), createPostgresStore(POSTGRES_URL!, { schema, ...pool })),
  );
  return { nodes, schema, dir };
}
