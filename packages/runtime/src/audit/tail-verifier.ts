import type { AuditCheckpoint } from '@mandate/protocol';
import { NODE_PAGE_RECORDS, createPacer, type Logger } from '../kernel/index.js';
import { GENESIS_HASH } from '../storage/index.js';
import { recordHash } from './chain.js';
import { checkCheckpoints, type Finding } from './verify-checkpoints.js';
import { checkRecord, type AuditSource } from './verify.js';

/** What the node knows of its own chain: shown in `/metrics` and `/readyz`. */
export interface AuditIntegrity {
  /** False once tampering was found; it stays false until the operator has looked (restart). */
  ok: boolean;
  /** The last record verified (0 before the first check). */
  verifiedSeq: number;
  /** What was found, when `ok` is false. */
  failure: Finding | null;
  /**
   * Records past `verifiedSeq` when the last check ended: more than zero under a steady stream of
   * decisions, growing when the node appends more than `maxPerTick` records per interval. Null
   * before the first check, or when the head cannot be read.
   */
  unverified: number | null;
}

/** Options of {@link createTailVerifier}. */
export interface TailVerifierOptions {
  source: AuditSource;
  /** Keys whose checkpoints are checked; checkpoints by other keys (other nodes) are left to `verify`. */
  publicKeys: Record<string, string>;
  logger: Logger;
  nodeId: string;
  /** How often to check the new tail; 0 disables the timer (`check` still works). */
  intervalMs: number;
  /** Most records checked per tick, so a long chain is caught up over several ticks. Default 10,000. */
  maxPerTick?: number;
  /**
   * Records read at a time; the event loop gets a turn after each page. Default
   * `NODE_PAGE_RECORDS` (200; kernel/pace.ts says why).
   */
  pageSize?: number;
  /** The chain's head, read after each check to say how far behind it the check is (`unverified`). */
  head?: () => Promise<{ seq: number }>;
  /** Called once, when tampering is first found (the node records an `audit.verify_failed` event). */
  onFailure: (finding: Finding) => Promise<unknown>;
}

/** The node's continuous check of its own chain. */
export interface TailVerifier {
  /** Checks the records and checkpoints added since the last check. */
  check(): Promise<AuditIntegrity>;
  status(): AuditIntegrity;
  close(): Promise<void>;
}

/**
 * Verifies the chain as it grows, from the last verified record on: each tick re-reads the last
 * verified record (a rewrite or a cut below it shows there), then links and hashes the new
 * records and checks the new checkpoints of known keys against them. The first finding is
 * logged, recorded in the chain and kept; the full `mandate audit verify` says the rest.
 */
export function createTailVerifier(opts: TailVerifierOptions): TailVerifier {
  const maxPerTick = opts.maxPerTick ?? 10_000;
  const pageSize = opts.pageSize ?? NODE_PAGE_RECORDS;
  let verifiedSeq = 0;
  let verifiedHash = GENESIS_HASH;
  let failure: Finding | null = null;
  let unverified: number | null = null;
  let running: Promise<AuditIntegrity> | null = null;

  const status = (): AuditIntegrity => ({ ok: failure === null, verifiedSeq, failure, unverified });

  async function fail(f: Finding): Promise<void> {
    failure = f;
    opts.logger.error('audit chain tampering found', { nodeId: opts.nodeId, ...f });
    try {
      await opts.onFailure(f);
    } catch (err) {
      opts.logger.error('could not record the audit verify failure', { error: (err as Error).message });
    }
  }

  async function tick(): Promise<AuditIntegrity> {
    if (failure) return status();
    if (verifiedSeq > 0) {
      const [again] = await opts.source.readAudit(verifiedSeq - 1, 1);
      if (!again || again.seq !== verifiedSeq) {
        await fail({
          seq: verifiedSeq,
          problem: 'truncated',
          message: `record ${verifiedSeq}: verified earlier by this node and now gone (deleted?)`,
        });
        return status();
      }
      if (
        again.hash !== verifiedHash ||
        recordHash(again.seq, again.prevHash, again.eventText) !== again.hash
      ) {
        await fail({
          seq: verifiedSeq,
          problem: 'hash_mismatch',
          message: `record ${verifiedSeq}: changed since this node verified it (rewritten?)`,
        });
        return status();
      }
    }
    const from = { seq: verifiedSeq, hash: verifiedHash };
    const hashes = new Map<number, string>([[from.seq, from.hash]]);
    const recent = new Map<string, number>([[from.hash, from.seq]]);
    let prevSeq = from.seq;
    let prevHash = from.hash;
    let checked = 0;
    // PERF: the check runs beside the node's decisions; reads that resolve without I/O (SQLite)
    // would hold every request for the whole tick, so the loop gets a turn between slices.
    const pacer = createPacer();
    while (checked < maxPerTick) {
      if (checked > 0) await pacer.yield();
      const page = await opts.source.readAudit(prevSeq, Math.min(pageSize, maxPerTick - checked));
      if (page.length === 0) break;
      for (let i = 0; i < page.length; i++) {
        if (pacer.due()) await pacer.yield();
        const r = page[i]!;
        const finding = checkRecord(r, prevSeq, prevHash, page, i, recent);
        if (finding) {
          await fail(finding);
          return status();
        }
        prevSeq = r.seq;
        prevHash = r.hash;
        hashes.set(r.seq, r.hash);
        recent.set(r.hash, r.seq);
        checked++;
      }
    }
    // New checkpoints of known keys must agree with the records just verified (or the head before them).
    const inRange = (cp: AuditCheckpoint) =>
      cp.seq >= from.seq && cp.seq <= prevSeq && Object.hasOwn(opts.publicKeys, cp.keyId);
    // PERF: only this tick's range is read; the table holds a checkpoint a minute at least.
    const checkpoints = (await opts.source.listCheckpoints({ fromSeq: from.seq, toSeq: prevSeq })).filter(
      inRange,
    );
    const finding = checkCheckpoints(checkpoints, opts.publicKeys, {
      complete: true,
      lastSeq: prevSeq,
      hashAt: (seq) => hashes.get(seq),
    });
    if (finding) {
      await fail(finding);
      return status();
    }
    verifiedSeq = prevSeq;
    verifiedHash = prevHash;
    if (opts.head) {
      try {
        unverified = Math.max(0, (await opts.head()).seq - verifiedSeq);
      } catch {
        // Only the gauge is lost: the store's outage shows in /readyz.
        unverified = null;
      }
    }
    return status();
  }

  function check(): Promise<AuditIntegrity> {
    // One check at a time: a slow store must not stack ticks.
    running ??= tick().finally(() => {
      running = null;
    });
    return running;
  }

  const timer =
    opts.intervalMs > 0
      ? setInterval(() => {
          check().catch((err: unknown) => {
            // A store that cannot be read is an outage, not tampering: /readyz reports the store.
            opts.logger.warn('audit tail check failed', {
              nodeId: opts.nodeId,
              error: (err as Error).message,
            });
          });
        }, opts.intervalMs)
      : null;
  timer?.unref();

  return {
    check,
    status,
    async close() {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
