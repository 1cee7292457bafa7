import type { AuditCheckpoint } from '@mandate/protocol';
import { NODE_PAGE_RECORDS, createPacer, type Logger, type Pacer } from '../kernel/index.js';
import { GENESIS_HASH } from '../storage/index.js';
import { recordHash } from './chain.js';
import { checkCheckpoints, newestCheckpointOf, type Finding } from './verify-checkpoints.js';
import { BELOW_FIRST_RECORD, checkRecord, type AuditSource } from './verify.js';
import { createSealWalk, type RecordSealer, type SealWalk } from './seal.js';
import { checkFindingNotes, type FindingNote } from './mirror.js';

/** What the node knows of its own chain: shown in `/metrics` and `/readyz`. */
export interface AuditIntegrity {
  /** False once tampering was found; it stays false until the operator has looked (restart). */
  ok: boolean;
  /**
   * The last record verified at the tail (0 before the first check). Records from `anchorSeq` to
   * here are verified; those before `anchorSeq` as far as `historySeq` ({@link isVerified}).
   */
  verifiedSeq: number;
  /** What was found, when `ok` is false. */
  failure: Finding | null;
  /**
   * Records past `verifiedSeq` when the last check ended: more than zero under a steady stream of
   * decisions, growing when the node appends more than `maxPerTick` records per interval. Null
   * before the first check, or when the head cannot be read.
   */
  unverified: number | null;
  /**
   * The record of the newest checkpoint signed by this node's key when the check started, which
   * the tail check started from (its signature and its record verified); 0 when it started at the
   * genesis (no such checkpoint, or before the first check). ADR 0035.
   */
  anchorSeq: number;
  /**
   * How far the records before the anchor are verified: the check goes through them from the
   * genesis with what each tick leaves of `maxPerTick` after the tail. Equals `anchorSeq` once done.
   */
  historySeq: number;
}

/** True when the node's continuous check has verified record `seq` (and found nothing wrong). */
export function isVerified(integrity: AuditIntegrity, seq: number): boolean {
  return (
    integrity.ok &&
    seq <= integrity.verifiedSeq &&
    (seq >= integrity.anchorSeq || seq <= integrity.historySeq)
  );
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
  /**
   * Checkpoints kept outside the database (the node's mirror file), read at the first check: the
   * newest of its own keys must agree with the store's chain before the node starts from it. A
   * finding instead: the file was edited (a read error is thrown, an outage).
   */
  trustedCheckpoints?: () => Promise<TrustedMirror | Finding>;
  /**
   * The hash this node's audit log committed at a seq, while it remembers (AuditLog.writtenHash):
   * a record rewritten after the node wrote it — with every later hash recomputed, before the
   * check got to it — is a finding, not the truth the check goes on from (a probe).
   */
  written?: (seq: number) => string | undefined;
  /**
   * Opens the writers' batch seals (ADR 0038): records after the node's own newest checkpoint (or,
   * with none, after its first check) must each be covered by one, so a record a database admin
   * added is a finding before the node shows it `verified`.
   */
  sealer?: RecordSealer;
}

/** What the node's mirror file holds: its checkpoints, and its notes of the findings it recorded. */
export interface TrustedMirror {
  checkpoints: readonly AuditCheckpoint[];
  findings: readonly FindingNote[];
}

/** The node's continuous check of its own chain. */
export interface TailVerifier {
  /** Checks the records and checkpoints added since the last check. */
  check(): Promise<AuditIntegrity>;
  status(): AuditIntegrity;
  /**
   * Tampering found by another check of this node (a full verify, the check of a record it shows):
   * kept and recorded as the tail check's own first finding is. Later ones change nothing.
   */
  report(finding: Finding): Promise<void>;
  /** The hashes this check verified and holds in memory (its tail and its anchor). */
  trustedHashes(): { seq: number; hash: string }[];
  /** Whether a check has run to its end since the node started (found something or not). */
  firstCheckDone(): boolean;
  close(): Promise<void>;
}

interface Cursor {
  seq: number;
  hash: string;
}

/**
 * Verifies the chain as it grows, from the last verified record on: each tick re-reads the last
 * verified record (a rewrite or a cut below it shows there), then links and hashes the new
 * records and checks the new checkpoints of known keys against them. The first finding is
 * logged, recorded in the chain and kept; the full `mandate audit verify` says the rest.
 *
 * A node starts at the newest checkpoint its own key signed (ADR 0035): its signature and the
 * record it names are checked, and the tail is verified from there, so a restarted node watches
 * what it appends now instead of spending (chain length ÷ `maxPerTick`) ticks on old records. The
 * records before it are still verified, from the genesis, with what each tick leaves of
 * `maxPerTick`; they must lead to the anchor's hash.
 */
export function createTailVerifier(opts: TailVerifierOptions): TailVerifier {
  const maxPerTick = opts.maxPerTick ?? 10_000;
  const pageSize = opts.pageSize ?? NODE_PAGE_RECORDS;
  let started = false;
  let tail: Cursor = { seq: 0, hash: GENESIS_HASH };
  let anchor: Cursor = { seq: 0, hash: GENESIS_HASH };
  let history: Cursor = { seq: 0, hash: GENESIS_HASH };
  let failure: Finding | null = null;
  let unverified: number | null = null;
  let running: Promise<AuditIntegrity> | null = null;
  let ticks = 0;
  /** The seals of the records after the anchor, followed across ticks; null until they are required. */
  let seals: SealWalk | null = null;

  const status = (): AuditIntegrity => ({
    ok: failure === null,
    verifiedSeq: tail.seq,
    failure,
    unverified,
    anchorSeq: anchor.seq,
    historySeq: history.seq,
  });

  async function fail(f: Finding): Promise<void> {
    failure = f;
    opts.logger.error('audit chain tampering found', { nodeId: opts.nodeId, ...f });
    try {
      await opts.onFailure(f);
    } catch (err) {
      opts.logger.error('could not record the audit verify failure', { error: (err as Error).message });
    }
  }

  /**
   * SECURITY: the newest own checkpoint in the node's mirror, checked against the store's chain as
   * an anchor is. A node restarted on a chain rewritten at rest — records from one on rehashed to the
   * head, the store's checkpoints after it deleted — verified it against the store alone, said
   * `ok`, and signed the forged head with a checkpoint of its own (a probe); the mirror held the
   * true hash all along.
   */
  async function mirrorDisagrees(): Promise<Finding | null> {
    if (!opts.trustedCheckpoints) return null;
    const trusted = await opts.trustedCheckpoints();
    if ('problem' in trusted) return trusted;
    // SECURITY: a node that found tampering signs nothing after it, so a database admin could
    // delete its `audit.verify_failed` record with the node stopped, and the restart said ok (a probe).
    const gone = await checkFindingNotes(opts.source, opts.publicKeys, trusted.findings);
    if (gone) return gone;
    const newest = (cps: readonly AuditCheckpoint[]) =>
      cps.reduce<AuditCheckpoint | null>((best, c) => (best && best.seq >= c.seq ? best : c), null);
    const cp = newest(trusted.checkpoints.filter((c) => Object.hasOwn(opts.publicKeys, c.keyId)));
    if (cp) {
      const found = await anchorAt(cp);
      if ('problem' in found) {
        return found.problem === 'hash_mismatch'
          ? {
              ...found,
              problem: 'checkpoint_mismatch',
              message: `${found.message} (the node's checkpoint mirror)`,
            }
          : found;
      }
    }
    // SECURITY: the newest mirror checkpoint of any key, a key this node no longer holds (one it
    // took over from) included: the file is kept outside the database, so its record must still be
    // the one it names. Held to its own keys only, a node given a fresh key — with one checkpoint
    // row of that key put in the store — took up a chain rewritten at rest (a probe).
    const any = newest(trusted.checkpoints);
    if (!any || (cp && cp.seq >= any.seq)) return null;
    return recordDiffers(any);
  }

  /** A finding when the record checkpoint `cp` names (signed by a key not this node's) is not the one it names. */
  async function recordDiffers(cp: AuditCheckpoint): Promise<Finding | null> {
    const [r] = await opts.source.readAudit(cp.seq - 1, 1);
    if (!r || r.seq !== cp.seq) {
      return {
        seq: cp.seq,
        problem: 'truncated',
        message: `record ${cp.seq}: missing, though the node's checkpoint mirror holds a checkpoint of it (key ${cp.keyId}, signed at ${cp.time}) (deleted?)`,
      };
    }
    if (r.hash !== cp.hash || recordHash(r.seq, r.prevHash, r.eventText) !== r.hash) {
      return {
        seq: cp.seq,
        problem: 'checkpoint_mismatch',
        message: `record ${cp.seq}: not the record the node's checkpoint mirror holds a checkpoint of (key ${cp.keyId}, signed at ${cp.time}) (rewritten?)`,
      };
    }
    return null;
  }

  /** Checkpoint `cp` as an anchor: its cursor if it is validly signed and its record is there, self-consistent and the one it signed. */
  async function anchorAt(cp: AuditCheckpoint): Promise<Cursor | Finding> {
    const [r] = await opts.source.readAudit(cp.seq - 1, 1);
    const found = r?.seq === cp.seq ? r : undefined;
    const signed = checkCheckpoints([cp], opts.publicKeys, {
      complete: found !== undefined,
      lastSeq: cp.seq,
      hashAt: () => found?.hash,
    });
    if (signed) return signed;
    if (!found) {
      return {
        seq: cp.seq,
        problem: 'truncated',
        message: `record ${cp.seq}: missing, though a checkpoint signed at ${cp.time} covers it (deleted?)`,
      };
    }
    if (recordHash(found.seq, found.prevHash, found.eventText) !== found.hash) {
      return {
        seq: cp.seq,
        problem: 'hash_mismatch',
        message: `record ${cp.seq}: its content does not match its hash`,
      };
    }
    return { seq: cp.seq, hash: cp.hash };
  }

  /**
   * The anchor: the newest own checkpoint, if its signature is valid and its record is there,
   * self-consistent and the one it signed. Null: start at the genesis.
   */
  async function findAnchor(): Promise<Cursor | Finding | null> {
    const mirrored = await mirrorDisagrees();
    if (mirrored) return mirrored;
    const cp = await newestCheckpointOf(opts.source, Object.keys(opts.publicKeys));
    if (!cp) return null;
    return anchorAt(cp);
  }

  /**
   * Verifies up to `budget` records after `from`, none past `untilSeq`, and the checkpoints of
   * known keys among them: where it got to, or the first finding.
   */
  async function scan(
    from: Cursor,
    untilSeq: number,
    budget: number,
    pacer: Pacer,
    sealWalk: SealWalk | null = null,
  ): Promise<{ to: Cursor; checked: number } | Finding> {
    const hashes = new Map<number, string>([[from.seq, from.hash]]);
    const recent = new Map<string, number>([[from.hash, from.seq]]);
    let prevSeq = from.seq;
    let prevHash = from.hash;
    let checked = 0;
    // PERF: the check runs beside the node's decisions; reads that resolve without I/O (SQLite)
    // would hold every request for the whole tick, so the loop gets a turn between slices.
    while (checked < budget && prevSeq < untilSeq) {
      await pacer.yield();
      const limit = Math.min(pageSize, budget - checked, untilSeq - prevSeq);
      const page = await opts.source.readAudit(prevSeq, limit);
      if (page.length === 0) break;
      // A short page ends at the chain's head when it was read: a writer's batch is one
      // transaction, so that record carries its seal unless nobody sealed it.
      const atEnd = page.length < limit;
      for (let i = 0; i < page.length; i++) {
        if (pacer.due()) await pacer.yield();
        const r = page[i]!;
        const finding = checkRecord(r, prevSeq, prevHash, page, i, recent);
        if (finding) return finding;
        const mine = opts.written?.(r.seq);
        if (mine !== undefined && mine !== r.hash) {
          return {
            seq: r.seq,
            problem: 'hash_mismatch',
            message: `record ${r.seq}: not what this node wrote there (rewritten?)`,
          };
        }
        const unsealed = sealWalk?.next(r);
        if (unsealed) return unsealed;
        prevSeq = r.seq;
        prevHash = r.hash;
        hashes.set(r.seq, r.hash);
        recent.set(r.hash, r.seq);
        checked++;
      }
      const open = atEnd ? sealWalk?.end() : null;
      if (open) return open;
    }
    // New checkpoints of known keys must agree with the records just verified (or the one before them).
    const inRange = (cp: AuditCheckpoint) =>
      cp.seq >= from.seq && cp.seq <= prevSeq && Object.hasOwn(opts.publicKeys, cp.keyId);
    // PERF: only this range is read; the table holds a checkpoint a minute at least.
    const checkpoints = (await opts.source.listCheckpoints({ fromSeq: from.seq, toSeq: prevSeq })).filter(
      inRange,
    );
    const finding = checkCheckpoints(checkpoints, opts.publicKeys, {
      complete: true,
      lastSeq: prevSeq,
      hashAt: (seq) => hashes.get(seq),
    });
    return finding ?? { to: { seq: prevSeq, hash: prevHash }, checked };
  }

  /**
   * SECURITY: a row numbered 0 or less, which no writer makes: the tail check reads from record 1
   * on and never met one, while `GET /v1/audit` listed it and a decision's lookup could show it in
   * place of the real record (a probe). One indexed read of the lowest seq, each tick.
   */
  async function belowFirstRecord(): Promise<Finding | null> {
    const [low] = await opts.source.readAudit(BELOW_FIRST_RECORD, 1);
    if (!low || (Number.isSafeInteger(low.seq) && low.seq >= 1)) return null;
    return {
      seq: Number.isSafeInteger(low.seq) ? low.seq : 0,
      problem: 'out_of_order',
      message: `record ${String(low.seq)}: the log must start at record 1 (a row put in the database below it?)`,
    };
  }

  /** The tick's work; a finding ends it, kept in `failure`. */
  async function run(): Promise<Finding | null> {
    const below = await belowFirstRecord();
    if (below) return below;
    if (!started) {
      const found = await findAnchor();
      if (found && 'problem' in found) return found;
      if (found) anchor = tail = found;
      // From the node's own checkpoint on, every record is a writer's. With none (a key taking up
      // a chain with `--new-signing-key`), from where the first check gets to.
      if (found && opts.sealer) seals = createSealWalk(opts.sealer);
      started = true;
    } else if (tail.seq > 0) {
      const [again] = await opts.source.readAudit(tail.seq - 1, 1);
      if (!again || again.seq !== tail.seq) {
        return {
          seq: tail.seq,
          problem: 'truncated',
          message: `record ${tail.seq}: verified earlier by this node and now gone (deleted?)`,
        };
      }
      if (again.hash !== tail.hash || recordHash(again.seq, again.prevHash, again.eventText) !== again.hash) {
        return {
          seq: tail.seq,
          problem: 'hash_mismatch',
          message: `record ${tail.seq}: changed since this node verified it (rewritten?)`,
        };
      }
    }
    const pacer = createPacer();
    const atTail = await scan(tail, Number.MAX_SAFE_INTEGER, maxPerTick, pacer, seals);
    if ('problem' in atTail) return atTail;
    tail = atTail.to;
    if (!seals && opts.sealer) seals = createSealWalk(opts.sealer);
    // The records before the anchor, with what the tail left of this tick.
    const left = maxPerTick - atTail.checked;
    if (history.seq < anchor.seq && left > 0) {
      const before = await scan(history, anchor.seq, left, pacer);
      if ('problem' in before) return before;
      if (before.to.seq === anchor.seq && before.to.hash !== anchor.hash) {
        return {
          seq: anchor.seq,
          problem: 'hash_mismatch',
          message: `record ${anchor.seq}: changed since this node started from it (rewritten?)`,
        };
      }
      history = before.to;
    }
    return null;
  }

  async function tick(): Promise<AuditIntegrity> {
    if (failure) return status();
    const finding = await run();
    ticks++;
    if (finding) {
      await fail(finding);
      return status();
    }
    if (opts.head) {
      try {
        unverified = Math.max(0, (await opts.head()).seq - tail.seq);
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
    async report(f) {
      if (!failure) await fail(f);
    },
    // The history cursor only once it reached the anchor (then it is the anchor): before, its hash
    // is linked to nothing signed yet — a probe had a rewritten record vouched for through it.
    trustedHashes: () => [tail, anchor].filter((c) => c.seq > 0).map((c) => ({ ...c })),
    firstCheckDone: () => ticks > 0,
    async close() {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
