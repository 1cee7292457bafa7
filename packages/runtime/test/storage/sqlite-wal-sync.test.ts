import { copyFileSync, fstatSync, fsync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/storage/index.js';
import { unavailableReason } from '../../src/storage/index.js';
import { apiKey, auditEvent, expectChain, testSealer } from '../../src/storage/contract/index.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { appendFromBoth, removeTempDirs, tempDir } from './helpers.js';

/*
 * docs/adr/0028: the SQLite driver runs with synchronous=NORMAL and fsyncs the WAL itself, on the
 * thread pool, before a write resolves. These tests stand in for the disk with a gate: each
 * fsync the store asks for waits until the test releases (or fails) it.
 */

afterAll(removeTempDirs);

const realFsync = promisify(fsync);
const tick = () => new Promise<void>((r) => setTimeout(r, 20));

interface Gate {
  syncWal(fd: number): Promise<void>;
  /** While true, each fsync waits in `pending` for the test; while false, it runs at once. */
  hold: boolean;
  pending: { fd: number; release(): void; fail(err: Error): void }[];
  calls: number;
}

function gate(): Gate {
  const g: Gate = {
    hold: false,
    pending: [],
    calls: 0,
    syncWal(fd) {
      g.calls += 1;
      if (!g.hold) return realFsync(fd);
      return new Promise<void>((resolve, reject) => {
        g.pending.push({
          fd,
          release: () => void realFsync(fd).then(resolve, reject),
          fail: reject,
        });
      });
    },
  };
  return g;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise<void>((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

/** Tracks whether a promise settled, without letting a rejection go unhandled. */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { p, settled: () => done };
}

/**
 * A migrated store on a fresh file whose fsyncs go through a gate; afterwards every held fsync is
 * released and the store closed.
 */
async function withGatedStore(fn: (s: Store, g: Gate, path: string) => Promise<void>): Promise<void> {
  const path = join(tempDir(), 'mandate.db');
  const g = gate();
  const s = createSqliteStore(path, { syncWal: g.syncWal });
  try {
    await s.migrate();
    await fn(s, g, path);
  } finally {
    g.hold = false;
    for (const p of g.pending) p.release();
    await s.close();
  }
}

describe('sqlite store: the WAL is fsynced off the event loop before a write resolves', () => {
  it('an audit append resolves only after the fsync of the WAL file completed', async () => {
    await withGatedStore(async (s, g, path) => {
      g.hold = true;
      const append = track(s.appendAudit([auditEvent(1)], testSealer));
      await until(() => g.pending.length === 1);
      await tick();
      // Committed (another connection sees it) but not acknowledged: the disk has not said so yet.
      const other = new Database(path, { readonly: true });
      expect(other.prepare('SELECT count(*) AS n FROM audit_events').get()).toEqual({ n: 1 });
      other.close();
      expect(append.settled()).toBe(false);
      // The fsync is of the WAL file itself.
      expect(fstatSync(g.pending[0]!.fd).ino).toBe(statSync(`${path}-wal`).ino);
      g.pending[0]!.release();
      const [r] = await append.p;
      expect(r!.seq).toBe(1);
    });
  });

  it('one fsync serves every commit made before it started; a commit made during it waits for the next', async () => {
    await withGatedStore(async (s, g) => {
      g.hold = true;
      const a = track(s.appendAudit([auditEvent(1)], testSealer));
      await until(() => g.pending.length === 1);
      // Both commit while the first fsync is under way: it may not cover them.
      const b = track(s.appendAudit([auditEvent(2)], testSealer));
      const c = track(s.putApiKey(apiKey('k1')));
      g.pending[0]!.release();
      await a.p;
      await until(() => g.pending.length === 2);
      await tick();
      expect(b.settled()).toBe(false);
      expect(c.settled()).toBe(false);
      // One more fsync, shared by both.
      g.pending[1]!.release();
      await Promise.all([b.p, c.p]);
      expect(g.pending).toHaveLength(2);
      expectChain(await s.readAudit(0, 10));
    });
  });

  it('a failed fsync fails the write (store_unavailable) and every call after it, even once fsync works again', async () => {
    let path = '';
    await withGatedStore(async (s, g, file) => {
      path = file;
      await s.appendAudit([auditEvent(1)], testSealer);
      g.hold = true;
      const append = s.appendAudit([auditEvent(2)], testSealer);
      const grant = s.putApiKey(apiKey('k2'));
      await until(() => g.pending.length === 1);
      g.pending[0]!.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
      const err = await append.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'store_unavailable' });
      expect(unavailableReason(err)).toBe('unreachable');
      await expect(grant).rejects.toMatchObject({ code: 'store_unavailable' });
      // fsyncgate: a later fsync that succeeds would not bring back pages the kernel dropped.
      g.hold = false;
      const calls = g.calls;
      await expect(s.appendAudit([auditEvent(3)], testSealer)).rejects.toMatchObject({
        code: 'store_unavailable',
      });
      await expect(s.auditHead()).rejects.toMatchObject({ code: 'store_unavailable' });
      expect(unavailableReason(await s.ping().catch((e: unknown) => e))).toBe('unreachable');
      expect(g.calls).toBe(calls);
    });
    // A reopened store (a restarted node) reads what SQLite has and writes again.
    const again = createSqliteStore(path);
    try {
      const before = await again.auditHead();
      await again.appendAudit([auditEvent(4)], testSealer);
      expect((await again.auditHead()).seq).toBe(before.seq + 1);
      expectChain(await again.readAudit(0, 10));
    } finally {
      await again.close();
    }
  });

  it('reads and lock probes do not wait for an fsync', async () => {
    await withGatedStore(async (s, g) => {
      g.hold = true;
      const append = track(s.appendAudit([auditEvent(1)], testSealer));
      await until(() => g.pending.length === 1);
      await s.ping();
      expect((await s.auditHead()).seq).toBe(1);
      expect(append.settled()).toBe(false);
      expect(g.pending).toHaveLength(1);
      g.pending[0]!.release();
      await append.p;
    });
  });

  it('close lets an fsync under way finish: the committed write still gets its answer', async () => {
    const path = join(tempDir(), 'mandate.db');
    const g = gate();
    const s = createSqliteStore(path, { syncWal: g.syncWal });
    await s.migrate();
    g.hold = true;
    const append = track(s.appendAudit([auditEvent(1)], testSealer));
    await until(() => g.pending.length === 1);
    const closing = track(s.close());
    await tick();
    expect(closing.settled()).toBe(false);
    g.pending[0]!.release();
    await closing.p;
    expect((await append.p)[0]!.seq).toBe(1);
  });

  it('a WAL deleted under the store: writes fail closed, and what it held is copied into the database file', async () => {
    // A probe deleted the -wal file under a running node: it failed closed at once, but a kill -9
    // then lost the 95 allows answered since the last checkpoint (they were only in that file).
    const path = join(tempDir(), 'mandate.db');
    const s = createSqliteStore(path);
    try {
      await s.migrate();
      for (let i = 1; i <= 5; i++) await s.appendAudit([auditEvent(i)], testSealer);
      rmSync(`${path}-wal`);
      await expect(s.appendAudit([auditEvent(6)], testSealer)).rejects.toMatchObject({
        code: 'store_unavailable',
      });
      // What a crash now leaves: the database file alone (no WAL to replay).
      const copy = join(tempDir(), 'copy.db');
      copyFileSync(path, copy);
      const db = new Database(copy, { readonly: true });
      try {
        const n = Number((db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n);
        expect(n).toBeGreaterThanOrEqual(5);
      } finally {
        db.close();
      }
    } finally {
      await s.close();
    }
  });

  it(':memory: has no WAL file: SQLite syncs nothing and the store asks for no fsync', async () => {
    const g = gate();
    const s = createSqliteStore(':memory:', { syncWal: g.syncWal });
    try {
      await s.migrate();
      await s.appendAudit([auditEvent(1)], testSealer);
      expect(g.calls).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('two stores on one file share one WAL: each fsyncs it, the chain stays gapless, closing one leaves the other durable', async () => {
    const path = join(tempDir(), 'mandate.db');
    const ga = gate();
    const gb = gate();
    const a = createSqliteStore(path, { syncWal: ga.syncWal });
    const b = createSqliteStore(path, { syncWal: gb.syncWal });
    try {
      await a.migrate();
      await b.migrate();
      await appendFromBoth(a, b);
      expect(ga.calls).toBeGreaterThan(0);
      expect(gb.calls).toBeGreaterThan(0);
      await a.close();
      // The WAL stays while b is open (only the last connection removes it): b's fsyncs still hit it.
      gb.hold = true;
      const append = track(b.appendAudit([auditEvent(500)], testSealer));
      await until(() => gb.pending.length === 1);
      expect(fstatSync(gb.pending[0]!.fd).ino).toBe(statSync(`${path}-wal`).ino);
      gb.pending[0]!.release();
      await append.p;
    } finally {
      gb.hold = false;
      for (const p of gb.pending) p.release();
      await a.close();
      await b.close();
    }
    const c = createSqliteStore(path);
    try {
      const all = await c.readAudit(0, 100);
      expect(all).toHaveLength(41);
      expectChain(all);
    } finally {
      await c.close();
    }
  });

  it('a checkpoint that resets the WAL keeps the same file: later commits are still synced', async () => {
    await withGatedStore(async (s, g, path) => {
      await s.appendAudit([auditEvent(1)], testSealer);
      const ino = statSync(`${path}-wal`).ino;
      // Another connection checkpoints and truncates the WAL to zero bytes.
      const other = new Database(path);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.close();
      expect(statSync(`${path}-wal`).size).toBe(0);
      g.hold = true;
      const append = track(s.appendAudit([auditEvent(2)], testSealer));
      await until(() => g.pending.length === 1);
      expect(fstatSync(g.pending[0]!.fd).ino).toBe(ino);
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
      expect(append.settled()).toBe(false);
      g.pending[0]!.release();
      await append.p;
      expectChain(await s.readAudit(0, 10));
    });
  });
});
