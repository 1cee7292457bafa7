import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../src/kernel/index.js';
import { auditEvent, expectChain, testSealer } from '../../src/storage/contract/index.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { checkpointerOf } from '../../src/storage/sqlite/sqlite-store.js';
import type { Store } from '../../src/storage/index.js';
import { removeTempDirs, tempDir } from './helpers.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { client, KEYS, refund } from '../fixtures/http.js';

/*
 * docs/adr/0031: the SQLite store's connection does not checkpoint inside its commits; a worker
 * thread does, and restarts the WAL so it stays bounded under a steady stream of commits. A
 * worker that fails hands checkpoints back to SQLite.
 */

afterAll(async () => {
  await disposeAll();
  removeTempDirs();
});

const FAILING_DRIVER = fileURLToPath(new URL('./fixtures/failing-sqlite-driver.cjs', import.meta.url));
/** About 2 KB per event, as a decision record is: a few WAL pages per commit. */
const PAD = 'x'.repeat(2000);

async function appendMany(store: Store, commits: number, perCommit: number): Promise<void> {
  for (let i = 0; i < commits; i++) {
    const events = Array.from({ length: perCommit }, (_, j) =>
      auditEvent(i * perCommit + j, { data: { pad: PAD } }),
    );
    await store.appendAudit(events, testSealer);
  }
}

/** Every record is there, in one unbroken chain. */
async function expectWhole(store: Store, n: number): Promise<void> {
  const records = await store.queryAudit({ limit: n + 1 });
  expect(records).toHaveLength(n);
  expectChain(records);
}

const walBytes = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);

describe('sqlite: WAL checkpoints in a worker thread', () => {
  it('checkpoints and restarts the WAL off the event loop, so the WAL stays bounded', async () => {
    const file = join(tempDir(), 'ck.db');
    const store = createSqliteStore(file, { checkpoints: { everyCommits: 8, restartFrames: 200 } });
    try {
      await store.migrate();
      const ck = checkpointerOf(store)!;
      // The worker is up (it loads its own driver first).
      await ck.checkpointNow();
      // 600 commits of 4 events (~8 KB each, plus index pages): far more WAL than 200 frames.
      await appendMany(store, 600, 4);
      await ck.checkpointNow();
      const s = ck.stats();
      expect(s.fellBack).toBe(false);
      expect(s.checkpoints).toBeGreaterThan(10);
      expect(s.restarts).toBeGreaterThan(0);
      // Written in all: about 10,000 frames (40 MB), which is what the WAL grows to when it is
      // only checkpointed, never restarted. Restarted, the file is reused (about 2 MB here).
      expect(walBytes(file)).toBeLessThan(8 * 1024 * 1024);
      await expectWhole(store, 2400);
    } finally {
      await store.close();
    }
    // The last connection to close checkpoints what is left and removes the WAL; nothing is lost.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = createSqliteStore(file);
    try {
      expect((await again.auditHead()).seq).toBe(2400);
      await expectWhole(again, 2400);
    } finally {
      await again.close();
    }
  });

  it('with checkpoints inline there is no worker (SQLite checkpoints in the commit)', async () => {
    const file = join(tempDir(), 'inline.db');
    const store = createSqliteStore(file, { checkpoints: 'inline' });
    try {
      await store.migrate();
      await appendMany(store, 300, 4);
      expect(checkpointerOf(store)).toBeUndefined();
      // SQLite's own checkpoints (every 1,000 frames) keep it bounded too.
      expect(walBytes(file)).toBeLessThan(8 * 1024 * 1024);
    } finally {
      await store.close();
    }
  });

  it('a worker whose checkpoints fail hands them back to SQLite, loudly, and loses nothing', async () => {
    const file = join(tempDir(), 'failing.db');
    const lines: { level: string; msg: string; error?: string }[] = [];
    const logger = createJsonLogger('warn', (l) => lines.push(JSON.parse(l)));
    const store = createSqliteStore(file, {
      logger,
      checkpoints: { everyCommits: 4, driver: FAILING_DRIVER },
    });
    try {
      await store.migrate();
      await appendMany(store, 8, 1);
      const ck = checkpointerOf(store)!;
      for (let i = 0; i < 200 && !ck.stats().fellBack; i++) await new Promise((r) => setTimeout(r, 10));
      expect(ck.stats().fellBack).toBe(true);
      expect(ck.stats().checkpoints).toBe(0);
      expect(store.walCheckpointStats?.()).toMatchObject({ fellBack: true, checkpoints: 0 });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'error',
          msg: 'sqlite checkpoint worker failed; SQLite checkpoints on the event loop again',
          error: 'disk I/O error (test driver)',
        }),
      );
      // SQLite checkpoints again: ~9 MB of commits leave a WAL of about its 1,000-frame threshold.
      await appendMany(store, 300, 4);
      expect(walBytes(file)).toBeLessThan(8 * 1024 * 1024);
      await expectWhole(store, 1208);
    } finally {
      await store.close();
    }
  });

  it('a node reports its checkpoint worker on /metrics', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const series = async () => {
      const text = (await api.get('/metrics')).text;
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return {
        checkpoints: value('mandate_sqlite_wal_checkpoints_total'),
        ok: value('mandate_sqlite_wal_checkpoint_worker_ok'),
      };
    };
    expect(await series()).toEqual({ checkpoints: 0, ok: 1 });
    // Each decision commits its audit record: 64 commits (a start makes about 30) start a checkpoint.
    for (let i = 0; i < 70; i++) expect((await api.decide(KEYS.supportBot, refund(100))).status).toBe(200);
    let s = await series();
    for (let i = 0; i < 200 && s.checkpoints === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      s = await series();
    }
    expect(s.checkpoints).toBeGreaterThan(0);
    expect(s.ok).toBe(1);
  });
});
