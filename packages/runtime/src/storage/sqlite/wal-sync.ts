/**
 * The WAL's fsync, off the event loop (docs/adr/0028). The connection runs with
 * `synchronous=NORMAL`, so SQLite writes a commit's frames to the WAL file without syncing it;
 * this module syncs that file on libuv's thread pool before a write's promise resolves. One
 * fsync serves every commit made before it started (group commit across all writes of the
 * process), and the first failed fsync ends durability for good (fsyncgate: a later fsync that
 * succeeds says nothing about pages the kernel already dropped).
 */
import { close, fstatSync, fsync, openSync, stat } from 'node:fs';
import { promisify } from 'node:util';
import type { MandateError } from '../../kernel/index.js';
import { storeUnavailable } from '../unavailable.js';

const statPath = promisify(stat);
const closeFile = promisify(close);

/** Flushes a file's data to the disk: `fs.fsync` unless a test injects another. */
export type SyncFile = (fd: number) => Promise<void>;

/** Syncs one WAL file for the commits of one connection. */
export interface WalSync {
  /**
   * Call right after a commit (no await in between): resolves once an fsync that started after
   * the call has completed, so the commit is on the disk; rejects with `store_unavailable` when
   * that fsync failed, and from then on at once.
   */
  durable(): Promise<void>;
  /** The failure that ended durability, or null while every fsync has succeeded. */
  failure(): MandateError | null;
  /** Waits for the fsync under way (those waiting get their answer), then closes the file. */
  close(): Promise<void>;
}

interface Waiter {
  /** Order of the `durable` call: an fsync started after call n covers every commit up to n. */
  n: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Creates the syncer of `walPath` (the `-wal` file of the connection's database, which must exist:
 * open a read transaction first). The file is opened once, here, and kept open: Linux reports a writeback error to every file
 * description open when it happened, and an fsync through any descriptor flushes the inode's
 * pages, whoever wrote them. SQLite never unlinks or replaces the WAL while a connection (this
 * one) is open — resets, checkpoints and `journal_size_limit` rewrite or truncate the same inode
 * — and each sync checks that the path still names that inode, failing closed otherwise.
 */
export function createWalSync(
  walPath: string,
  syncFile: SyncFile = promisify(fsync),
  /**
   * Called once when the path no longer names the WAL this connection writes (deleted, replaced),
   * before durability ends: the store copies what the open file holds into the database file.
   */
  onLost?: () => void,
): WalSync {
  let fd: number | null = openSync(walPath, 'r+');
  const ino = fstatSync(fd).ino;
  let lost = false;
  let calls = 0;
  let waiters: Waiter[] = [];
  /** A sync loop is under way; set and cleared synchronously, so no call can find it ending and wait forever. */
  let running = false;
  let current: Promise<void> = Promise.resolve();
  let failed: MandateError | null = null;

  async function syncOnce(): Promise<void> {
    if (fd === null) throw new Error('the WAL file is closed');
    const [, now] = await Promise.all([
      syncFile(fd),
      statPath(walPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') lost = true;
        throw err;
      }),
    ]);
    if (now.ino !== ino) {
      lost = true;
      throw new Error(`${walPath} was replaced while the database was open`);
    }
  }

  async function loop(): Promise<void> {
    try {
      while (waiters.length > 0) {
        // Every call so far came after its commit, and this fsync starts after every call so far.
        const covered = calls;
        try {
          await syncOnce();
        } catch (err) {
          // SECURITY: durability — a failed fsync fails every write waiting on it and every later
          // one; nothing resolves as durable on this connection again (reopen the store to recover).
          failed = storeUnavailable('unreachable', 'the database could not be synced to disk', err);
          // EVIDENCE: a WAL deleted under the node still holds, through this connection's open
          // file, every record answered since the last checkpoint; a crash would lose them all (a
          // probe: 95 allows gone after kill -9). Copied into the database file now, they stay.
          if (lost)
            try {
              onLost?.();
            } catch {
              // The store logs what its copy could not do; durability ends here either way.
            }
          const all = waiters;
          waiters = [];
          for (const w of all) w.reject(failed);
          return;
        }
        let i = 0;
        while (i < waiters.length && waiters[i]!.n <= covered) waiters[i++]!.resolve();
        waiters = i === waiters.length ? [] : waiters.slice(i);
      }
    } finally {
      // In the same tick as the last check of `waiters`: a call made after it starts a new loop.
      running = false;
    }
  }

  return {
    durable() {
      if (failed) return Promise.reject(failed);
      const n = ++calls;
      const p = new Promise<void>((resolve, reject) => waiters.push({ n, resolve, reject }));
      if (!running) {
        running = true;
        current = loop();
      }
      return p;
    },
    failure: () => failed,
    async close() {
      while (running) await current;
      if (fd !== null) {
        const f = fd;
        fd = null;
        await closeFile(f);
      }
    },
  };
}
