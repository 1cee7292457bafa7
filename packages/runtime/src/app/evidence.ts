import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditCheckpoint, AuditEvent, AuditVerifyResult } from '@mandate/protocol';
import type { Config } from '../config/index.js';
import { isMandateError, NODE_PAGE_RECORDS, type Clock, type Logger } from '../kernel/index.js';
import type { Store, StoredAuditRecord } from '../storage/port.js';
import {
  AUDIT_MAX_BATCH,
  checkSealedTail,
  createFileMirror,
  createReadRecorder,
  createTailVerifier,
  MALFORMED_CHECKPOINT_FILE,
  readCheckpointFileDetailed,
  verifyAudit,
  vouchFor,
  type CheckpointMirror,
  type AuditFinding as Finding,
  type ReadRecorder,
  type RecordSealer,
  type TailVerifier,
  type TrustedMirror,
  type Vouch,
} from '../audit/index.js';
import { createWebhookNotifier } from '../notify/index.js';

type AuditConfig = Config['audit'];

/**
 * The most records `verify` accepts with no signed checkpoint: the configured value, or the
 * cadence plus two full group commits (the batch that crosses the mark commits whole before its
 * checkpoint, and another node's batch can land in between).
 */
export function maxCheckpointGap(audit: AuditConfig): number {
  return audit.maxCheckpointGap ?? audit.checkpointEvery + 2 * AUDIT_MAX_BATCH;
}

/** The name of the checkpoint mirror file in the key directory when the config names none. */
const DEFAULT_MIRROR_FILE = 'checkpoints.jsonl';

/**
 * The audit config with the checkpoint mirror file the node writes and verify reads: the
 * configured one; none when it is `null` or the store lives only as long as the process; else
 * `checkpoints.jsonl` in the key directory. EVIDENCE: without any mirror (the example config had
 * none) a database admin deleted the newest 541 records at a batch boundary with the 10 signed
 * checkpoints over them, and every verifier said ok (a probe): the checkpoints were only in the
 * database being cut. The key directory is what such an admin cannot write (it holds the signing
 * key), so a mirror there holds the chain to every checkpoint the node signed.
 */
export function auditWithMirror(
  config: { audit: AuditConfig; keys: { dir: string }; store: string },
  /**
   * For a reader (verify, export): the default file only where it exists. A configured file that is
   * missing fails verify; the default one is missing on an auditor's machine (no key directory)
   * and before a node of this version signed a checkpoint, and whoever could delete it from the key
   * directory could take the signing key too.
   */
  read = false,
): AuditConfig {
  const cfg = config.audit.checkpointMirror;
  if (cfg?.file !== undefined || !isPersistentStore(config.store)) return config.audit;
  const file = join(config.keys.dir, DEFAULT_MIRROR_FILE);
  if (read && !existsSync(file)) return config.audit;
  return { ...config.audit, checkpointMirror: { ...cfg, file } };
}

/** Whether a store URL names a database that outlives the process (not `memory:`, not SQLite's `:memory:`). */
function isPersistentStore(url: string): boolean {
  return url !== 'memory' && url !== 'sqlite::memory:' && url !== 'sqlite:';
}

/** The places each checkpoint is copied to as it is made (`audit.checkpointMirror`). */
export function checkpointMirrors(
  audit: AuditConfig,
  deps: { clock: Clock; logger: Logger },
): CheckpointMirror[] {
  const cfg = audit.checkpointMirror;
  const mirrors: CheckpointMirror[] = [];
  if (cfg?.file) mirrors.push(createFileMirror(cfg.file, { logger: deps.logger }));
  if (cfg?.webhook) {
    const hook = createWebhookNotifier(cfg.webhook, deps);
    mirrors.push({
      name: 'webhook',
      // Delivered in the background with retries; a receiver that is down never slows the writer.
      write: async (cp) => hook.send('audit.checkpoint', cp),
      close: () => hook.close(),
    });
  }
  return mirrors;
}

/**
 * The node's own mirror file: its checkpoints and its notes of its findings (none while it does not
 * exist), or a finding when it was edited. Lines a crash cut short are skipped, with a warning; a file that cannot be read is an
 * outage (thrown), not tampering.
 */
export async function readMirror(file: string, logger: Logger): Promise<TrustedMirror | Finding> {
  if (!existsSync(file)) return { checkpoints: [], findings: [] };
  try {
    const read = await readCheckpointFileDetailed(file);
    if (read.torn.length > 0) {
      logger.warn('checkpoint mirror: lines cut short by a crash skipped', { file, lines: read.torn });
    }
    return { checkpoints: read.checkpoints, findings: read.findings };
  } catch (err) {
    if (isMandateError(err) && err.details === MALFORMED_CHECKPOINT_FILE) {
      return { seq: 0, problem: 'malformed', message: err.message };
    }
    throw err;
  }
}

/** What the node does with its evidence beyond appending: verify (with the mirror), watch its tail, record reads. */
export interface Evidence {
  verify(): Promise<AuditVerifyResult>;
  /** Whether the node vouches for a record it shows: linked to a hash it verified or signed. */
  vouch(rec: StoredAuditRecord): Promise<Vouch>;
  tail: TailVerifier;
  reads: ReadRecorder;
  close(): Promise<void>;
}

export function createEvidence(deps: {
  audit: AuditConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  publicKeys: Record<string, string>;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** What this node's audit log wrote at a seq (AuditLog.writtenHash), for the tail check. */
  written?: (seq: number) => string | undefined;
  /** The mirror file as {@link readMirror} read it at start: the first tail check uses it, not a second read. */
  mirrorAtStart?: TrustedMirror | Finding;
  /**
   * Keeps a signed note of each finding the node recorded in the mirrors that can (the file), so
   * a restart finds its record deleted: `(record) => …`, bound to the node's signer and mirrors.
   */
  noteFinding?: (record: { seq: number; hash: string }, problem: string) => Promise<void>;
  /** Opens the writers' batch seals (ADR 0038). */
  sealer: RecordSealer;
}): Evidence {
  const { audit, store, publicKeys } = deps;
  const mirrorFile = audit.checkpointMirror?.file;
  let atStart = deps.mirrorAtStart;
  const tail = createTailVerifier({
    source: store,
    publicKeys,
    logger: deps.logger,
    nodeId: deps.nodeId,
    intervalMs: audit.verifyIntervalMs,
    head: () => store.auditHead(),
    onFailure: async (f) => {
      const rec = await deps.record({ type: 'audit.verify_failed', data: { ...f } });
      if (deps.noteFinding && isRecord(rec)) await deps.noteFinding(rec, f.problem);
    },
    ...(deps.written ? { written: deps.written } : {}),
    sealer: deps.sealer,
    // The mirror holds the checkpoints a database admin could not rewrite: the first check starts
    // only from a chain that agrees with the newest of them.
    ...(mirrorFile
      ? {
          trustedCheckpoints: async () => {
            const read = atStart ?? readMirror(mirrorFile, deps.logger);
            atStart = undefined;
            return read;
          },
        }
      : {}),
  });
  const reads = createReadRecorder({
    record: deps.record,
    clock: deps.clock,
    windowMs: audit.readEventWindowMs,
    onError: (err) =>
      deps.logger.warn('could not record a read of the audit trail', { error: (err as Error).message }),
  });
  return {
    async verify() {
      // The node's own mirror file holds the checkpoints a database admin could not delete.
      let checkpoints: AuditCheckpoint[] = [];
      if (mirrorFile) {
        const read = await readMirror(mirrorFile, deps.logger);
        if ('problem' in read) {
          // SECURITY: an edited mirror is evidence of tampering, not a reason to verify without it.
          await tail.report(read);
          return { ok: false, records: 0, checkpoints: 0, head: null, firstBad: read };
        }
        checkpoints = [...read.checkpoints];
      }
      // PERF: on the node, beside its decisions: small pages, each read one synchronous block on SQLite.
      const verified = await verifyAudit(store, {
        publicKeys,
        maxGap: maxCheckpointGap(audit),
        checkpoints,
        batchSize: NODE_PAGE_RECORDS,
      });
      // And the records after the newest checkpoint are the writers' (ADR 0038).
      const unsealed =
        verified.ok && verified.head
          ? await checkSealedTail(store, deps.sealer, Object.keys(publicKeys), verified.head)
          : null;
      const result = unsealed ? { ...verified, ok: false, firstBad: unsealed } : verified;
      // SECURITY: what a full verify finds is the node's finding too — `/readyz`, the metric, the
      // dashboard and the audit trail (`audit.verify_failed`) say so, as for the tail check's own.
      if (!result.ok && result.firstBad) await tail.report(result.firstBad);
      // SECURITY: and the node's standing finding is this answer's too. The store and the mirror
      // alone cannot see a tail cut after the newest checkpoint, which the tail check verified and
      // then found deleted (`truncated`): verify answered ok while `/readyz` said tampered (a probe).
      // Its own earliest finding, when it has one, says more than the standing one.
      const standing = tail.status().failure;
      if (result.ok && standing) return { ...result, ok: false, firstBad: standing };
      return result;
    },
    vouch: (rec) => vouchFor(store, rec, { publicKeys, hashes: tail.trustedHashes() }),
    tail,
    reads,
    async close() {
      await tail.close();
      await reads.flush();
    },
  };
}

function isRecord(v: unknown): v is { seq: number; hash: string } {
  const r = v as { seq?: unknown; hash?: unknown } | null;
  return typeof r === 'object' && r !== null && typeof r.seq === 'number' && typeof r.hash === 'string';
}
