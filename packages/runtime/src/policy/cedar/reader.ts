import { spawn, spawnSync } from 'node:child_process';
import { deserialize, serialize } from 'node:v8';
import type { PolicySetSource } from '../port.js';
import { CEDAR_WASM_PATH, type CedarReader } from './wasm.js';

/**
 * ADR 0027: reading a large policy set in a child process of its own, so that what it costs the
 * process — cedar-wasm's linear memory, which grows by about 5 KiB per policy while the set is
 * parsed and strictly validated and never shrinks, and the optimised wasm code and compiler
 * memory of that work — goes away with the child instead of staying for the life of the node.
 *
 * The child makes exactly the cedar-wasm calls the analysis makes (policy/cedar/analysis.ts) with
 * the same build of cedar-wasm, and hands back the answers; the analysis then runs here as always,
 * over a {@link CedarReader} that serves those answers for the exact inputs they were computed for
 * and throws for anything else. So nothing is decided differently: the answers are cedar-wasm's,
 * and a call the child did not make is an analysis that failed, which refuses the set (fail
 * closed). A child that failed compiles nothing either; read ahead (analysis.ts `readAhead`), it is
 * `unavailable`, not the set's problem.
 *
 * Plain CommonJS passed as source (`-e`), so it runs the same from `src/` under test and from
 * `dist/`, like the screening worker (isolated.ts). Files arrive in the analysis's order; each
 * policy's id in the validation call is `p<file>_<part>` (its position in the file's
 * `policySetTextToParts` answer), which the analysis uses as well.
 */
/** Policies' answers per frame: a few ms of decoding each, so no frame holds the parent's loop long. */
const FRAME_POLICIES = 250;

const CHILD_SOURCE = `
const v8 = require('node:v8');
const job = v8.deserialize(require('node:fs').readFileSync(0));
const cedar = require(job.wasmPath);
let out = { parts: [], json: [] };
// Answers go out in frames (a 4-byte length, then v8.serialize of part of the answers) as they are
// made, so the parent decodes them piece by piece while this child works (writes to a pipe are
// synchronous here).
const frame = (o) => {
  const body = v8.serialize(o);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  process.stdout.write(head);
  process.stdout.write(body);
};
const flush = () => {
  frame(out);
  out = { parts: [], json: [] };
};
try {
  out.checkParseSchema = cedar.checkParseSchema(job.schema);
  let complete = out.checkParseSchema.type === 'success';
  if (complete) {
    out.schemaToJson = cedar.schemaToJson(job.schema);
    complete = out.schemaToJson.type === 'success';
  }
  const staticPolicies = {};
  job.files.forEach((text, f) => {
    const parts = cedar.policySetTextToParts(text);
    out.parts.push([text, parts]);
    if (parts.type !== 'success' || parts.policy_templates.length > 0) { complete = false; return; }
    parts.policies.forEach((policy, k) => {
      const json = cedar.policyToJson(policy);
      out.json.push([policy, json]);
      if (json.type !== 'success') complete = false;
      staticPolicies['p' + f + '_' + k] = policy;
      if (out.json.length >= ${FRAME_POLICIES}) flush();
    });
  });
  if (complete) {
    const call = { schema: job.schema, policies: { staticPolicies }, validationSettings: { mode: 'strict' } };
    out.validate = [call, cedar.validate(call)];
  }
} catch (err) {
  out.thrown = String((err && err.message) || err);
}
flush();
`;

/** The child's answers; a frame holds part of them (arrays to append, the rest once). */
interface ChildAnswers {
  checkParseSchema?: ReturnType<CedarReader['checkParseSchema']>;
  schemaToJson?: ReturnType<CedarReader['schemaToJson']>;
  parts: [string, ReturnType<CedarReader['policySetTextToParts']>][];
  json: [string, ReturnType<CedarReader['policyToJson']>][];
  validate?: [Parameters<CedarReader['validate']>[0], ReturnType<CedarReader['validate']>];
  /** What cedar-wasm threw, when it did; every call after it was not made. */
  thrown?: string;
}

/** The validation call's id of the `part`-th policy of `policySetTextToParts` of the `file`-th file. */
export function validationId(file: number, part: number): string {
  return `p${file}_${part}`;
}

/** Options of {@link readInChild}. */
export interface ReadInChildOptions {
  /** The child is killed (and the set refused) after this long; default 10 minutes. */
  timeoutMs?: number;
}

/**
 * Runs the analysis's cedar-wasm calls over `files` (the set's texts in the analysis's order) and
 * the schema in a child process; returns a reader that answers them. Throws when the child could
 * not do it.
 */
export function readInChild(
  source: PolicySetSource,
  files: readonly string[],
  options: ReadInChildOptions = {},
): CedarReader {
  const r = spawnSync(process.execPath, CHILD_ARGS, {
    input: childInput(source, files),
    maxBuffer: 2 ** 31 - 1,
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    windowsHide: true,
  });
  if (r.error !== undefined) throw new Error(`the policy reader process failed: ${r.error.message}`);
  const out = createFrameReader();
  if (r.status === 0) out.push(r.stdout);
  return answersOf(source, r.status, r.signal, out, r.stderr);
}

/**
 * {@link readInChild} without blocking the event loop while the child works (seconds for a set of
 * thousands of policies): a node that loads a set keeps answering meanwhile. Same child, same
 * answers, same failures (a rejection where the other throws).
 */
export function readInChildAsync(
  source: PolicySetSource,
  files: readonly string[],
  options: ReadInChildOptions = {},
): Promise<CedarReader> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, CHILD_ARGS, { windowsHide: true });
    const out = createFrameReader();
    const err: Buffer[] = [];
    let failed: Error | null = null;
    const timer = setTimeout(() => {
      failed = new Error('the policy reader process failed: it timed out');
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    // PERF: frames are decoded as they arrive, while the child works, not in one block at its end.
    child.stdout.on('data', (b: Buffer) => {
      try {
        out.push(b);
      } catch (e) {
        failed ??= new Error(`the policy reader process failed: ${(e as Error).message}`);
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A child that exits before reading all of its input closes the pipe: its exit says why.
    child.stdin.on('error', () => undefined);
    // A child that could not start may never emit 'close': fail at once (a later settle is a no-op).
    child.once('error', (e) => {
      failed ??= new Error(`the policy reader process failed: ${e.message}`);
      clearTimeout(timer);
      reject(failed);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      if (failed) return reject(failed);
      try {
        resolve(answersOf(source, status, signal, out, Buffer.concat(err)));
      } catch (e) {
        reject(e as Error);
      }
    });
    child.stdin.end(childInput(source, files));
  });
}

const CHILD_ARGS = ['--no-turbo-inlining', '-e', CHILD_SOURCE];
const DEFAULT_TIMEOUT_MS = 600_000;

function childInput(source: PolicySetSource, files: readonly string[]): Buffer {
  return serialize({ wasmPath: CEDAR_WASM_PATH, schema: source.schema, files });
}

/** The child's answers as a reader; throws when it did not exit cleanly. */
function answersOf(
  source: PolicySetSource,
  status: number | null,
  signal: NodeJS.Signals | null,
  stdout: FrameReader,
  stderr: Buffer,
): CedarReader {
  if (status !== 0) {
    const why = signal ?? `exit code ${status}`;
    const last = stderr.toString('utf8').trim().split('\n').pop() ?? '';
    throw new Error(`the policy reader process failed (${why})${last ? `: ${last}` : ''}`);
  }
  return replay(source.schema, stdout.end());
}

export interface FrameReader {
  /** Decodes the frames `chunk` completes; throws on a frame that is not the child's. */
  push(chunk: Buffer): void;
  /** The answers of every frame; throws when the output ended inside a frame (fail closed). */
  end(): ChildAnswers;
}

/** Reads the child's frames (a 4-byte big-endian length, then `v8.serialize` of part of its answers). */
export function createFrameReader(): FrameReader {
  const answers: ChildAnswers = { parts: [], json: [] };
  let chunks: Buffer[] = [];
  let held = 0;
  /** The body length of the frame being read, once its header is in; -1 before. */
  let size = -1;
  return {
    push(chunk) {
      if (chunk.length > 0) {
        chunks.push(chunk);
        held += chunk.length;
      }
      for (;;) {
        const need = size < 0 ? 4 : size;
        if (held < need) return;
        // Joined only once a whole header or body is in: each byte is copied a bounded number of times.
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
        const bytes = all.subarray(0, need);
        const rest = all.subarray(need);
        chunks = rest.length > 0 ? [rest] : [];
        held = rest.length;
        if (size < 0) size = bytes.readUInt32BE(0);
        else {
          merge(answers, deserialize(bytes) as Partial<ChildAnswers>);
          size = -1;
        }
      }
    },
    end() {
      if (held > 0 || size >= 0)
        throw new Error('the policy reader process failed: its answers were cut short');
      return answers;
    },
  };
}

function merge(answers: ChildAnswers, frame: Partial<ChildAnswers>): void {
  if (Array.isArray(frame.parts)) answers.parts.push(...frame.parts);
  if (Array.isArray(frame.json)) answers.json.push(...frame.json);
  if (frame.checkParseSchema !== undefined) answers.checkParseSchema = frame.checkParseSchema;
  if (frame.schemaToJson !== undefined) answers.schemaToJson = frame.schemaToJson;
  if (frame.validate !== undefined) answers.validate = frame.validate;
  if (frame.thrown !== undefined) answers.thrown = frame.thrown;
}

/** A reader that answers from `answers` for exactly the inputs they were computed for. */
function replay(schema: string, answers: ChildAnswers): CedarReader {
  const parts = new Map(answers.parts);
  const json = new Map(answers.json);
  const missing = (what: string): Error =>
    new Error(answers.thrown ?? `the policy reader process did not read ${what}`);
  return {
    checkParseSchema(s) {
      if (s !== schema || answers.checkParseSchema === undefined) throw missing('this schema');
      return answers.checkParseSchema;
    },
    schemaToJson(s) {
      if (s !== schema || answers.schemaToJson === undefined) throw missing('this schema');
      return answers.schemaToJson;
    },
    policySetTextToParts(text) {
      const answer = parts.get(text);
      if (answer === undefined) throw missing('this file');
      return answer;
    },
    policyToJson(policy) {
      const answer = typeof policy === 'string' ? json.get(policy) : undefined;
      if (answer === undefined) throw missing('this policy');
      return answer;
    },
    validate(call) {
      // SECURITY: fail closed — the recorded answer is only ever the answer to the very same call.
      if (answers.validate === undefined || !sameCall(call, answers.validate[0])) throw missing('this set');
      return answers.validate[1];
    },
  };
}

function sameCall(
  a: Parameters<CedarReader['validate']>[0],
  b: Parameters<CedarReader['validate']>[0],
): boolean {
  if (a.schema !== b.schema || a.validationSettings?.mode !== b.validationSettings?.mode) return false;
  const pa = a.policies.staticPolicies;
  const pb = b.policies.staticPolicies;
  if (typeof pa !== 'object' || pa === null || Array.isArray(pa)) return false;
  if (typeof pb !== 'object' || pb === null || Array.isArray(pb)) return false;
  const ta = pa as Record<string, unknown>;
  const tb = pb as Record<string, unknown>;
  const keys = Object.keys(ta);
  if (keys.length !== Object.keys(tb).length) return false;
  for (const k of keys) {
    if (!Object.hasOwn(tb, k) || typeof ta[k] !== 'string' || ta[k] !== tb[k]) return false;
  }
  return a.policies.templates === undefined && a.policies.templateLinks === undefined;
}
