/**
 * WAL checkpoints off the event loop (docs/adr/0031). SQLite's own checkpoint runs inside the
 * commit that crosses 1,000 WAL frames: it copies the frames into the database file and syncs it,
 * on the committing thread — with better-sqlite3, the event loop, blocked for the copy and the
 * disk's sync (on this project's bench machine, about twice the cost of the commits it follows).
 * Here the store's connection turns that off (`wal_autocheckpoint = 0`) and a worker thread, with
 * its own connection to the same file, checkpoints instead:
 *
 * - PASSIVE after every `everyCommits` commits of the store: it copies what it can without taking
 *   any lock a writer or reader needs, so commits go on. The worker starts with the first one (a
 *   store that commits less never pays for a thread); frames of fewer commits stay in the WAL,
 *   as durable as anywhere, until the next checkpoint or the store's close.
 * - RESTART when the WAL still holds `restartFrames` frames after that (under a steady stream of
 *   commits a passive checkpoint never catches up with the end, and the WAL would grow): it takes
 *   the write lock for the last frames and the sync, so the next commit starts the WAL afresh.
 *   A commit meanwhile waits for the lock as it waits for another process's (faults.ts).
 *
 * Durability does not depend on it: a commit is durable once the WAL is synced (wal-sync.ts), and
 * SQLite syncs the WAL before a checkpoint copies from it. A worker that fails or cannot start
 * hands checkpoints back to SQLite (`wal_autocheckpoint` restored on the store's connection) and
 * says so in the log: slower, never unbounded.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../kernel/index.js';
import type { WalCheckpointStats } from '../port.js';

/** SQLite's default `wal_autocheckpoint`, restored when the worker is gone. */
export const SQLITE_AUTOCHECKPOINT_FRAMES = 1000;

/**
 * The worker: plain CommonJS passed as source (`eval`), so it runs the same from `src/` under
 * test and from `dist/`. One checkpoint per message, answered with SQLite's three numbers.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
parentPort.on('message', (m) => {
  if (m.type === 'close') {
    try { db.close(); } catch {}
    parentPort.close();
    return;
  }
  try {
    let r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    let restarted = false;
    // Only when the passive pass got (nearly) everything: the restart holds the write lock while
    // it copies what is left.
    if (r.log >= workerData.restartFrames && r.log - r.checkpointed < workerData.restartFrames) {
      r = db.pragma('wal_checkpoint(RESTART)')[0];
      restarted = r.busy === 0;
    }
    parentPort.postMessage({ id: m.id, busy: r.busy, log: r.log, checkpointed: r.checkpointed, restarted });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

/** Options of {@link createCheckpointer}. */
export interface CheckpointerOptions {
  logger: Logger;
  /** Called once when the worker is gone for good: the store's connection checkpoints itself again. */
  fallBack(): void;
  /** A passive checkpoint after this many commits; default 64 (a node starts with about 30). */
  everyCommits?: number;
  /** A WAL this long (frames) after the passive checkpoint is restarted; default 4,000 (about 16 MB). */
  restartFrames?: number;
  /** How long the worker's RESTART waits for the write lock and readers; default 100 ms. */
  busyTimeoutMs?: number;
  /** The module the worker opens the file with; default better-sqlite3 (tests hand it a failing one). */
  driver?: string;
}

/** Checkpoints one database file's WAL from a worker thread. */
export interface Checkpointer {
  /** Call after each commit on the store's connection. */
  committed(): void;
  /** Resolves after a checkpoint that started after the call (for tests and shutdown). */
  checkpointNow(): Promise<void>;
  stats(): WalCheckpointStats;
  /** Stops the worker (after the checkpoint under way, if any). */
  close(): Promise<void>;
}

interface Reply {
  id: number;
  busy?: number;
  log?: number;
  checkpointed?: number;
  restarted?: boolean;
  error?: string;
}

const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');

/** Checkpoints the database file at `path` (which must exist, in WAL mode) from a worker started on first use. */
export function createCheckpointer(path: string, opts: CheckpointerOptions): Checkpointer {
  const everyCommits = Math.max(1, opts.everyCommits ?? 64);
  const stats: WalCheckpointStats = { checkpoints: 0, restarts: 0, walFrames: 0, fellBack: false };
  let pendingCommits = 0;
  let inFlight: number | null = null;
  let nextId = 1;
  let worker: Worker | null = null;
  let closing = false;
  let waiters: { after: number; resolve(): void }[] = [];

  const settle = (upTo: number) => {
    const left: typeof waiters = [];
    for (const w of waiters) (w.after < upTo ? w.resolve : () => left.push(w))();
    waiters = left;
  };

  const fail = (reason: string) => {
    if (stats.fellBack) return;
    stats.fellBack = true;
    inFlight = null;
    // Checkpoints go back to SQLite: slower commits, never an unbounded WAL.
    opts.fallBack();
    if (!closing)
      opts.logger.error('sqlite checkpoint worker failed; SQLite checkpoints on the event loop again', {
        error: reason,
      });
    settle(Number.MAX_SAFE_INTEGER);
    void worker?.terminate().catch(() => undefined);
  };

  const start = () => {
    if (inFlight !== null || stats.fellBack || closing) return;
    pendingCommits = 0;
    inFlight = nextId++;
    try {
      worker ??= spawn();
    } catch (err) {
      return fail((err as Error).message);
    }
    worker.postMessage({ type: 'checkpoint', id: inFlight });
  };

  const onMessage = (r: Reply) => {
    const id = r.id;
    if (id !== inFlight) return;
    inFlight = null;
    if (r.error !== undefined) return fail(r.error);
    stats.checkpoints += 1;
    if (r.restarted) stats.restarts += 1;
    stats.walFrames = r.log ?? 0;
    settle(id);
    // Commits that came while it ran, or a waiter that asked meanwhile, start the next one.
    if (pendingCommits >= everyCommits || waiters.length > 0) start();
  };

  const spawn = (): Worker => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: opts.driver ?? DRIVER,
        path,
        restartFrames: Math.max(1, opts.restartFrames ?? 4000),
        busyTimeoutMs: Math.max(0, opts.busyTimeoutMs ?? 100),
      },
    });
    // The worker must never keep the process alive on its own: the store's close ends it.
    w.unref();
    w.on('message', onMessage);
    w.on('error', (err) => fail(err.message));
    w.on('exit', (code) => {
      if (!closing) fail(`the worker exited (code ${code})`);
    });
    return w;
  };

  return {
    committed() {
      if (stats.fellBack || closing) return;
      pendingCommits += 1;
      if (pendingCommits >= everyCommits) start();
    },
    checkpointNow() {
      if (stats.fellBack || closing) return Promise.resolve();
      return new Promise<void>((resolve) => {
        // A checkpoint under way may have started before the caller's last commit: wait for the next.
        waiters.push({ after: inFlight ?? nextId - 1, resolve });
        start();
      });
    },
    stats: () => ({ ...stats }),
    async close() {
      if (closing) return;
      closing = true;
      settle(Number.MAX_SAFE_INTEGER);
      const w = worker;
      if (stats.fellBack || !w) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage({ type: 'close' });
      // A checkpoint under way finishes first; one that hangs is not waited for beyond this.
      const timeout = setTimeout(() => void w.terminate(), 5000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
