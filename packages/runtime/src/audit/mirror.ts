import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditCheckpoint } from '@mandate/protocol';
import { MandateError, type Logger } from '../kernel/index.js';

/** A place each signed checkpoint is also written to as it is made, outside the database. */
export interface CheckpointMirror {
  /** For log lines and metrics: `file:<path>`, `webhook`. */
  readonly name: string;
  /** Resolves once the copy is durable (for a file: written and fsync'd). */
  write(cp: AuditCheckpoint): Promise<void>;
  close(): Promise<void>;
}

/** What a file mirror reports through: a file it found moved or deleted is logged at warn level. */
export interface FileMirrorDeps {
  logger?: Logger;
}

/**
 * An append-only JSONL file of checkpoints, one `{seq, hash, time, keyId, signature}` per line,
 * fsync'd before `write` resolves. Opened in append mode, so it never rewrites what is there; put
 * it where the database administrator cannot write (another disk, a WORM or log-shipped volume).
 * Before each write it checks that the file at `path` is still the one it holds open, and opens
 * the path again when it is not (rotated, replaced or deleted).
 */
export function createFileMirror(path: string, deps: FileMirrorDeps = {}): CheckpointMirror {
  const name = `file:${path}`;
  let handle: Promise<FileHandle> | null = null;
  const opened = () =>
    (handle ??= (async () => {
      await mkdir(dirname(path), { recursive: true });
      const h = await open(path, 'a+', 0o640);
      try {
        await endTornLine(h);
      } catch (err) {
        await h.close();
        throw err;
      }
      return h;
    })().catch((err: unknown) => {
      handle = null; // the next checkpoint tries again
      throw err;
    }));

  /**
   * EVIDENCE: the file was opened once and kept open; renamed by logrotate or deleted while the
   * node ran, every later checkpoint went to the old or unlinked file, the path stayed missing and
   * no failure was counted (a probe). The handle is the file at the path only while both name the
   * same device and inode; otherwise the path is opened again (a new file; its torn last line, if
   * any, ended as at the first open).
   */
  async function current(): Promise<FileHandle> {
    const held = opened();
    const h = await held;
    const mine = await h.stat({ bigint: true });
    const there = await stat(path, { bigint: true }).catch(() => null);
    if (there && there.dev === mine.dev && there.ino === mine.ino) return h;
    deps.logger?.warn('audit checkpoint mirror file was moved, replaced or deleted: opening its path again', {
      mirror: name,
      found: there ? 'another file' : 'no file',
    });
    if (handle === held) handle = null;
    await h.close().catch(() => undefined);
    return opened();
  }

  return {
    name,
    async write(cp) {
      const h = await current();
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

/**
 * EVIDENCE: a crash in the middle of a write leaves a last line without its newline; the next
 * checkpoint appended after it joined that line, the file no longer parsed, and the mirror was lost
 * for every later check (a probe). The torn line is ended first, so it stays one line of its own,
 * which {@link readCheckpointFile} skips as torn. Appending only: nothing there is rewritten.
 */
async function endTornLine(h: FileHandle): Promise<void> {
  const { size } = await h.stat();
  if (size === 0) return;
  const last = Buffer.alloc(1);
  await h.read(last, 0, 1, size - 1);
  if (last[0] === 0x0a) return;
  await h.write('\n');
  await h.sync();
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

/** A checkpoint file's content: its checkpoints, and the lines skipped as writes a crash cut short. */
export interface CheckpointFile {
  checkpoints: AuditCheckpoint[];
  /** 1-based line numbers of torn lines (a start of a checkpoint line that never got its end). */
  torn: number[];
}

/** A line a crash cut short: the start of a {@link checkpointLine} that is not valid JSON. */
function isTornLine(line: string): boolean {
  const start = '{"seq":';
  if (line === '' || line.endsWith('}')) return false;
  if (!line.startsWith(start) && !start.startsWith(line)) return false;
  try {
    JSON.parse(line);
    return false;
  } catch {
    return true;
  }
}

/** Why a checkpoint file was refused: it was edited (read errors are thrown as they are). */
export const MALFORMED_CHECKPOINT_FILE = 'malformed_checkpoint_file';

/**
 * Parses a checkpoint file written by {@link createFileMirror}. A line a crash cut short (the last
 * one, or one the mirror ended before appending again) is skipped and named in `torn`; any other
 * line that is not a checkpoint is refused with its line number (details
 * {@link MALFORMED_CHECKPOINT_FILE}), since a checkpoint file that was edited cannot be trusted to
 * be whole.
 */
export function parseCheckpointFile(text: string, name: string): CheckpointFile {
  const lines = text.split('\n');
  // The part after the last newline: '' for a whole file, a torn line after a crash mid-write.
  const after = lines.pop() ?? '';
  const out: CheckpointFile = { checkpoints: [], torn: [] };
  lines.forEach((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const cp = asCheckpoint(parsed);
    if (cp) out.checkpoints.push(cp);
    else if (isTornLine(line)) out.torn.push(i + 1);
    else {
      throw new MandateError('bad_request', `checkpoint file ${name} line ${i + 1}: not a checkpoint`, {
        details: MALFORMED_CHECKPOINT_FILE,
      });
    }
  });
  if (after !== '') out.torn.push(lines.length + 1);
  return out;
}

/** Reads and parses a checkpoint file ({@link parseCheckpointFile}). */
export async function readCheckpointFileDetailed(path: string): Promise<CheckpointFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MandateError('bad_request', `cannot read checkpoint file ${path}: ${(err as Error).message}`);
  }
  return parseCheckpointFile(text, path);
}

/** The checkpoints of a checkpoint file, torn lines skipped ({@link parseCheckpointFile}). */
export async function readCheckpointFile(path: string): Promise<AuditCheckpoint[]> {
  return (await readCheckpointFileDetailed(path)).checkpoints;
}
