import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AuditCheckpoint } from '@mandate/protocol';
import type { Command } from 'commander';
import { MandateError, isoTimeOrNull, silentLogger } from '../kernel/index.js';
import { auditWithMirror, maxCheckpointGap, openStore } from '../app/index.js';
import {
  checkFindingNotes,
  checkSealedTail,
  createRecordSealer,
  keyIdOf,
  readCheckpointFile,
  readCheckpointFileDetailed,
  readSealKey,
  verifyAudit,
  verifyBundle,
  type AuditSource,
  type FindingNote,
  type RecordSealer,
  type VerifyAuditOptions,
} from '../audit/index.js';
import { requireSignedAfter, type VerifiedAudit, type VerifyResult } from '../audit/verify.js';
import type { Config } from '../config/index.js';
import type { AuditHead } from '../storage/index.js';
import { EXIT, out, printJson, load, common } from './shared.js';

/** Reads trusted public keys (PEM files) into `{keyId: pem}`. */
export async function readPublicKeys(files: readonly string[]): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const f of files) {
    let pem: string;
    try {
      pem = await readFile(resolve(f), 'utf8');
      keys[keyIdOf(pem)] = pem;
    } catch {
      throw new MandateError(
        'bad_request',
        `cannot read public key ${f}: pass the signing node's key (audit-signing.pub.pem) with --public-key`,
      );
    }
  }
  return keys;
}

/**
 * Verifies a store as its config says: the checkpoints given plus those of the config's mirror
 * file (`audit.checkpointMirror.file`; not read twice when it is among `checkpointFiles`), held to
 * the config's cadence unless `maxGap` says otherwise. `audit verify` and the bundle export's check
 * before it signs a head both verify this way.
 */
export async function verifyAsConfigured(
  store: AuditSource,
  audit: Config['audit'],
  opts: Omit<VerifyAuditOptions, 'checkpoints'> & {
    checkpoints?: readonly AuditCheckpoint[];
    checkpointFiles?: readonly string[];
    /**
     * The key directory's seal key (ADR 0038): the records after the newest trusted checkpoint must
     * be the writers'. Without it (an auditor's machine) the checkpoints are all there is to check.
     */
    sealer?: RecordSealer | null;
  },
): Promise<VerifiedAudit> {
  const { checkpointFiles = [], sealer, ...rest } = opts;
  const checkpoints = [...(opts.checkpoints ?? [])];
  const mirror = audit.checkpointMirror?.file;
  let notes: readonly FindingNote[] = [];
  let mirrorMissing = false;
  if (mirror && existsSync(mirror)) {
    const read = await readCheckpointFileDetailed(mirror);
    notes = read.findings;
    if (!checkpointFiles.some((f) => resolve(f) === mirror)) checkpoints.push(...read.checkpoints);
  } else if (mirror) {
    // A copy of it given with --checkpoints stands in for it.
    mirrorMissing = checkpointFiles.length === 0;
  }
  const r = await verifyAudit(store, {
    ...rest,
    checkpoints,
    maxGap: opts.maxGap ?? maxCheckpointGap(audit),
  });
  if (!r.ok) return r;
  // SECURITY: the mirror is what holds the chain to its checkpoints when the database's are
  // deleted; a configured one that is gone was skipped in silence, and a chain cut back below its
  // checkpoints verified ok once the file was removed too (a probe). A store with signed
  // checkpoints has had a node writing the mirror, so its absence is a failure, not nothing to check.
  if (mirrorMissing) {
    const [first] = (await store.listCheckpoints({ limit: 1 })).slice(0, 1);
    if (first) {
      const { newestCheckpoint: _unchecked, ...failed } = r;
      return {
        ...failed,
        ok: false,
        firstBad: {
          seq: first.seq,
          problem: 'checkpoint_missing',
          message: `the configured checkpoint mirror ${mirror} is missing, though the store holds signed checkpoints: the chain cannot be held to the checkpoints kept outside the database (restore the file, or pass a copy with --checkpoints)`,
        },
      };
    }
  }
  // The node's notes of its findings in its mirror: each noted record still there, as recorded.
  const gone = await checkFindingNotes(store, opts.publicKeys, notes);
  if (gone) return { ...r, ok: false, firstBad: gone };
  if (!r.head) return r;
  if (!sealer) {
    // SECURITY: without the seal key (an auditor's copy of the store and the pinned public key),
    // nothing checks who wrote the records after the newest checkpoint: a record a database admin
    // appended after the head verified as plain ok (a probe). They are counted and said to be
    // unverified; a live store nearly always has a few, so `--require-signed-head` is what fails them.
    // Counted from the newest checkpoint of a trusted key, as `--require-signed-head` counts: a
    // verified chain has no checkpoint of another key, so none means every record is unsigned.
    const unsigned = r.head.seq - (r.newestCheckpoint?.seq ?? 0);
    return unsigned > 0 ? { ...r, unsignedRecords: unsigned } : r;
  }
  const unsealed = await checkSealedTail(store, sealer, Object.keys(opts.publicKeys), r.head);
  return unsealed ? { ...r, ok: false, firstBad: unsealed } : r;
}

/** The seal key of the key directory `dir` as a sealer, or null when it holds none. */
export async function keyDirSealer(dir: string): Promise<RecordSealer | null> {
  const key = await readSealKey(dir);
  return key ? createRecordSealer(key) : null;
}

/** `--expect-head 1234:ab12…` → `{seq, hash}`. */
export function parseHead(text: string): AuditHead {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1])))
    throw new MandateError(
      'bad_request',
      `--expect-head ${JSON.stringify(text)}: expected <seq>:<hash>, the hash as 64 lowercase hex characters`,
    );
  return { seq: Number(m[1]), hash: m[2]! };
}

function parseGap(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
    throw new MandateError(
      'bad_request',
      `--max-gap ${JSON.stringify(text)}: expected a whole number of records, 1 or more`,
    );
  return n;
}

/** `--signed-after 2026-12-01T11:00:00Z` → the ISO time, or a usage error naming the flag. */
function parseSignedAfter(text: string): string {
  const iso = isoTimeOrNull(text);
  if (iso === null)
    throw new MandateError(
      'bad_request',
      `--signed-after ${JSON.stringify(text)}: expected an ISO time such as 2026-12-01T11:00:00Z`,
    );
  return iso;
}

/** `; newest signed checkpoint #20 at <time>`: how recent the evidence is. */
function newestLine(r: VerifyResult): string {
  const n = r.newestCheckpoint;
  return n ? `; newest signed checkpoint #${n.seq} at ${n.time} (key ${n.keyId})` : '; no signed checkpoint';
}

/**
 * Fails a verified store (`unsigned_tail`) unless a checkpoint of a trusted key covers its last
 * record (`--require-signed-head`): the records after the newest checkpoint are vouched for by no
 * signature, only by the writers' seals where the key directory is at hand.
 */
function requireSignedHead(result: VerifiedAudit): VerifiedAudit {
  if (!result.ok || !result.head) return result;
  const signed = result.newestCheckpoint?.seq ?? 0;
  if (signed >= result.head.seq) return result;
  const { unsignedRecords: _counted, ...rest } = result;
  return {
    ...rest,
    ok: false,
    firstBad: {
      seq: signed + 1,
      problem: 'unsigned_tail',
      message: `records ${signed + 1}–${result.head.seq} come after the newest checkpoint of a trusted key (${signed === 0 ? 'none' : `#${signed}`}): no signature covers them (--require-signed-head)`,
    },
  };
}

/** The warning line of a store verified without the key directory, when its head is unsigned. */
function unsignedLine(r: VerifyResult): string | null {
  if (!r.unsignedRecords || !r.head) return null;
  const signed = r.head.seq - r.unsignedRecords;
  const records = r.unsignedRecords === 1 ? '1 record' : `${r.unsignedRecords} records`;
  return (
    `warning: ${records} after ${signed === 0 ? 'the start of the chain (no signed checkpoint)' : `checkpoint #${signed}`} ` +
    `(#${signed + 1}–#${r.head.seq}) ${r.unsignedRecords === 1 ? 'is' : 'are'} not covered by any signature and ${r.unsignedRecords === 1 ? 'was' : 'were'} not verified: ` +
    'their writers’ seals cannot be checked without the key directory (--require-signed-head fails on them)'
  );
}

interface VerifyOpts {
  config?: string;
  store?: string;
  json?: boolean;
  publicKey?: string[];
  file?: string;
  checkpoints?: string[];
  expectHead?: string[];
  maxGap?: string;
  allowUnsignedTail?: boolean;
  requireSignedHead?: boolean;
  signedAfter?: string;
}

/** `mandate audit verify`: the store's chain, or an evidence bundle with no database at all. */
export function registerAuditVerify(audit: Command): void {
  common(
    audit
      .command('verify')
      .description(
        'recompute the hash chain and check the signed checkpoints (of the store, or of a bundle with --file)',
      ),
  )
    .option(
      '--public-key <file...>',
      'trusted public key PEM(s), one per signing node (default: audit-signing.pub.pem in the config’s key directory)',
    )
    .option(
      '--file <bundle>',
      'verify an evidence bundle (`audit export --bundle`) with no config and no database',
    )
    .option(
      '--checkpoints <file...>',
      'checkpoint copies kept outside the database (the audit.checkpointMirror file)',
    )
    .option('--expect-head <seq:hash...>', 'a head you kept earlier: the chain must still hold that record')
    .option(
      '--allow-unsigned-tail',
      'with --file: accept records after the last checkpoint signed by a trusted key (counted, not refused)',
    )
    .option(
      '--require-signed-head',
      'fail unless a checkpoint of a trusted key covers the last record (a store verified without the key directory otherwise counts the records after it as unverified, and passes)',
    )
    .option(
      '--signed-after <iso>',
      'fail unless a checkpoint of a trusted key signed at or after this time covers the last record (a bundle cut back to an earlier checkpoint verifies otherwise)',
      parseSignedAfter,
    )
    .option(
      '--max-gap <n>',
      'most records allowed with no signed checkpoint (default: from the config or the bundle)',
    )
    .action(async (opts: VerifyOpts) => {
      const heads = (opts.expectHead ?? []).map(parseHead);
      const maxGap = opts.maxGap !== undefined ? parseGap(opts.maxGap) : undefined;
      const extra: AuditCheckpoint[] = [];
      for (const f of opts.checkpoints ?? []) extra.push(...(await readCheckpointFile(resolve(f))));
      let last = 0;
      const onProgress = (n: number) => {
        if (!opts.json && process.stderr.isTTY && n - last >= 10_000) {
          last = n;
          process.stderr.write(`\rverified ${n} records…`);
        }
      };
      let r: VerifiedAudit;
      if (opts.file !== undefined) {
        // SECURITY: offline, nothing is trusted but the keys given; the bundle's own keys could be anyone's.
        if (opts.config !== undefined || opts.store !== undefined)
          throw new MandateError(
            'bad_request',
            '--file verifies a bundle on its own: leave out --config and --store',
          );
        if (!opts.publicKey?.length)
          throw new MandateError(
            'bad_request',
            '--file needs --public-key: the bundle’s own keys are not trusted',
          );
        if (opts.requireSignedHead && opts.allowUnsignedTail)
          throw new MandateError(
            'bad_request',
            '--require-signed-head and --allow-unsigned-tail contradict each other (a bundle requires a signed head unless allowed)',
          );
        let text: string;
        try {
          text = await readFile(resolve(opts.file), 'utf8');
        } catch (err) {
          throw new MandateError('bad_request', `cannot read bundle ${opts.file}: ${(err as Error).message}`);
        }
        r = await verifyBundle(text, {
          publicKeys: await readPublicKeys(opts.publicKey),
          checkpoints: extra,
          expectHeads: heads,
          onProgress,
          ...(maxGap !== undefined ? { maxGap } : {}),
          ...(opts.allowUnsignedTail ? { allowUnsignedTail: true } : {}),
        });
      } else {
        const loaded = load(opts);
        // SECURITY: verify reads public keys only; it never creates a key (a fresh key would sign nothing).
        const publicKeys = await readPublicKeys(
          opts.publicKey ?? [join(loaded.config.keys.dir, 'audit-signing.pub.pem')],
        );
        const store = openStore(loaded.config.store, silentLogger);
        try {
          r = await verifyAsConfigured(store, auditWithMirror(loaded.config, true), {
            publicKeys,
            sealer: await keyDirSealer(loaded.config.keys.dir),
            checkpoints: extra,
            checkpointFiles: opts.checkpoints ?? [],
            expectHeads: heads,
            reportNewestCheckpoint: true,
            ...(maxGap !== undefined ? { maxGap } : {}),
            onProgress,
          });
        } finally {
          await store.close();
        }
        if (opts.requireSignedHead) r = requireSignedHead(r);
      }
      if (last && process.stderr.isTTY) process.stderr.write('\n');
      const v: VerifyResult = opts.signedAfter !== undefined ? requireSignedAfter(r, opts.signedAfter) : r;
      if (opts.json) printJson(v);
      else if (v.ok) {
        const bundle = opts.file !== undefined;
        out(
          `ok: ${v.records} records, ${v.checkpoints} signed checkpoints, head ${v.head ? `#${v.head.seq} ${v.head.hash}` : '(empty)'}` +
            newestLine(v) +
            (bundle && v.unsignedRecords
              ? `; the last ${v.unsignedRecords} records are signed by no trusted key (allowed by --allow-unsigned-tail)`
              : ''),
        );
        const unverified = bundle ? null : unsignedLine(v);
        if (unverified) out(unverified);
      } else out(`FAILED at record ${v.firstBad?.seq}: ${v.firstBad?.problem} — ${v.firstBad?.message}`);
      process.exitCode = v.ok ? EXIT.ok : EXIT.failed;
    });
}
