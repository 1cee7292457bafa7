import type { AuditCheckpoint, AuditEvent } from '@mandate/protocol';
import { MandateError, canonicalize, parseJsonStrict } from '../kernel/index.js';
import type { StoredAuditRecord } from '../storage/index.js';
import { auditColumns } from './chain.js';
import { formatRecord } from './export.js';
import { keyIdOf, type AuditSigner } from './keys.js';
import { asCheckpoint, checkpointLine } from './mirror.js';
import type { Finding } from './verify-checkpoints.js';
import { verifyAudit, type AuditSource, type VerifiedAudit, type VerifyAuditOptions } from './verify.js';

/** The first line of an evidence bundle names its format. */
export const BUNDLE_FORMAT = 'mandate.audit.bundle.v1';

/** Options of {@link exportBundle}. */
export interface ExportBundleOptions {
  /** Public keys (PEM) of the nodes that signed the checkpoints, listed with their key ids. */
  publicKeys: readonly string[];
  /** The cadence the chain was written with (verify's `maxGap`), stated in the header. */
  maxGap: number;
  /** The export time, ISO. */
  exportedAt: string;
  write: (chunk: string) => void | Promise<void>;
  /** Records per store read. Default 1,000. */
  batchSize?: number;
  /**
   * A head to attest: the exporting node's signer (its audit signing key) and the head a full
   * `verifyAudit` of the same store just found — against the stored checkpoints and the mirror.
   * The bundle then holds the records up to that head only, and when no stored checkpoint names it
   * ends with one signed now: the exporter's attestation of the head it verified (in the bundle
   * only, not written to the store). A record at that seq with another hash (rewritten since) gets
   * no signature. Without it every record after the last stored checkpoint is unsigned, and verify
   * refuses the bundle unless told to allow that.
   *
   * SECURITY: never a head that was not verified first — signing whatever the store holds let the
   * node's key vouch for a chain rewritten in the database, even one its own mirror shows rewritten.
   */
  attest?: { signer: AuditSigner; verifiedHead: { seq: number; hash: string } };
}

/** What {@link exportBundle} wrote. */
export interface ExportedBundle {
  records: number;
  /** A checkpoint of the last record was signed for the bundle (see `attest`). */
  signedHead: boolean;
}

/**
 * Writes an evidence bundle: everything `mandate audit verify --file` needs with no database.
 * JSONL: a header `{"bundle", "exportedAt", "maxGap", "publicKeys": [{keyId, pem}]}`, then every
 * record from seq 1 as the JSONL export writes it (the event exactly as hashed), then each signed
 * checkpoint up to the last record as `{"checkpoint": {...}}`.
 */
export async function exportBundle(source: AuditSource, opts: ExportBundleOptions): Promise<ExportedBundle> {
  const batchSize = opts.batchSize ?? 1000;
  const header = {
    bundle: BUNDLE_FORMAT,
    exportedAt: opts.exportedAt,
    maxGap: opts.maxGap,
    publicKeys: opts.publicKeys.map((pem) => ({ keyId: keyIdOf(pem), pem })),
  };
  await opts.write(JSON.stringify(header) + '\n');
  const upTo = opts.attest?.verifiedHead.seq ?? Number.POSITIVE_INFINITY;
  let after = 0;
  let lastHash = '';
  let records = 0;
  for (let done = false; !done;) {
    const page = await source.readAudit(after, batchSize);
    if (page.length === 0) break;
    let chunk = '';
    for (const r of page) {
      // Past the attested head; or a store that does not move forward, which would loop for ever.
      if (r.seq > upTo || r.seq <= after) {
        done = true;
        break;
      }
      chunk += formatRecord(r, 'jsonl') + '\n';
      after = r.seq;
      lastHash = r.hash;
      records++;
    }
    if (chunk) await opts.write(chunk);
  }
  // Checkpoints read after the records: those made meanwhile name records past the bundle and stay out.
  const checkpoints = (await source.listCheckpoints({ toSeq: after })).filter((cp) => cp.seq <= after);
  const attest = opts.attest;
  const signedHead =
    attest !== undefined &&
    after > 0 &&
    after === attest.verifiedHead.seq &&
    lastHash === attest.verifiedHead.hash &&
    !checkpoints.some((cp) => cp.seq === after && cp.keyId === attest.signer.keyId);
  if (signedHead) {
    const body = { seq: after, hash: lastHash, time: new Date().toISOString(), keyId: attest.signer.keyId };
    checkpoints.push({ ...body, signature: attest.signer.sign(canonicalize(body)) });
  }
  let chunk = '';
  for (const cp of checkpoints) chunk += `{"checkpoint":${checkpointLine(cp)}}\n`;
  if (chunk) await opts.write(chunk);
  return { records, signedHead };
}

/** A bundle read back: a source for `verifyAudit`, and the first line that was not what Mandate writes. */
export interface ReadBundle {
  source: AuditSource;
  /** Key ids and PEMs the header lists. Not trusted by verify: only `--public-key` is. */
  publicKeys: { keyId: string; pem: string }[];
  maxGap: number | null;
  malformed: Finding | null;
  /** After verify: the first record it was never handed (a line it skipped), or null. */
  unread: () => Finding | null;
}

/** Parses an evidence bundle; the first line that is not what Mandate writes is reported with the record it holds. */
export function readBundle(text: string): ReadBundle {
  const records: StoredAuditRecord[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  /** The line number of each record, for the report of one never read. */
  const recordLines: number[] = [];
  const publicKeys: ReadBundle['publicKeys'] = [];
  let maxGap: number | null = null;
  let malformed: Finding | null = null;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const bad = (lineNo: number, line: string, why: string): Finding => {
    const seq = /^\{"(?:checkpoint":\{")?seq":(\d+)/.exec(line)?.[1];
    const at = seq !== undefined ? Number(seq) : (records.at(-1)?.seq ?? 0) + 1;
    return { seq: at, problem: 'malformed', message: `bundle line ${lineNo} (record ${at}): ${why}` };
  };
  // Every line is read, bad ones skipped: the first bad one is reported, and the records and
  // checkpoints around it still let verify say what else is wrong.
  const report = (f: Finding) => {
    malformed ??= f;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let value: unknown;
    try {
      value = parseBundleLine(line);
    } catch (err) {
      report(bad(i + 1, line, `not valid JSON (${(err as Error).message})`));
      continue;
    }
    const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    if (i === 0) {
      const why = readHeader(v, publicKeys);
      if (why) report({ seq: 0, problem: 'malformed', message: `bundle line 1 (header): ${why}` });
      else maxGap = typeof v.maxGap === 'number' ? v.maxGap : null;
      continue;
    }
    if ('checkpoint' in v) {
      const cp = asCheckpoint(v.checkpoint);
      if (!cp || Object.keys(v).length !== 1) report(bad(i + 1, line, 'not a checkpoint'));
      else checkpoints.push(cp);
      continue;
    }
    const r = asRecord(v);
    if (!r) report(bad(i + 1, line, 'not a record'));
    else {
      records.push(r);
      recordLines.push(i + 1);
    }
  }
  let next = 0;
  return {
    source: {
      readAudit: async (afterSeq, limit) => {
        // SECURITY: records are handed out in file order, every one of them, from the first line
        // on — whatever seq it claims. Verify pages on from the last seq it was given, so the next
        // page starts right after the previous one; a reader that skipped to the first record
        // with a seq above the one asked for never showed verify a forged line placed before
        // record 1 (a probe: `{"seq":0,…,"effect":"allow"}` in a "verified" bundle).
        let from =
          next === 0 || records[next - 1]!.seq === afterSeq
            ? next
            : records.findIndex((r) => r.seq > afterSeq);
        if (from < 0) from = records.length;
        const page = records.slice(from, from + limit);
        next = Math.max(next, from + page.length);
        return page;
      },
      listCheckpoints: async () => checkpoints,
    },
    publicKeys,
    maxGap,
    malformed,
    unread: () => {
      // The first record verify was never handed: nothing may sit in a bundle unchecked.
      if (next >= records.length) return null;
      const r = records[next]!;
      return {
        seq: r.seq,
        problem: 'malformed',
        message: `bundle line ${recordLines[next]} (record ${r.seq}): never reached by the verification`,
      };
    },
  };
}

/** The deepest nesting a bundle line may hold: an event's own (a request's `maxJsonDepth`, at most 256) and the line's. */
const BUNDLE_MAX_DEPTH = 1024;

/**
 * Parses one bundle line under the rules its record's hash was made with. The store's verify
 * reads event text as plain JSON (any integer a double holds, any depth), so a record it verifies
 * — a usage sum beyond 2^53 − 1, arguments nested past the strict parser's default depth — must
 * verify in a bundle too, or the evidence could never be shown (a probe). Duplicate keys are still
 * refused: a line falling back to plain JSON must be exactly the line the export writes of what it
 * holds, which a repeated key (or any number that does not read back as written) is not.
 */
function parseBundleLine(line: string): unknown {
  try {
    return parseJsonStrict(line, { maxDepth: BUNDLE_MAX_DEPTH });
  } catch (err) {
    if (!(err instanceof MandateError) || err.code !== 'invalid_number') throw err;
    let same = false;
    let value: unknown;
    try {
      value = JSON.parse(line);
      const r =
        typeof value === 'object' && value !== null && !Array.isArray(value)
          ? asRecord(value as Record<string, unknown>)
          : null;
      same = r !== null && formatRecord(r, 'jsonl') === line;
    } catch {
      // Reported as the strict parser's refusal.
    }
    if (!same) throw err;
    return value;
  }
}

/** Options of {@link verifyBundle}. */
export interface VerifyBundleOptions extends VerifyAuditOptions {
  /**
   * Accept records after the last checkpoint of a trusted key (still counted in `unsignedRecords`).
   * Default false: such records fail with `unsigned_tail`.
   */
  allowUnsignedTail?: boolean;
}

/**
 * Verifies an evidence bundle with no database: the chain and checkpoints it holds, against the
 * trusted keys given (never the header's). A line that is not a record or checkpoint fails it too.
 *
 * SECURITY: a bundle is handed over by the party it is evidence against. A chain is only hashes
 * until a trusted key signs a record of it, and a signed record vouches for every record before it;
 * so records after the last such checkpoint — or a bundle with none — could have been written
 * (and rehashed) by whoever wrote the file, and fail unless `allowUnsignedTail`.
 */
export async function verifyBundle(text: string, opts: VerifyBundleOptions): Promise<VerifiedAudit> {
  const b = readBundle(text);
  const maxGap = opts.maxGap ?? b.maxGap ?? undefined;
  const result = await verifyAudit(b.source, {
    ...opts,
    reportNewestCheckpoint: true,
    ...(maxGap !== undefined ? { maxGap } : {}),
  });
  // A verify that ended without a finding read to the end: a record it was never handed was skipped.
  const malformed = b.malformed ?? (result.firstBad ? null : b.unread());
  if (malformed && (!result.firstBad || malformed.seq <= result.firstBad.seq)) {
    const { newestCheckpoint: _unread, ...rest } = result;
    return { ...rest, ok: false, firstBad: malformed };
  }
  if (!result.ok || result.head === null) return result;
  // Verified: every checkpoint here is signed by a trusted key and agrees with the chain.
  const checkpoints = [...(await b.source.listCheckpoints()), ...(opts.checkpoints ?? [])];
  const signedUpTo = Math.max(0, ...checkpoints.map((cp) => cp.seq).filter((s) => s <= result.head!.seq));
  const unsignedRecords = result.head.seq - signedUpTo;
  if (unsignedRecords === 0 || opts.allowUnsignedTail) return { ...result, unsignedRecords };
  return {
    ...result,
    ok: false,
    unsignedRecords,
    firstBad: {
      seq: signedUpTo + 1,
      problem: 'unsigned_tail',
      message:
        signedUpTo === 0
          ? `no checkpoint signed by a trusted key covers any of the ${unsignedRecords} records: anyone could have written them`
          : `records ${signedUpTo + 1}–${result.head.seq} (${unsignedRecords}) come after the last checkpoint signed by a trusted key (record ${signedUpTo}): anyone could have written them (a bundle from \`mandate audit export --bundle\` with the node's key ends with one; --allow-unsigned-tail accepts them)`,
    },
  };
}

function readHeader(v: Record<string, unknown>, publicKeys: ReadBundle['publicKeys']): string | null {
  if (v.bundle !== BUNDLE_FORMAT) return `not a ${BUNDLE_FORMAT} header`;
  if (v.maxGap !== undefined && !(Number.isSafeInteger(v.maxGap) && (v.maxGap as number) > 0))
    return 'maxGap must be a positive integer';
  if (!Array.isArray(v.publicKeys)) return 'publicKeys must be a list';
  for (const k of v.publicKeys as unknown[]) {
    const { keyId, pem } = (k ?? {}) as { keyId?: unknown; pem?: unknown };
    if (typeof keyId !== 'string' || typeof pem !== 'string') return 'a public key needs keyId and pem';
    let actual: string;
    try {
      actual = keyIdOf(pem);
    } catch {
      return `public key ${keyId} is not a readable PEM`;
    }
    if (actual !== keyId) return `public key ${keyId} does not match its PEM (id ${actual})`;
    publicKeys.push({ keyId, pem });
  }
  return null;
}

function asRecord(v: Record<string, unknown>): StoredAuditRecord | null {
  if (Object.keys(v).sort().join(',') !== 'event,hash,prevHash,seq') return null;
  // SECURITY: a record is numbered from 1; a line with seq 0 or below is not one Mandate writes.
  if (
    !Number.isSafeInteger(v.seq) ||
    (v.seq as number) < 1 ||
    typeof v.prevHash !== 'string' ||
    typeof v.hash !== 'string'
  )
    return null;
  if (typeof v.event !== 'object' || v.event === null || Array.isArray(v.event)) return null;
  const event = v.event as AuditEvent;
  // The export spliced the hashed text in verbatim; its canonical form is that text again.
  return {
    seq: v.seq as number,
    prevHash: v.prevHash,
    hash: v.hash,
    eventText: canonicalize(event),
    columns: auditColumns(event),
  };
}
