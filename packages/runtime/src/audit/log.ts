import type { AuditCheckpoint, AuditEvent } from '@mandate/protocol';
import { type Clock, type Logger, MandateError, canonicalize } from '../kernel/index.js';
import { GENESIS_HASH, type AuditSealer, type Store, type StoredAuditRecord } from '../storage/index.js';
import { auditColumns, recordHash, sealCanonical } from './chain.js';
import type { AuditSigner } from './keys.js';
import { createSealWalk, type RecordSealer } from './seal.js';
import type { CheckpointMirror } from './mirror.js';
import type { Finding } from './verify-checkpoints.js';

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** This node's id, for log lines (events carry their own `nodeId`). */
  nodeId: string;
  signer: AuditSigner;
  /**
   * Seals each batch this log appends, and opens the seals of the records it signs a checkpoint
   * over: a record after the last checkpoint that no writer sealed was inserted (ADR 0038).
   */
  sealer: RecordSealer;
  /**
   * Write a checkpoint after each batch that crosses a multiple of this seq. Counted on the chain,
   * not per node, so nodes sharing one chain keep one cadence that verify can expect.
   */
  checkpointEvery: number;
  /** Also write one this often, even when idle, so a cut-off tail is caught within this window. */
  checkpointIntervalMs: number;
  /** Most events in one store transaction. Default 512. */
  maxBatch?: number;
  /** Most events waiting for a transaction; beyond it `append` sheds with `overloaded`. Default 10,000. */
  maxQueue?: number;
  /**
   * Where each checkpoint is also written, as it is made, out of the database admin's reach
   * (an append-only file, a webhook). A failed copy is logged and counted; it never fails the log.
   */
  mirrors?: readonly CheckpointMirror[];
  /**
   * Whether the node may sign its head now; false once it found its own chain tampered with
   * (TailVerifier): a checkpoint would vouch for a chain the node knows is not what it wrote.
   */
  mayCheckpoint?: () => Promise<boolean>;
  /**
   * Called when the store's chain is not what this log committed to it (a record it wrote
   * rewritten, or gone): the node's finding (TailVerifier.report). The log then signs nothing
   * over it; decisions go on being recorded (on the chain the store holds).
   */
  onTampered?: (finding: Finding) => Promise<unknown>;
  /**
   * The newest record the node's tail check verified (its cursor): before its first checkpoint a
   * log holds the head it signs to it, as later to the head it signed last.
   */
  verifiedHead?: () => { seq: number; hash: string } | null;
  /**
   * Sign a checkpoint after the first batch this log commits, whatever the cadence: a start takes
   * up a chain only with a key that signed some of it (app/mandate.ts), so records of a key that
   * signed nothing yet would keep another process of the deployment (a CLI) waiting, then refused.
   */
  checkpointFirstBatch?: boolean;
}

/** A checkpoint not signed because the node found its chain tampered with (not retried, not logged per batch). */
const TAMPERED =
  'the node has not verified its own audit chain, or found it tampered with: it signs no checkpoint now';

/** A checkpoint this log refused to sign ({@link TAMPERED}), as opposed to one the store failed to take. */
const isTamperedRefusal = (err: unknown): boolean => err instanceof MandateError && err.message === TAMPERED;

/** Most events in one store transaction by default; verify's default cadence allows for it. */
export const AUDIT_MAX_BATCH = 512;

/** Numbers for `/metrics`. */
export interface AuditLogStats {
  /** Events accepted and waiting for a transaction (not counting the batch in flight). */
  queued: number;
  /** Events committed by this log since it was created. */
  appended: number;
  /** Store transactions that committed. */
  batches: number;
  lastBatchSize: number;
  /** Age of the oldest accepted, not yet committed event (in flight or waiting): the audit lag. 0 when none. */
  oldestQueuedMs: number;
  /** Checkpoints written since the log was created. */
  checkpoints: number;
  /** Checkpoint copies a mirror failed to take. */
  mirrorFailures: number;
}

/** The single writer of the audit chain on this node. */
export interface AuditLog {
  /**
   * Appends one event. Resolves with its sealed record only once the store has durably committed
   * it; rejects with `audit_unavailable` when the commit failed and `overloaded` when the queue is full.
   */
  append(event: AuditEvent): Promise<StoredAuditRecord>;
  /** Writes a signed checkpoint of the committed head now (after any checkpoint already under way). */
  checkpoint(): Promise<AuditCheckpoint>;
  stats(): AuditLogStats;
  /**
   * The hash this log committed at `seq`, while it still remembers (its newest records, at least
   * every one since its last checkpoint): a record the store holds there under another hash was
   * rewritten after this node wrote it.
   */
  writtenHash(seq: number): string | undefined;
  /** Resolves once every event accepted before the call has been committed or rejected. */
  flush(): Promise<void>;
  /** Stops accepting events, flushes, writes a final checkpoint and stops the timer. Idempotent. */
  close(): Promise<void>;
}

/**
 * The event types that arrive at the rate of agents' traffic, which the queue's cap sheds (the
 * caller gets 503 `overloaded` before anything was done for it). Any other event records a change
 * already made (grants, keys, entities, policies, approvals, tools): admitted up to twice the cap.
 */
const SHED_AT_CAP: ReadonlySet<string> = new Set([
  'decision',
  'decision.outcome',
  'request.refused',
  'request.unauthenticated',
  'audit.read',
  'policy.divergence',
  'policy.shadow_divergence',
  'session.started',
  'session.ended',
]);

/**
 * Whether the cap may shed this event: one of {@link SHED_AT_CAP}, except a decision that used an
 * approval (an allow: the approval is spent) or opened one (`approval_required`). A probe flooded
 * the queue and a human's approval was spent by a decision answered 503 and never recorded.
 */
function sheddable(event: AuditEvent): boolean {
  if (!SHED_AT_CAP.has(event.type)) return false;
  if (event.type !== 'decision') return true;
  const approval = (event.data as { approvalId?: unknown } | undefined)?.approvalId;
  return !approval || (event.effect !== 'allow' && event.effect !== 'approval_required');
}

interface Pending {
  /** The caller's object: only its identity is used after `append` (the sealer checks it). */
  event: AuditEvent;
  /** Canonical text, computed once at `append`: what is hashed is what the caller handed over. */
  text: string;
  /** The query columns, taken at `append` too, so they always match the text. */
  columns: StoredAuditRecord['columns'];
  acceptedAt: number;
  resolve(record: StoredAuditRecord): void;
  reject(err: unknown): void;
}

interface CheckpointWaiter {
  resolve(cp: AuditCheckpoint): void;
  reject(err: unknown): void;
}

/**
 * Creates the audit log: a group-commit writer over `Store.appendAudit`. Concurrent appends queue
 * while a transaction is in flight and go together in the next one, so many decisions share one
 * fsync; order of acceptance is the order in the chain.
 */
export function createAuditLog(opts: AuditLogOptions): AuditLog {
  const { store, clock, logger, nodeId, signer } = opts;
  const maxBatch = positive(opts.maxBatch ?? AUDIT_MAX_BATCH, 'maxBatch');
  const mirrors = opts.mirrors ?? [];
  const maxQueue = positive(opts.maxQueue ?? 10_000, 'maxQueue');
  const checkpointEvery = positive(opts.checkpointEvery, 'checkpointEvery');
  const checkpointIntervalMs = positive(opts.checkpointIntervalMs, 'checkpointIntervalMs');

  /**
   * EVIDENCE: what this log committed, seq → hash, newest first out. A database admin could
   * rewrite (or delete) records appended since the last check while the node ran: the checkpoint
   * signed whatever head the store read back, the tail check took the stored content as the truth,
   * and the view showed the edit as `verified` (a probe). Checked at each batch (the head it
   * extends), before each checkpoint (every own record since the last one) and by the tail check.
   */
  const written = new Map<number, string>();
  const writtenKept = Math.max(16_384, 4 * checkpointEvery);
  let lastWritten: { seq: number; hash: string } | null = null;
  /** The head of the last checkpoint this log signed: records up to it were checked then. */
  let lastSigned: { seq: number; hash: string } | null = null;
  let tampered = false;

  const queue: Pending[] = [];
  let inFlight: Pending[] = [];
  let checkpointWaiters: CheckpointWaiter[] = [];
  let writing = false;
  let closing = false;
  /** Closed for good: not even the node's own finding is taken any more. */
  let shut = false;
  /** Settles once the finding this log made (if any) was handed to `onTampered` and recorded. */
  let findingRecorded: Promise<unknown> = Promise.resolve();
  let closed: Promise<void> | null = null;
  /** Settles after the newest accepted event settles; since batches commit in order, that means all of them. */
  let lastSettled: Promise<void> = Promise.resolve();

  let appended = 0;
  let batches = 0;
  let lastBatchSize = 0;
  /** A batch crossed a multiple of `checkpointEvery` and its checkpoint is not written yet. */
  let checkpointDue = false;
  /** The store refused this log's last checkpoint (not a finding of its own: a store fault). */
  let checkpointFailing = false;
  let checkpointsWritten = 0;
  let mirrorFailures = 0;

  const timer = setInterval(() => {
    // Idle checkpoints re-sign the same head with a new time, so a tail cut off later is caught.
    requestCheckpoint().catch((err: unknown) => {
      logger.warn('audit checkpoint failed', { nodeId, reason: 'timer', error: errorText(err) });
    });
  }, checkpointIntervalMs);
  timer.unref();

  function kick(): void {
    if (writing) return;
    writing = true;
    writerLoop().catch((err: unknown) => {
      logger.error('audit writer failed', { nodeId, error: errorText(err) });
    });
  }

  /** The one writer: checkpoints and batches never overlap, so a checkpoint always names a committed head. */
  async function writerLoop(): Promise<void> {
    try {
      for (;;) {
        if (checkpointWaiters.length > 0) {
          // Checkpoints go before the next batch so a steady stream of events cannot starve them.
          const waiters = checkpointWaiters;
          checkpointWaiters = [];
          try {
            const cp = await writeCheckpoint();
            for (const w of waiters) w.resolve(cp);
          } catch (err) {
            for (const w of waiters) w.reject(err);
          }
          continue;
        }
        if (queue.length === 0) return;
        // Let everything already runnable (requests read, decisions in microtasks) reach the queue
        // first: with a synchronous driver nothing else runs during a commit, so without this
        // yield batches stay small and the commit cost is paid far more often than needed.
        if (queue.length < maxBatch) await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = queue.splice(0, maxBatch);
        if (await mayGoUnsigned(batch)) await commitBatch(batch);
        if (checkpointDue) {
          try {
            await writeCheckpoint();
          } catch (err) {
            // The events are committed either way; the flag stays up so the next batch retries.
            if (!isTamperedRefusal(err))
              logger.warn('audit checkpoint failed', { nodeId, reason: 'count', error: errorText(err) });
          }
        }
      }
    } finally {
      writing = false;
      // Work that arrived between the last check and the flag reset must not be stranded.
      if (queue.length > 0 || checkpointWaiters.length > 0) kick();
    }
  }

  /**
   * EVIDENCE: while the store refuses this log's checkpoints, records are written unsigned only as
   * far as `audit verify` allows between two checkpoints (its default cadence, `checkpointEvery` +
   * two batches): past that the batch waits for a checkpoint, and is refused `audit_unavailable`
   * when none can be written. A probe failed checkpoint writes for 20 s at ~200 decisions/s: every
   * record was there, yet the trail failed verify for good (`checkpoint_missing`: 1,575 records with
   * no checkpoint). A node that found its chain tampered with signs nothing and goes on recording.
   */
  async function mayGoUnsigned(batch: Pending[]): Promise<boolean> {
    if (!checkpointFailing || !lastWritten) return true;
    const unsigned = lastWritten.seq - (lastSigned?.seq ?? 0);
    if (unsigned + batch.length <= checkpointEvery + maxBatch) return true;
    try {
      await writeCheckpoint();
      return true;
    } catch (err) {
      if (isTamperedRefusal(err)) return true;
      logger.error('audit records refused: no checkpoint can be written', {
        nodeId,
        unsigned,
        error: errorText(err),
      });
      const refused = new MandateError(
        'audit_unavailable',
        `the audit trail cannot be signed (${unsigned} records since the last checkpoint, which the store refuses to write): no more records until one is`,
        { cause: err },
      );
      for (const p of batch) p.reject(refused);
      return false;
    }
  }

  async function commitBatch(batch: Pending[]): Promise<void> {
    inFlight = batch;
    const events = batch.map((p) => p.event);
    // The text and columns taken at append are what gets sealed. A driver must hand the sealer the
    // events it was given: anything else could be a later state of a caller's object, so it fails.
    let moved: Finding | null = null;
    const seal: AuditSealer = (head, evs) => {
      if (evs.length !== events.length || evs.some((ev, i) => ev !== events[i]))
        throw new MandateError('internal', 'the store handed the audit sealer other events than its own');
      // The head it extends must still be what this log wrote last (or a later one, by another
      // node). The batch is recorded either way — on the chain the store holds — and the finding
      // made: refusing would stop every decision, and the store is what it is.
      moved = headMoved(head);
      return sealCanonical(
        head,
        evs,
        (_, i) => batch[i]!.text,
        (_, i) => batch[i]!.columns,
        opts.sealer,
      );
    };
    let records: StoredAuditRecord[];
    try {
      records = await store.appendAudit(events, seal);
      if (records.length !== batch.length) {
        throw new MandateError(
          'internal',
          `store returned ${records.length} records for ${batch.length} events`,
        );
      }
    } catch (cause) {
      inFlight = [];
      // SECURITY: audit before act — a batch that did not commit rejects every one of its events,
      // so no caller acts on a decision whose record may not exist. Later events still go through.
      logger.error('audit append failed', { nodeId, events: batch.length, error: errorText(cause) });
      const err = new MandateError('audit_unavailable', 'the audit log could not commit the event', {
        cause,
      });
      for (const p of batch) p.reject(err);
      return;
    }
    inFlight = [];
    if (moved) tamperedWith(moved);
    for (const r of records) written.set(r.seq, r.hash);
    for (const seq of written.keys()) {
      if (written.size <= writtenKept) break;
      written.delete(seq);
    }
    lastWritten = { seq: records[records.length - 1]!.seq, hash: records[records.length - 1]!.hash };
    appended += batch.length;
    batches += 1;
    lastBatchSize = batch.length;
    const first = records[0]!.seq;
    const last = records[records.length - 1]!.seq;
    if (Math.floor(last / checkpointEvery) > Math.floor((first - 1) / checkpointEvery)) checkpointDue = true;
    if (opts.checkpointFirstBatch && checkpointsWritten === 0) checkpointDue = true;
    // SECURITY: audit before act — the only place an append resolves, after the store committed.
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(records[i]!);
  }

  /** A finding when `head` is not at or past what this log wrote last (truncated, or rewritten). */
  function headMoved(head: { seq: number; hash: string }): Finding | null {
    if (!lastWritten) return null;
    if (head.seq < lastWritten.seq) {
      return {
        seq: head.seq + 1,
        problem: 'truncated',
        message: `records ${head.seq + 1}–${lastWritten.seq}: written by this node and now gone, the log ends at record ${head.seq} (deleted?)`,
      };
    }
    if (head.seq === lastWritten.seq && head.hash !== lastWritten.hash) {
      return {
        seq: head.seq,
        problem: 'hash_mismatch',
        message: `record ${head.seq}: not what this node wrote there (rewritten?)`,
      };
    }
    return null;
  }

  function tamperedWith(finding: Finding): void {
    if (tampered) return;
    tampered = true;
    logger.error('audit chain is not what this node wrote', { nodeId, ...finding });
    findingRecorded = (opts.onTampered?.(finding) ?? Promise.resolve()).catch((err: unknown) => {
      logger.error('audit finding not recorded', { nodeId, error: errorText(err) });
    });
  }

  /**
   * The records from the newest head this node vouches for (the last one it signed; before it has
   * signed, the tail check's verified tail; else its oldest own record since it started) up to
   * `head`: that head still there with its hash, each record after it present, linked, hashing to
   * itself, and its own ones what it wrote. Null when they hold. A probe rewrote records below the last checkpoint
   * (relinked up to it) and appended one record: a walk from the node's own first record after
   * the checkpoint never looked at what linked it to the signed head, and signed the forgery.
   */
  async function ownRecordsHold(head: { seq: number; hash: string }): Promise<Finding | null> {
    const moved = headMoved(head);
    if (moved) return moved;
    // The tail check may have gone past `head` (another node appended since it was read): only a
    // base at or below it is one the walk can go up from.
    const verifiedNow = opts.verifiedHead?.() ?? null;
    const verified = verifiedNow && verifiedNow.seq <= head.seq ? verifiedNow : null;
    // SECURITY: from the head this node signed last whenever there is one — a signature vouches for
    // everything since the previous one. The tail check re-reads only the last record it verified,
    // so a record deleted, swapped or relinked between the last checkpoint and that record went
    // unseen, and a walk from the verified record signed checkpoints over the broken chain (a
    // probe). The verified tail is the base only until this node has signed.
    const base = lastSigned ?? verified;
    let prev: { seq: number; hash: string } | null = null;
    let from = 0;
    if (base && base.seq > 0) {
      const [r] = await store.readAudit(base.seq - 1, 1);
      if (!r || r.seq !== base.seq || r.hash !== base.hash) {
        return {
          seq: base.seq,
          problem: r?.seq === base.seq ? 'hash_mismatch' : 'truncated',
          message: `record ${base.seq}: not the record this node signed or verified there (rewritten or deleted?)`,
        };
      }
      prev = { seq: base.seq, hash: base.hash };
    } else if (!verifiedNow) {
      // Nothing signed or verified yet (a log without a tail check): the whole chain.
      prev = { seq: 0, hash: GENESIS_HASH };
    } else {
      // The tail check went past `head` since it was read: the node's own records since it started.
      for (const seq of written.keys()) if (seq <= head.seq && (from === 0 || seq < from)) from = seq;
      if (from === 0) return null;
    }
    // SECURITY: every record after the base is some writer's, by its seal (ADR 0038): one a
    // database admin added at the head, in another writer's name, was signed here (a probe).
    const seals = createSealWalk(opts.sealer);
    while (!prev || prev.seq < head.seq) {
      const after: number = prev ? prev.seq : from - 1;
      const page = await store.readAudit(after, Math.min(500, head.seq - after));
      if (page.length === 0) break;
      for (const r of page) {
        const expected: number = prev ? prev.seq + 1 : from;
        const mine = written.get(r.seq);
        if (
          r.seq !== expected ||
          (prev && r.prevHash !== prev.hash) ||
          recordHash(r.seq, r.prevHash, r.eventText) !== r.hash ||
          (mine !== undefined && mine !== r.hash)
        ) {
          return {
            seq: expected,
            problem: r.seq !== expected ? 'sequence_gap' : 'hash_mismatch',
            message: `record ${expected}: not what this node wrote, or no longer linked to it (rewritten or deleted?)`,
          };
        }
        const unsealed = seals.next(r);
        if (unsealed) return unsealed;
        prev = { seq: r.seq, hash: r.hash };
      }
    }
    if (!prev || prev.seq !== head.seq || prev.hash !== head.hash) {
      return {
        seq: prev ? prev.seq + 1 : from,
        problem: 'truncated',
        message: `record ${prev ? prev.seq + 1 : from}: missing below the head ${head.seq} (deleted?)`,
      };
    }
    return seals.end();
  }

  async function writeCheckpoint(): Promise<AuditCheckpoint> {
    if (tampered || (opts.mayCheckpoint && !(await opts.mayCheckpoint())))
      throw new MandateError('audit_unavailable', TAMPERED);
    const head = await store.auditHead();
    // SECURITY: sign only a head whose records this node wrote are still what it wrote.
    const bad = await ownRecordsHold(head);
    if (bad) {
      tamperedWith(bad);
      throw new MandateError('audit_unavailable', TAMPERED);
    }
    const body = {
      seq: head.seq,
      hash: head.hash,
      time: new Date(clock.now()).toISOString(),
      keyId: signer.keyId,
    };
    const cp: AuditCheckpoint = { ...body, signature: signer.sign(canonicalize(body)) };
    try {
      await store.appendCheckpoint(cp);
    } catch (err) {
      checkpointFailing = true;
      throw err;
    }
    checkpointFailing = false;
    if (!lastSigned || cp.seq >= lastSigned.seq) lastSigned = { seq: cp.seq, hash: cp.hash };
    checkpointDue = false;
    checkpointsWritten += 1;
    logger.debug('audit checkpoint written', { nodeId, seq: cp.seq, keyId: cp.keyId });
    // SECURITY: the copies are what a database admin cannot delete; they are written as each
    // checkpoint is made. One that fails is loud (error log, metric) but never stops decisions.
    for (const m of mirrors) {
      try {
        await m.write(cp);
      } catch (err) {
        mirrorFailures += 1;
        logger.error('audit checkpoint mirror failed', {
          nodeId,
          mirror: m.name,
          seq: cp.seq,
          error: errorText(err),
        });
      }
    }
    return cp;
  }

  function requestCheckpoint(): Promise<AuditCheckpoint> {
    return new Promise<AuditCheckpoint>((resolve, reject) => {
      checkpointWaiters.push({ resolve, reject });
      kick();
    });
  }

  return {
    async append(event) {
      // While closing, only the node's finding gets in: the check before the last checkpoint can
      // make one, and it must be on the chain, not only in a log line (a probe deleted the newest,
      // unsigned records and stopped the node: the finding went to stderr, the restart said ok).
      if (shut || (closing && event.type !== 'audit.verify_failed'))
        throw new MandateError('audit_unavailable', 'the audit log is closed');
      // SECURITY: no silent loss — shed at the door; an event once accepted is never dropped.
      // EVIDENCE: only events that come at the rate of traffic are shed at the cap (their caller
      // is answered 503 and nothing happened); an event recording a change already made (a grant
      // created, a key, an agent resumed) is admitted up to twice the cap — a probe flooded the
      // queue and got a live grant, an active admin key and a resumed agent with no record.
      if (queue.length >= maxQueue && (sheddable(event) || queue.length >= 2 * maxQueue))
        throw new MandateError('overloaded', 'the audit queue is full');
      // Canonicalise now: a bad event fails alone instead of failing the batch it would join.
      const text = canonicalize(event);
      const columns = columnsMatching(event, text);
      const acceptedAt = clock.now();
      const promise = new Promise<StoredAuditRecord>((resolve, reject) => {
        queue.push({ event, text, columns, acceptedAt, resolve, reject });
      });
      lastSettled = promise.then(
        () => undefined,
        () => undefined,
      );
      kick();
      return promise;
    },

    checkpoint() {
      if (closed) return Promise.reject(new MandateError('audit_unavailable', 'the audit log is closed'));
      return requestCheckpoint();
    },

    stats() {
      const oldest = inFlight[0] ?? queue[0];
      return {
        queued: queue.length,
        appended,
        batches,
        lastBatchSize,
        oldestQueuedMs: oldest ? Math.max(0, clock.now() - oldest.acceptedAt) : 0,
        checkpoints: checkpointsWritten,
        mirrorFailures,
      };
    },

    writtenHash: (seq) => written.get(seq),

    flush() {
      return lastSettled;
    },

    close() {
      if (closed) return closed;
      closing = true;
      closed = (async () => {
        try {
          await lastSettled;
          // A node that could not vouch for its chain (it found it tampered with, or never got
          // to check it: a failed start) closes without signing it.
          await requestCheckpoint().catch((err: unknown) => {
            if (!isTamperedRefusal(err)) throw err;
            logger.warn('audit log closed without a checkpoint', { nodeId, reason: TAMPERED });
          });
          await findingRecorded;
          await lastSettled;
        } finally {
          shut = true;
          clearInterval(timer);
          for (const m of mirrors) {
            await m.close().catch((err: unknown) => {
              logger.error('audit checkpoint mirror did not close', {
                nodeId,
                mirror: m.name,
                error: errorText(err),
              });
            });
          }
        }
      })();
      return closed;
    },
  };
}

/**
 * The query columns of `event`, equal to those of its canonical `text` (verify recomputes them from
 * the text). Read from the object, they are the text's when each is a string or absent — the
 * canonical form of a string parses back to the same string — which every event built by Mandate
 * satisfies; anything else takes them from the parsed text.
 */
function columnsMatching(event: AuditEvent, text: string): StoredAuditRecord['columns'] {
  const c = auditColumns(event);
  for (const v of Object.values(c)) if (v !== null && typeof v !== 'string') return stringColumns(text);
  return c;
}

/**
 * The columns of the canonical `text`, each a string or absent. SECURITY: a column that is not a
 * string (an agent id that came in as an array) cannot be indexed as the event says: its record
 * failed verify (`index_mismatch`) and stopped the node signing. The event is refused instead — it
 * fails alone, and the decision it records is not answered (audit before act).
 */
function stringColumns(text: string): StoredAuditRecord['columns'] {
  const c = auditColumns(JSON.parse(text) as AuditEvent);
  for (const [k, v] of Object.entries(c))
    if (v !== null && typeof v !== 'string')
      throw new MandateError('internal', `audit event field ${k} must be a string, not ${typeof v}`);
  return c;
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0)
    throw new MandateError('internal', `audit log ${name} must be a positive number`);
  return n;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
