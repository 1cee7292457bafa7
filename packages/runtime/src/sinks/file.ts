import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../kernel/index.js';
import { recordJson, type SinkRecord, type SinkTransport } from './port.js';

export interface FileSinkOptions {
  path: string;
  /** Rotate before a batch would make the file larger than this. */
  maxBytes: number;
  /** Rotated files kept (`path.1` newest … `path.N`); older ones are overwritten. */
  maxFiles: number;
  /**
   * Where a file found moved, replaced or deleted is said (once per reopening). Without one it is
   * returned as a warning of the delivery, which the runner logs.
   */
  logger?: Logger;
}

/** The warning of a reopening: the file at the path was not the one the sink held open. */
const REOPENED = 'audit sink file was moved, replaced or deleted: opening its path again';

/**
 * JSONL to a local file, one record per line, fsynced before the batch counts as delivered, with
 * size-based rotation. The file is append-only from Mandate's side; ship it on with any log agent.
 * Before each batch it checks that the file at `path` is still the one it holds open, and opens
 * the path again (creating it) when it is not: rotated by another tool, replaced or deleted.
 */
export function createFileSink(o: FileSinkOptions): SinkTransport {
  let fh: FileHandle | null = null;
  let size = 0;
  const openFile = async () => {
    // a+: appends only (O_APPEND), and the last byte can be read to end a torn line.
    const h = await open(o.path, 'a+', 0o640);
    try {
      size = await endTornLine(h);
    } catch (err) {
      await h.close().catch(() => undefined);
      throw err;
    }
    fh = h;
    return h;
  };
  /**
   * EVIDENCE: the file was opened once and never looked at again; moved away and deleted
   * (logrotate without copytruncate, a cleanup job) while the node ran, every later batch was
   * written and fdatasynced into the unlinked inode and acknowledged, and lost (a probe: ~235
   * records, no failure counted). The handle is the file at the path only while both name the same
   * device and inode (the mirror's check, audit/mirror.ts); otherwise the path is opened again.
   */
  const current = async (): Promise<{ h: FileHandle; reopened: string | null }> => {
    const held = fh;
    if (!held) return { h: await openFile(), reopened: null };
    const mine = await held.stat({ bigint: true });
    const there = await stat(o.path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err; // unreadable (EACCES …): the batch fails and is offered again
    });
    if (there && there.dev === mine.dev && there.ino === mine.ino) return { h: held, reopened: null };
    fh = null;
    await held.close().catch(() => undefined);
    const found = there ? 'another file' : 'no file';
    if (o.logger) o.logger.warn(REOPENED, { path: o.path, found });
    return { h: await openFile(), reopened: o.logger ? null : `${REOPENED} (${o.path}: ${found})` };
  };
  const rotate = async () => {
    await fh?.close();
    fh = null;
    for (let i = o.maxFiles - 1; i >= 1; i--)
      await rename(`${o.path}.${i}`, `${o.path}.${i + 1}`).catch(() => undefined);
    await rename(o.path, `${o.path}.1`).catch(() => undefined);
  };
  return {
    async deliver(batch) {
      const text = batch.map((r: SinkRecord) => recordJson(r) + '\n').join('');
      const bytes = Buffer.byteLength(text);
      const { h, reopened } = await current();
      let f = h;
      if (size > 0 && size + bytes > o.maxBytes && o.maxFiles > 0) {
        await rotate();
        f = await openFile();
      }
      try {
        await f.appendFile(text);
        await f.datasync();
      } catch (err) {
        // A failed write may have left part of the batch: reopen (the torn line is ended then);
        // the receiver de-duplicates on seq.
        await f.close().catch(() => undefined);
        fh = null;
        throw err;
      }
      size += bytes;
      if (reopened) return { omitted: [], warnings: [reopened] };
    },
    async close() {
      await fh?.close();
      fh = null;
    },
  };
}

/**
 * EVIDENCE: after a kill -9 in the middle of a write the file ended in part of a line; the next
 * start appended a record to it, gluing the fragment to a whole record, and that line no longer
 * parsed (a probe). The torn line is ended first, so the fragment stands alone on its line (a
 * reader skips it: that batch was not acknowledged and is written again in full) and every line
 * after it is whole. Appending only: nothing there is rewritten. Returns the file's size after.
 */
async function endTornLine(h: FileHandle): Promise<number> {
  const { size } = await h.stat();
  if (size === 0) return 0;
  const last = Buffer.alloc(1);
  await h.read(last, 0, 1, size - 1);
  if (last[0] === 0x0a) return size;
  await h.write('\n');
  await h.datasync();
  return size + 1;
}
