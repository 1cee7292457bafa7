import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, disposeAll, tempDir } from '../fixtures/mandate.js';
import { ensureBuilt } from '../fixtures/cli.js';
import { client, KEYS, ok200, refund } from '../fixtures/http.js';
import {
  postgresUrl,
  killChildren,
  spawnServe,
  stopServe,
  uniqueName,
  withClient,
  writeServeConfig,
  type ServeProcess,
} from './helpers.js';

/*
 * Issue 9, "nodes started together on a fresh database fail": four `mandate serve` started at
 * once on one empty database must all start. The cause was two nodes replacing the tool
 * registry at the same time (PostgreSQL: 23505 on tools_pkey, reported as a bare "conflict").
 */

const NODES = 4;
const ROUNDS = Number(process.env.FAULTS_START_ROUNDS ?? 3);

beforeAll(() => ensureBuilt());
afterAll(async () => {
  killChildren();
  await disposeAll();
});

/** Starts `NODES` servers on one config at once; returns them (started or not). */
async function startTogether(config: string): Promise<ServeProcess[]> {
  return Promise.all(Array.from({ length: NODES }, () => spawnServe(config)));
}

async function expectAllStarted(procs: ServeProcess[]): Promise<void> {
  try {
    for (const p of procs) expect(p.url, `a node did not start: ${p.stderr()}`).not.toBeNull();
    // Every node serves decisions from the one shared state.
    for (const p of procs) {
      const d = ok200(await client(p.url!).decide(KEYS.supportBot, refund(120)));
      expect(d.effect).toBe('allow');
    }
  } finally {
    const ends = await Promise.all(procs.map((p) => stopServe(p)));
    for (const e of ends) expect(e.signal).toBeNull();
  }
}

describe.skipIf(!POSTGRES_URL)('four nodes started at once on one fresh PostgreSQL schema', () => {
  it(
    `all start, ${ROUNDS} rounds in a row, and leave one registry`,
    async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const schema = uniqueName('mandate_start');
        await withClient(POSTGRES_URL!, (c) => c.query(`CREATE SCHEMA "${schema}"`));
        try {
          const dir = tempDir('mandate-start-');
          const config = writeServeConfig(dir, postgresUrl(POSTGRES_URL!, { schema, app: schema }));
          await expectAllStarted(await startTogether(config));
          await withClient(POSTGRES_URL!, async (c) => {
            const tools = await c.query(`SELECT action FROM "${schema}".tools ORDER BY position`);
            const actions = tools.rows.map((r: { action: string }) => r.action);
            expect(new Set(actions).size).toBe(actions.length);
            const applied = await c.query(`SELECT name FROM "${schema}".schema_migrations`);
            expect(new Set(applied.rows.map((r: { name: string }) => r.name)).size).toBe(applied.rowCount);
          });
        } finally {
          await withClient(POSTGRES_URL!, (c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
        }
      }
    },
    // Generous: on a loaded shared machine one node alone can take tens of seconds to start.
    ROUNDS * 300_000,
  );
});

describe('four nodes started at once on one fresh SQLite file', () => {
  it('all start', async () => {
    const dir = tempDir('mandate-start-');
    const config = writeServeConfig(dir, `sqlite:${join(dir, 'mandate.db')}`);
    await expectAllStarted(await startTogether(config));
  }, 300_000);
});
