import type { AuditEvent, ErrorCode } from '@mandate/protocol';
import type { Clock, Logger } from '../kernel/index.js';
import { redactText } from './redact.js';

/** Who was refused, as far as their credential told. */
export interface RefusedCaller {
  role: string;
  subject: string | null;
  keyId: string;
}

export interface Refusal {
  code: ErrorCode;
  /** The safe message the caller got. */
  reason: string;
  /** `METHOD /path/:template` for HTTP, `decision` for the decision path (any door). */
  route: string;
  caller: RefusedCaller;
  requestId?: string;
  decisionId?: string;
  agent?: string;
  /** The agent the request named when it is not the caller's own (`agent_mismatch`): kept in `data`. */
  claimedAgent?: string;
  action?: string;
}

/**
 * Refused attempts on the record (ADR 0018). An authenticated refusal is one `request.refused`
 * event, up to `perKeyPerWindow` per key and window; past that, and for every unauthenticated
 * failure, only counts are kept, and one `request.unauthenticated` event per window carries them.
 * So a flood grows the trail by at most one event per window, whatever its size.
 */
export interface RefusalRecorder {
  /** Appends the refusal (or counts it past the per-key bound). Never throws: a failed append is logged. */
  refused(r: Refusal): Promise<void>;
  /** Counts a failed authentication from `source` (a peer address) on `route`. */
  unauthenticated(source: string, route: string): void;
  /** Writes the counts of the current window now (if any) and starts a new one. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is counted. */
  close(): Promise<void>;
}

export interface RefusalRecorderOptions {
  /** Window length; default 60 s. */
  windowMs?: number;
  /** Individual `request.refused` events per key and window; default 100. */
  perKeyPerWindow?: number;
  /** Sources listed by name in one window's event; the rest are summed. Default 100. */
  maxSources?: number;
}

export function createRefusalRecorder(
  deps: {
    clock: Clock;
    logger: Logger;
    record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  },
  options: RefusalRecorderOptions = {},
): RefusalRecorder {
  const windowMs = options.windowMs ?? 60_000;
  const perKey = options.perKeyPerWindow ?? 100;
  const maxSources = options.maxSources ?? 100;
  let windowStart = deps.clock.now();
  let total = 0;
  let otherCount = 0;
  const sources = new Map<string, { count: number; routes: Set<string> }>();
  const perKeyCount = new Map<string, number>();
  const suppressed = new Map<string, number>();

  /** Counts failures of one source in this window, with up to 10 of its routes. */
  const countSource = (source: string, count: number, routes: readonly string[]) => {
    const s = sources.get(source);
    if (s) {
      s.count += count;
      for (const route of routes) if (s.routes.size < 10) s.routes.add(route);
    } else if (sources.size < maxSources) {
      sources.set(source, { count, routes: new Set(routes) });
    } else {
      // Bounded memory and event size, whatever the number of sources.
      otherCount += count;
    }
  };

  const flush = async () => {
    const start = windowStart;
    const end = deps.clock.now();
    const counted = total;
    const bySource = [...sources].map(([source, s]) => ({
      source,
      count: s.count,
      routes: [...s.routes],
    }));
    const overflow = otherCount;
    const keys = [...suppressed].map(([keyId, count]) => ({ keyId, count }));
    windowStart = end;
    total = otherCount = 0;
    sources.clear();
    perKeyCount.clear();
    suppressed.clear();
    if (counted === 0 && keys.length === 0) return;
    deps.logger.warn('refused requests in the last window', {
      unauthenticated: counted,
      suppressedRefusals: keys.reduce((n, k) => n + k.count, 0),
    });
    try {
      await deps.record({
        type: 'request.unauthenticated',
        data: {
          windowStart: new Date(start).toISOString(),
          windowEnd: new Date(end).toISOString(),
          count: counted,
          sources: bySource,
          // Failures from sources past the first `maxSources` of the window, summed.
          ...(overflow > 0 ? { otherSourcesCount: overflow } : {}),
          ...(keys.length > 0 ? { suppressedRefusals: keys } : {}),
        },
      });
    } catch (err) {
      // EVIDENCE: no silent loss — the window's counts go into the next one, which then spans both
      // (they were cleared above, and an append refused while the audit queue is full or the store
      // down lost a flood of bad tokens at the moment it mattered). The per-key bound starts afresh.
      deps.logger.error('recording refused requests failed; counted into the next window', {
        error: (err as Error).message,
      });
      windowStart = Math.min(windowStart, start);
      total += counted;
      otherCount += overflow;
      for (const { source, count, routes } of bySource) countSource(source, count, routes);
      for (const { keyId, count } of keys) suppressed.set(keyId, (suppressed.get(keyId) ?? 0) + count);
    }
  };

  const timer = setInterval(() => void flush(), windowMs);
  timer.unref();

  return {
    async refused(r) {
      const n = (perKeyCount.get(r.caller.keyId) ?? 0) + 1;
      perKeyCount.set(r.caller.keyId, n);
      if (n > perKey) {
        suppressed.set(r.caller.keyId, (suppressed.get(r.caller.keyId) ?? 0) + 1);
        return;
      }
      deps.logger.info('request refused', {
        code: r.code,
        route: r.route,
        keyId: r.caller.keyId,
        role: r.caller.role,
        ...(r.requestId ? { requestId: r.requestId } : {}),
      });
      try {
        await deps.record({
          type: 'request.refused',
          ...(r.decisionId ? { decisionId: r.decisionId } : {}),
          ...(r.agent ? { agent: r.agent } : {}),
          ...(r.action ? { action: r.action } : {}),
          data: {
            code: r.code,
            // SECURITY: the safety net under every refusal's reason: a message that quotes the
            // request (a key name, a query value) may hold a secret, and the record is hashed and
            // unerasable — a probe found `duplicate key "sk_live_…"` and a JWT used as a key kept
            // in clear. Each secret-shaped span becomes `[REDACTED:secret]`, the rest stays.
            reason: redactText(r.reason),
            route: r.route,
            caller: { role: r.caller.role, subject: r.caller.subject, keyId: r.caller.keyId },
            ...(r.claimedAgent ? { claimedAgent: r.claimedAgent } : {}),
            ...(r.requestId ? { requestId: r.requestId } : {}),
          },
        });
      } catch (err) {
        deps.logger.error('recording a refused request failed', {
          code: r.code,
          error: (err as Error).message,
        });
      }
    },
    unauthenticated(source, route) {
      total++;
      countSource(source, 1, [route]);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
