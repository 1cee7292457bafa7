import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { recordJson, type SinkRecord, type SinkTransport } from './port.js';

export interface FileSinkOptions {
  path: string;
  /** Rotate before a batch would make the file larger than this. */
  maxBytes: number;
  /** Rotated files kept (`path.1` newest … `path.N`); older ones are overwritten. */
  maxFiles: number;
}

/**
 * JSONL to a local file, one record per line, fsynced before the batch counts as delivered, with
 * size-based rotation. The file is append-only from Mandate's side; ship it on with any log agent.
 */
export function createFileSink(o: FileSinkOptions): SinkTransport {
  let fh: FileHandle | null = null;
  let size = 0;
  const openFile = async () => {
    fh = await open(o.path, 'a', 0o640);
    size = (await stat(o.path)).size;
    return fh;
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
      let f = fh ?? (await openFile());
      if (size > 0 && size + bytes > o.maxBytes && o.maxFiles > 0) {
        await rotate();
        f = await openFile();
      }
      try {
        await f.appendFile(text);
        await f.datasync();
      } catch (err) {
        // A failed write may have left part of the batch: reopen; the receiver de-duplicates on seq.
        await f.close().catch(() => undefined);
        fh = null;
        throw err;
      }
      size += bytes;
    },
    async close() {
      await fh?.close();
      fh = null;
    },
  };
}
