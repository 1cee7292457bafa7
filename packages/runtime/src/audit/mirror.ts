import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditCheckpoint } from '@mandate/protocol';
import { MandateError, canonicalize, type Logger } from '../kernel/index.js';
import type { Store } from '../storage/index.js';
import { verifySignature, type AuditSigner } from './keys.js';
import type { Finding } from './verify-checkpoints.js';

/** A place each signed checkpoint is also written to as it is made, outside the database. */
export interface CheckpointMirror {
  /** For log lines and metrics: `file:<path>`, `webhook`. */
  readonly name: string;
  /** Resolves once the copy is durable (for a file: written and fsync'd). */
  write(cp: AuditCheckpoint): Promise<void>;
  /**
   * Keeps the note of a finding the node recorded ({@link FindingNote}), where a mirror can: the
   * file does. A database admin who deletes the record of the finding (with the node stopped: it
   * signs no checkpoint over a chain it found tampered with) cannot delete the note.
   */
  writeFinding?(note: FindingNote): Promise<void>;
  close(): Promise<void>;
}

/**
 * The node's signed note that record `seq` (hash `hash`) is its `audit.verify_failed` finding
 * (`problem`): checked at the next start, where a missing or changed record is a finding again.
 * Signed over the canonical `{type: "audit.finding", seq, hash, problem, time, keyId}`, so it can
 * never pass for a checkpoint (whose signed body has other fields).
 */
export interface FindingNote {
  seq: number;
  hash: string;
  problem: string;
  time: string;
  keyId: string;
  signature: string;
}

/** The text a {@link FindingNote} signature covers. */
function findingNoteText(n: Omit<FindingNote, 'signature'>): string {
  return canonicalize({
    type: 'audit.finding',
    seq: n.seq,
    hash: n.hash,
    problem: n.problem,
    time: n.time,
    keyId: n.keyId,
  });
}

/** The note, signed with `signer`, that record `rec` is the node's finding `problem` (at `time`). */
export function signFindingNote(
  signer: AuditSigner,
  rec: { seq: number; hash: string },
  problem: string,
  time: string,
): FindingNote {
  const body = { seq: rec.seq, hash: rec.hash, problem, time, keyId: signer.keyId };
  return { ...body, signature: signer.sign(findingNoteText(body)) };
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

  const append = async (line: string) => {
    const h = await current();
    await h.write(line + '\n');
    await h.sync();
  };
  return {
    name,
    write: (cp) => append(checkpointLine(cp)),
    writeFinding: (note) => append(findingLine(note)),
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

/** A finding note as a JSON line: `{"finding": {seq, hash, problem, time, keyId}, "signature"}`. */
export function findingLine(n: FindingNote): string {
  return JSON.stringify({
    finding: { seq: n.seq, hash: n.hash, problem: n.problem, time: n.time, keyId: n.keyId },
    signature: n.signature,
  });
}

/** The finding note in `value` (a parsed {@link findingLine}), or null when it is not one. */
function asFindingNote(value: unknown): FindingNote | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (Object.keys(v).sort().join(',') !== 'finding,signature' || typeof v.signature !== 'string') return null;
  const f = v.finding as Record<string, unknown> | null;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return null;
  if (Object.keys(f).sort().join(',') !== 'hash,keyId,problem,seq,time') return null;
  if (!Number.isSafeInteger(f.seq) || (f.seq as number) < 1) return null;
  for (const k of ['hash', 'problem', 'time', 'keyId'] as const) if (typeof f[k] !== 'string') return null;
  return { ...(f as Omit<FindingNote, 'signature'>), signature: v.signature };
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
  /** The node's notes of its findings (a mirror file written by a node); skipped by verify. */
  findings: FindingNote[];
  /** 1-based line numbers of torn lines (a start of a checkpoint line that never got its end). */
  torn: number[];
}

/** A line a crash cut short: the start of a {@link checkpointLine} or {@link findingLine} that is not valid JSON. */
function isTornLine(line: string): boolean {
  if (line === '' || line.endsWith('}')) return false;
  if (!['{"seq":', '{"finding":'].some((start) => line.startsWith(start) || start.startsWith(line)))
    return false;
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
  const out: CheckpointFile = { checkpoints: [], findings: [], torn: [] };
  lines.forEach((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const cp = asCheckpoint(parsed);
    const note = cp ? null : asFindingNote(parsed);
    if (cp) out.checkpoints.push(cp);
    else if (note) out.findings.push(note);
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

/**
 * The notes of `notes` signed by a key of `publicKeys` (a node's own; others' are theirs to check)
 * held to the chain: each noted record still there with its hash. The first that is not (or a note
 * whose signature does not hold: edited) as a finding, or null.
 */
export async function checkFindingNotes(
  source: Pick<Store, 'readAudit'>,
  publicKeys: Record<string, string>,
  notes: readonly FindingNote[],
): Promise<Finding | null> {
  for (const n of notes) {
    const pem = Object.hasOwn(publicKeys, n.keyId) ? publicKeys[n.keyId] : undefined;
    if (!pem) continue;
    if (!verifySignature(pem, findingNoteText(n), n.signature)) {
      return {
        seq: n.seq,
        problem: 'malformed',
        message: `the checkpoint mirror's note of a finding at record ${n.seq} is not signed by its key (edited?)`,
      };
    }
    const [r] = await source.readAudit(n.seq - 1, 1);
    if (!r || r.seq !== n.seq || r.hash !== n.hash) {
      const there = r?.seq === n.seq;
      return {
        seq: n.seq,
        problem: there ? 'hash_mismatch' : 'truncated',
        message: `record ${n.seq}: the node's finding (${n.problem}) recorded at ${n.time} is ${there ? 'not the record it was' : 'gone'} (deleted?)`,
      };
    }
  }
  return null;
}
