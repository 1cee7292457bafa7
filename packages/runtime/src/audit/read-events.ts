import type { AuditEvent } from '@mandate/protocol';
import { canonicalize, type Clock } from '../kernel/index.js';

/** One admin read of the trail through the API. */
export interface TrailRead {
  /** The caller's key id (or JWT subject key). */
  caller: string;
  role: string;
  route: 'query' | 'export' | 'verify';
  /** The filter as given (agent, effect, from, cursor …); empty for verify. */
  filter: Record<string, string | number>;
  /** Records returned (query, export) or checked (verify). */
  records: number;
}

/** Options of {@link createReadRecorder}. */
export interface ReadRecorderOptions {
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  clock: Clock;
  /** At most one event per caller, route and filter in this window; repeats are counted. */
  windowMs: number;
  /** Distinct (caller, route, filter) kept at once; beyond it the filter is left out of the key. Default 1,000. */
  maxKeys?: number;
  /** Told when a read could not be recorded (store full or away); the read still answers. */
  onError?: (err: unknown) => void;
}

/** Records admin reads of the trail as `audit.read` events, bounded. */
export interface ReadRecorder {
  /** Records the read (awaited: the first read of a window is on the trail before its answer leaves). */
  note(read: TrailRead): Promise<void>;
  /** Records the repeats still only counted (shutdown). */
  flush(): Promise<void>;
}

interface Window {
  read: TrailRead;
  start: number;
  /** Reads in this window after the recorded one, and the records they returned. */
  repeats: number;
  repeatRecords: number;
}

/**
 * Who read the trail is evidence too (issue 9), but a script paging through `GET /v1/audit` in a
 * loop must not grow the trail by one record per page. So the first read of each caller, route
 * and filter in a window is recorded (before its answer leaves); the repeats within the window are
 * counted and recorded with the next read after it, or at shutdown, as `repeated: {reads, records, since}`.
 * A read whose record cannot be appended (store full) still answers and is told later as `unrecorded`.
 * A cursor is not part of the filter: paging through one query is one read and its repeats.
 */
export function createReadRecorder(opts: ReadRecorderOptions): ReadRecorder {
  const maxKeys = opts.maxKeys ?? 1000;
  const windows = new Map<string, Window>();
  /** Reads whose event could not be appended; told in the next event that is. */
  let unrecorded = 0;

  const event = (read: TrailRead, w: Window | undefined) => ({
    type: 'audit.read' as const,
    data: {
      caller: read.caller,
      role: read.role,
      route: read.route,
      filter: read.filter,
      records: read.records,
      ...(w && w.repeats > 0
        ? {
            repeated: {
              reads: w.repeats,
              records: w.repeatRecords,
              since: new Date(w.start).toISOString(),
            },
          }
        : {}),
    },
  });

  function keyOf(read: TrailRead): string {
    const full = canonicalize({ c: read.caller, r: read.route, f: read.filter });
    if (windows.has(full) || windows.size < maxKeys) return full;
    const now = opts.clock.now();
    for (const [k, w] of windows) if (w.repeats === 0 && now - w.start >= opts.windowMs) windows.delete(k);
    if (windows.size < maxKeys) return full;
    // Still full: one window per caller and route, whatever the filters (bounded by the callers).
    return canonicalize({ c: read.caller, r: read.route, f: '*' });
  }

  return {
    async note(read) {
      const key = keyOf(read);
      const now = opts.clock.now();
      const w = windows.get(key);
      if (w && now - w.start < opts.windowMs) {
        w.repeats += 1;
        w.repeatRecords += read.records;
        return;
      }
      windows.set(key, { read, start: now, repeats: 0, repeatRecords: 0 });
      const ev = event(read, w);
      const missed = unrecorded;
      if (missed > 0) Object.assign(ev.data, { unrecorded: missed });
      try {
        await opts.record(ev);
        unrecorded -= missed;
      } catch (err) {
        // Reading the trail must work while the store is full or locked (incident response), so a
        // read whose record fails still answers; it is counted and told with the next one that lands.
        windows.delete(key);
        unrecorded += 1 + (w?.repeats ?? 0);
        opts.onError?.(err);
      }
    },
    async flush() {
      for (const [key, w] of windows) {
        if (w.repeats === 0) continue;
        windows.delete(key);
        // The repeats' own counts, under the read that opened their window.
        await opts.record({
          type: 'audit.read',
          data: {
            caller: w.read.caller,
            role: w.read.role,
            route: w.read.route,
            filter: w.read.filter,
            records: 0,
            repeated: { reads: w.repeats, records: w.repeatRecords, since: new Date(w.start).toISOString() },
          },
        });
      }
    },
  };
}
