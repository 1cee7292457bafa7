import { SQLITE_MIGRATIONS } from '../../src/storage/sqlite/migrations.js';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { auditEvent, expectChain, testSealer } from '../../src/storage/contract/index.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { openSqliteDatabase, walPathOf } from '../../src/storage/sqlite/sqlite-store.js';
import { LOCK_SLICE_MS } from '../../src/storage/sqlite/faults.js';
import { appendFromBoth, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const isRoot = process.getuid?.() === 0;

describe('sqlite driver specifics', () => {
  it('opens the file in WAL mode with synchronous=NORMAL (the store syncs the WAL), a short busy timeout and foreign keys on', () => {
    const path = join(tempDir(), 'a', 'b', 'mandate.db');
    const db = openSqliteDatabase(path);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      // NORMAL: SQLite does not sync the WAL inside a commit; the store does it after each commit,
      // off the event loop (storage/sqlite/wal-sync.ts, docs/adr/0028; tested in sqlite-wal-sync.test.ts).
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(walPathOf(db)).toBe(`${path}-wal`);
      expect(existsSync(`${path}-wal`)).toBe(true);
      // One slice: longer waits for a lock are asynchronous retries (storage/sqlite/faults.ts).
      expect(db.pragma('busy_timeout', { simple: true })).toBe(LOCK_SLICE_MS);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  it('keeps synchronous=FULL where there is no WAL file to sync (:memory:)', () => {
    const db = openSqliteDatabase(':memory:');
    try {
      expect(walPathOf(db)).toBeNull();
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    } finally {
      db.close();
    }
  });

  it('migrates once, records it, and keeps data across reopen', async () => {
    const path = join(tempDir(), 'mandate.db');
    const s1 = createSqliteStore(path);
    expect(await s1.migrate()).toEqual(SQLITE_MIGRATIONS.map((m) => m.name));
    expect(await s1.migrate()).toEqual([]);
    const [r] = await s1.appendAudit([auditEvent(1)], testSealer);
    await s1.close();

    const raw = new Database(path, { readonly: true });
    expect(raw.prepare('SELECT name FROM schema_migrations').all()).toEqual(
      SQLITE_MIGRATIONS.map((m) => ({ name: m.name })),
    );
    raw.close();

    const s2 = createSqliteStore(path);
    try {
      expect(await s2.migrate()).toEqual([]);
      expect(await s2.auditHead()).toEqual({ seq: 1, hash: r!.hash });
    } finally {
      await s2.close();
    }
  });

  it('works on :memory:', async () => {
    const s = createSqliteStore(':memory:');
    try {
      await s.migrate();
      await s.appendAudit([auditEvent(1), auditEvent(2)], testSealer);
      expectChain(await s.readAudit(0, 10));
    } finally {
      await s.close();
    }
  });

  it('two stores on one file (two processes, in effect) append into one gapless chain', async () => {
    const path = join(tempDir(), 'mandate.db');
    const a = createSqliteStore(path);
    const b = createSqliteStore(path);
    try {
      await a.migrate();
      await b.migrate();
      await appendFromBoth(a, b);
      const all = await a.readAudit(0, 100);
      expect(all).toHaveLength(40);
      expectChain(all);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('returns an edited audit row as edited, so the verifier can find it', async () => {
    const path = join(tempDir(), 'mandate.db');
    const s = createSqliteStore(path);
    try {
      await s.migrate();
      await s.appendAudit([auditEvent(1), auditEvent(2, { effect: 'deny' }), auditEvent(3)], testSealer);
      const forged = JSON.stringify(auditEvent(2, { effect: 'allow' }));
      const raw = new Database(path);
      raw.prepare(`UPDATE audit_events SET event_text = ?, effect = 'allow' WHERE seq = 2`).run(forged);
      raw.close();

      const all = await s.readAudit(0, 10);
      expect(all[1]!.eventText).toBe(forged);
      expect(all[1]!.columns.effect).toBe('allow');
      expect((await s.queryAudit({ effect: 'deny', limit: 10 })).map((r) => r.seq)).toEqual([]);
      expect(() => expectChain(all)).toThrow();
    } finally {
      await s.close();
    }
  });

  describe('fails with store_unavailable, never a driver error', () => {
    it('when the file cannot be opened (its parent is a regular file)', () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'file'), 'x');
      expect(() => createSqliteStore(join(dir, 'file', 'mandate.db'))).toThrow(
        expect.objectContaining({ code: 'store_unavailable' }),
      );
    });

    it('when another connection holds the write lock past the busy timeout', async () => {
      const path = join(tempDir(), 'mandate.db');
      const s = createSqliteStore(path, { busyTimeoutMs: 50 });
      await s.migrate();
      const other = new Database(path);
      other.exec('BEGIN IMMEDIATE');
      try {
        await expect(s.appendAudit([auditEvent(1)], testSealer)).rejects.toMatchObject({
          code: 'store_unavailable',
        });
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      // The lock is gone: the same store works again.
      await s.appendAudit([auditEvent(1)], testSealer);
      await s.close();
    });

    it.skipIf(isRoot)(
      'when the database directory is made unwritable (skipped as root, which ignores modes)',
      async () => {
        const dir = join(tempDir(), 'ro');
        const path = join(dir, 'mandate.db');
        const s = createSqliteStore(path);
        await s.migrate();
        await s.close();
        for (const f of ['mandate.db', 'mandate.db-wal', 'mandate.db-shm'])
          if (existsSync(join(dir, f))) chmodSync(join(dir, f), 0o444);
        chmodSync(dir, 0o555);
        try {
          const ro = createSqliteStore(path);
          await expect(ro.appendAudit([auditEvent(1)], testSealer)).rejects.toMatchObject({
            code: 'store_unavailable',
          });
          await ro.close();
        } catch (err) {
          // Opening may already fail, which is the same answer.
          expect(err).toMatchObject({ code: 'store_unavailable' });
        } finally {
          chmodSync(dir, 0o755);
        }
      },
    );

    it('when the store is closed', async () => {
      const s = createSqliteStore(join(tempDir(), 'mandate.db'));
      await s.migrate();
      await s.close();
      await expect(s.createGrant({} as never)).rejects.toMatchObject({ code: 'store_unavailable' });
    });
  });
});
