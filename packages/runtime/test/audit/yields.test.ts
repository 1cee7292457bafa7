// A node verifies its chain on the event loop that serves its decisions. SQLite and memory reads
// resolve without I/O, so a loop of reads and checks gave sockets and timers no turn until it was
// done: a whole-chain verify (GET /v1/audit/verify) or a tail check of 10,000 records held every
// request behind it (measured on a bench database: 8,241 records, one block of 2.1 s). Both now
// let the loop run after every page, and within a page once ~2 ms of work went by.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/audit/verify.js';
import { countDecisions } from '../../src/http/routes/overview-counts.js';
import type { Store } from '../../src/storage/port.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { quietTailVerifier, seedLog, type SeededLog } from './helpers.js';
import { turnsDuring } from '../fixtures/loop.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A SQLite store holding a chain of `n` decision events, a checkpoint every 10. */
async function sqliteChain(n: number): Promise<SeededLog> {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-yields-'));
  dirs.push(dir);
  const store = createSqliteStore(join(dir, 'm.db'));
  await store.migrate();
  return seedLog(n, 10, [], store);
}

describe('verifying the chain lets the event loop run', () => {
  it('verify gives the loop a turn after every page (memory store)', async () => {
    const { store, publicKeys } = await seedLog(40);
    const { result, turns } = await turnsDuring(() => verifyAudit(store, { publicKeys, batchSize: 10 }));
    expect(result).toMatchObject({ ok: true, records: 40 });
    expect(turns).toBeGreaterThanOrEqual(4);
  });

  it('verify gives the loop a turn after every page (SQLite)', async () => {
    const { store, publicKeys } = await sqliteChain(60);
    try {
      const { result, turns } = await turnsDuring(() => verifyAudit(store, { publicKeys, batchSize: 20 }));
      expect(result).toMatchObject({ ok: true, records: 60 });
      expect(turns).toBeGreaterThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  it('the tail check gives the loop a turn after every page, and still checks every record', async () => {
    const { store, publicKeys } = await sqliteChain(60);
    try {
      const tv = quietTailVerifier({ source: store, publicKeys, pageSize: 20 });
      const { result, turns } = await turnsDuring(() => tv.check());
      expect(result).toEqual({
        ok: true,
        verifiedSeq: 60,
        failure: null,
        unverified: null,
        anchorSeq: 60,
        historySeq: 60,
      });
      expect(turns).toBeGreaterThanOrEqual(3);
      await tv.close();
    } finally {
      await store.close();
    }
  });

  it('the overview counts the hour in pages and gives the loop a turn between them', async () => {
    // 2,500 decisions, one a second from 10:00:01 on; the hour to 10:43:20 holds them all.
    const { store } = await seedLog(2500, 500);
    let turned = false;
    const turnedBefore: boolean[] = [];
    const watched: Pick<Store, 'queryAudit'> = {
      queryAudit(filter) {
        turnedBefore.push(turned);
        turned = false;
        setImmediate(() => (turned = true));
        return store.queryAudit(filter);
      },
    };
    const counts = await countDecisions(watched, Date.parse('2026-01-05T10:43:20Z'));
    const total = counts.decisionsPerMinute.reduce((n, m) => n + m.allow + m.deny, 0);
    expect(total).toBe(2500);
    expect(counts.truncated).toBe(false);
    // Three pages (1,000, 1,000, 500): the loop had a turn before the second and the third.
    expect(turnedBefore).toEqual([false, true, true]);
  });
});
