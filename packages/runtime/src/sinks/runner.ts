import { sleepUnlessAborted, type Clock, type Logger } from '../kernel/index.js';
import type { Finding } from '../audit/verify-checkpoints.js';
import type { Store } from '../storage/port.js';
import type { SinkTransport } from './port.js';
import {
  batchBreak,
  headBreak,
  pushMark,
  rewindReader,
  startingPoint,
  type ChainPoint,
} from './continuity.js';

export interface SinkDefinition {
  name: string;
  type: string;
  /** Records per delivery. */
  batchSize: number;
  transport: SinkTransport;
}

export interface SinkRunnerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  sinks: SinkDefinition[];
  /** How often an idle sink looks for new records (the store is shared by every node). */
  pollMs: number;
  /** Retry backoff starts at `pollMs` and doubles up to this. */
  maxBackoffMs: number;
  /**
   * Told when a sink finds the chain rewritten at or below its cursor (records it delivered gone
   * or changed): the node's own finding, as the tail check's (`/readyz`, `audit.verify_failed`).
   */
  onRewritten?: (finding: Finding) => Promise<void>;
}

/** What `/metrics` and `mandate audit sinks` show of one sink. */
export interface SinkStatus {
  name: string;
  type: string;
  /** Last seq the receiver acknowledged. */
  cursor: number;
  /** Chain head as last seen by this sink's loop. */
  head: number;
  /** Records of the chain not yet acknowledged. */
  lag: number;
  delivered: number;
  /**
   * Records delivered as a stand-in since this node started, because the receiver could not take
   * them in full (too large, or refused alone): fetch them through the audit API.
   */
  omitted: number;
  /** Failed deliveries since the last success. */
  failures: number;
  /**
   * Times this node found the chain rewritten at or below the sink's cursor (a tail deleted, a
   * backup restored) and re-delivered from a record it could trust (docs/streaming.md).
   */
  rewinds: number;
  /**
   * Why the last delivery failed; after a success, what the last rewind said (`the audit chain
   * was rewritten at or before seq N …`), or null when there was none.
   */
  lastError: string | null;
  lastDeliveredAt: string | null;
}

export interface SinkRunner {
  status(): SinkStatus[];
  /** Stops every loop after its current delivery and closes the transports. */
  close(): Promise<void>;
}

/**
 * Streams the audit chain to every configured sink, each from its own durable cursor in the store:
 * a crash, a restart or a receiver down for hours resumes where the receiver last acknowledged,
 * in chain order (at-least-once: receivers de-duplicate on `seq`). The store is the buffer, so a
 * slow or dead receiver never touches the decision path: decisions append to the chain as before
 * and the loops read it behind them.
 */
export function createSinkRunner(o: SinkRunnerOptions): SinkRunner {
  const stop = new AbortController();
  const sleep = (ms: number) => sleepUnlessAborted(ms, stop.signal);

  const states = o.sinks.map((s) => ({
    def: s,
    status: {
      name: s.name,
      type: s.type,
      cursor: 0,
      head: 0,
      lag: 0,
      delivered: 0,
      omitted: 0,
      failures: 0,
      rewinds: 0,
      lastError: null,
      lastDeliveredAt: null,
    } as SinkStatus,
  }));

  async function loop(state: (typeof states)[number]): Promise<void> {
    const { def, status } = state;
    let backoff = o.pollMs;
    let warnings = 0;
    const fail = async (what: string, err: unknown) => {
      status.failures++;
      status.lastError = maskUrlCredentials(`${what}: ${(err as Error)?.message ?? String(err)}`);
      // Said once when a sink starts failing, then every 10th retry: a receiver down for hours is not a log flood.
      if (status.failures === 1 || status.failures % 10 === 0)
        o.logger.warn('audit sink delivery failed; retrying', {
          sink: def.name,
          failures: status.failures,
          error: status.lastError,
        });
      await sleep(backoff);
      backoff = Math.min(o.maxBackoffMs, backoff * 2);
    };
    /** The record the receiver took last (seq and hash): the next batch must link to it. */
    let at: ChainPoint = { seq: 0, hash: null };
    /** Batch ends this loop delivered, newest last: where a rewind can go without re-sending much. */
    const marks: { seq: number; hash: string }[] = [];
    /** What the last rewind said: kept in `lastError` after later successes. */
    let rewound: string | null = null;
    // Where the receiver stopped: read until the store answers.
    while (!stop.signal.aborted) {
      try {
        const c = await o.store.getSinkCursor(def.name);
        at = startingPoint(c?.seq ?? 0, c ? c.hash : undefined);
        status.cursor = at.seq;
        break;
      } catch (err) {
        await fail('reading the cursor', err);
      }
    }
    /**
     * The chain no longer holds the record the receiver took last: it was rewritten at or below
     * the cursor. The records now at those seqs were never delivered; re-deliver from the newest
     * record that is still what was delivered (continuity.ts), moving the stored cursor back by
     * compare-and-set so that a node that moved it meanwhile wins and is followed instead.
     */
    const rewind = async (why: string) => {
      const r = await rewindReader(o.store, def.name, at, marks, new Date(o.clock.now()).toISOString());
      if ('followed' in r) {
        o.logger.warn('audit sink cursor moved by another node while rewinding; continuing from it', {
          sink: def.name,
          seq: r.followed.seq,
        });
        at = r.followed;
        status.cursor = at.seq;
        return;
      }
      const { to, head } = r;
      const from = at.seq;
      at = { seq: to.seq, hash: to.hash };
      status.rewinds++;
      status.cursor = to.seq;
      status.head = head.seq;
      status.lag = Math.max(0, head.seq - to.seq);
      const after =
        to.basis === 'genesis'
          ? 'the first record'
          : `seq ${to.seq + 1} (seq ${to.seq} is ${to.basis === 'delivered' ? 'a record it delivered' : 'a signed checkpoint'} and unchanged)`;
      rewound = `the audit chain was rewritten at or before seq ${from} (${why}); re-delivering from ${after}`;
      status.lastError = rewound;
      // SECURITY: records a receiver took are no longer in the chain as it took them — a tail
      // deleted, a restore, a rewrite. That is the node's finding, not only this sink's status: a
      // probe deleted the unsigned tail after a crash and only the sink's lastError said so, while
      // /readyz and verify said ok. (A rewind is never part of normal operation: the chain is
      // append-only.)
      await o.onRewritten?.({
        seq: from,
        problem: head.seq < from ? 'truncated' : 'hash_mismatch',
        message: `record ${from}: delivered to sink ${def.name} and no longer in the chain as delivered (${why})`,
      });
      o.logger.error('audit sink found the chain rewritten at or before its cursor; re-delivering', {
        sink: def.name,
        cursor: from,
        head: head.seq,
        found: why,
        from: to.seq + 1,
        basis: to.basis,
      });
    };
    /**
     * The lag while a receiver fails: the loop never goes idle then, so the head is read here. Without
     * it `/metrics` would show the lag of the last success (often 0) for a receiver down for hours,
     * and "alert on a lag that grows" would never fire. One small read per retry, at the backoff's pace.
     */
    const behind = async (batchEnd: number) => {
      let head = Math.max(status.head, batchEnd);
      try {
        head = (await o.store.auditHead()).seq;
      } catch {
        // The chain reaches at least the batch just read: a lag of at least that much is still true.
      }
      status.head = head;
      status.lag = Math.max(0, head - at.seq);
    };
    while (!stop.signal.aborted) {
      let batch;
      try {
        batch = await o.store.readAudit(at.seq, def.batchSize);
        let broken: string | null;
        if (batch.length === 0) {
          const head = await o.store.auditHead();
          status.head = head.seq;
          broken = headBreak(at, head);
        } else broken = await batchBreak(o.store, at, batch);
        if (broken !== null) {
          await rewind(broken);
          continue;
        }
      } catch (err) {
        await fail('reading the trail', err);
        continue;
      }
      if (batch.length === 0) {
        status.lag = Math.max(0, status.head - status.cursor);
        await sleep(o.pollMs);
        continue;
      }
      let report;
      try {
        report = await def.transport.deliver(batch);
      } catch (err) {
        await behind(batch[batch.length - 1]!.seq);
        await fail('delivering', err);
        continue;
      }
      for (const m of report?.omitted ?? []) {
        status.omitted++;
        o.logger.warn('audit record sent to the sink as a stand-in; fetch it through the audit API', {
          sink: def.name,
          seq: m.seq,
          hash: m.hash,
          reason: m.reason,
          bytes: m.bytes,
          limit: m.limit,
          ...(m.message ? { receiver: maskUrlCredentials(m.message) } : {}),
        });
      }
      for (const w of report?.warnings ?? []) {
        // A receiver that warns on every request (a deprecation) is said once, then every 100th time.
        if (warnings++ % 100 === 0)
          o.logger.warn('audit sink receiver warned', {
            sink: def.name,
            warning: maskUrlCredentials(w),
            times: warnings,
          });
      }
      const lastRecord = batch[batch.length - 1]!;
      const last = lastRecord.seq;
      at = { seq: last, hash: lastRecord.hash };
      pushMark(marks, { seq: last, hash: lastRecord.hash });
      status.cursor = last;
      status.head = Math.max(status.head, last);
      status.lag = Math.max(0, status.head - last);
      status.delivered += batch.length;
      status.lastDeliveredAt = new Date(o.clock.now()).toISOString();
      status.failures = 0;
      status.lastError = rewound;
      backoff = o.pollMs;
      try {
        await o.store.advanceSinkCursor(def.name, last, status.lastDeliveredAt, lastRecord.hash);
      } catch (err) {
        // Delivered but not recorded: after a restart this batch is sent again (at-least-once).
        o.logger.warn('audit sink cursor not saved', {
          sink: def.name,
          seq: last,
          error: (err as Error).message,
        });
      }
    }
  }

  const loops = states.map((s) =>
    loop(s).catch((err: unknown) =>
      o.logger.error('audit sink loop ended', { sink: s.def.name, error: (err as Error).message }),
    ),
  );

  return {
    status: () => states.map((s) => ({ ...s.status })),
    async close() {
      stop.abort();
      await Promise.allSettled(loops);
      await Promise.allSettled(states.map((s) => s.def.transport.close()));
    },
  };
}

/**
 * `scheme://user:password@host` with the userinfo replaced by `***`: an error from a client
 * library may quote a URL, and lastError is shown by `GET /v1/audit/sinks` and the logs.
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1***@');
}
