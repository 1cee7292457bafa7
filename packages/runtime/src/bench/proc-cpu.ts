/**
 * The CPU time a server process used, from Linux's `/proc/<pid>/stat` (user + system time of every
 * thread of the process: the event loop, libuv's pool doing the fsyncs, SQLite's checkpoint worker,
 * Go's threads for Cerbos). Read around each HTTP row, it tells whether the server's core was
 * saturated — a row whose server was not busy measured the load generator, not the server — and
 * what one request cost the server in CPU, a figure that does not depend on the generator.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (the unit of `/proc/<pid>/stat`'s times), 100 where it cannot be asked. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds `pid` has used so far, or null (not Linux, gone, unreadable). */
export function processCpuMs(pid: number | null | undefined): number | null {
  if (!pid || process.platform !== 'linux') return null;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime), 1-based; `fields` starts at field 3.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks() : null;
}

/** What a server used while a row ran (warm-up included: the same load throughout). */
export interface ServerCpu {
  /** CPU milliseconds of the server process over the row. */
  cpuMs: number;
  /** Wall-clock milliseconds of the row. */
  wallMs: number;
  /** Requests the server answered over the row (every status, warm-up included). */
  answers: number;
}

/** Share of one core the server used (1 = one core fully busy). */
export const busyShare = (c: ServerCpu) => (c.wallMs > 0 ? c.cpuMs / c.wallMs : 0);

/** Server CPU microseconds per answered request. */
export const cpuPerRequestUs = (c: ServerCpu) => (c.answers > 0 ? (c.cpuMs * 1000) / c.answers : 0);
