import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditCheckpoint } from '@mandate/protocol';
import { MandateError } from '../kernel/index.js';

/** A place each signed checkpoint is also written to as it is made, outside the database. */
export interface CheckpointMirror {
  /** For log lines and metrics: `file:<path>`, `webhook`. */
  readonly name: string;
  /** Resolves once the copy is durable (for a file: written and fsync'd). */
  write(cp: AuditCheckpoint): Promise<void>;
  close(): Promise<void>;
}

/**
 * An append-only JSONL file of checkpoints, one `{seq, hash, time, keyId, signature}` per line,
 * fsync'd before `write` resolves. Opened in append mode, so it never rewrites what is there; put
 * it where the database administrator cannot write (another disk, a WORM or log-shipped volume).
 */
export function createFileMirror(path: string): CheckpointMirror {
  let handle: Promise<FileHandle> | null = null;
  const opened = () =>
    (handle ??= (async () => {
      await mkdir(dirname(path), { recursive: true });
      return open(path, 'a', 0o640);
    })().catch((err: unknown) => {
      handle = null; // the next checkpoint tries again
      throw err;
    }));
  return {
    name: `file:${path}`,
    async write(cp) {
      const h = await opened();
      await h.write(checkpointLine(cp) + '\n');
      await h.sync();
    },
    async close() {
      const h = handle;
      handle = null;
      if (h) await (await h).close();
    },
  };
}

/** One checkpoint as a JSON line, fields in a fixed order. */
export function checkpointLine(cp: AuditCheckpoint): string {
  return JSON.stringify({
    seq: cp.seq,
    hash: cp.hash,
    time: cp.time,
    keyId: cp.keyId,
    signature: cp.signature,
  });
}

/** The checkpoint in `value`, or null when it is not one (wrong fields or types). */
export function asCheckpoint(value: unknown): AuditCheckpoint | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v).sort().join(',');
  if (keys !== 'hash,keyId,seq,signature,time') return null;
  if (!Number.isSafeInteger(v.seq) || (v.seq as number) < 0) return null;
  for (const k of ['hash', 'time', 'keyId', 'signature'] as const) if (typeof v[k] !== 'string') return null;
  return v as unknown as AuditCheckpoint;
}

/**
 * Reads a checkpoint file written by {@link createFileMirror}. A last line without its newline is
 * a write cut short by a crash and is skipped; any other line that is not a checkpoint is refused
 * with its line number, since a checkpoint file that was edited cannot be trusted to be whole.
 */
export async function readCheckpointFile(path: string): Promise<AuditCheckpoint[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MandateError('bad_request', `cannot read checkpoint file ${path}: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  // The part after the last newline: '' for a whole file, a torn line after a crash mid-write.
  lines.pop();
  const out: AuditCheckpoint[] = [];
  lines.forEach((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const cp = asCheckpoint(parsed);
    if (!cp) throw new MandateError('bad_request', `checkpoint file ${path} line ${i + 1}: not a checkpoint`);
    out.push(cp);
  });
  return out;
}
