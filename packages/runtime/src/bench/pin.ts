/**
 * CPU pinning of the bench's children with `taskset` (util-linux): servers on core 0, the load
 * generator on core 1, so the generator never takes the server's core. Where `taskset` is missing
 * or the machine has one core, nothing is pinned and the report says so.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

/** The core servers run on, and the one the load generator runs on. */
export const SERVER_CORE = 0;
export const GENERATOR_CORE = 1;

let usable: boolean | undefined;

/** True when `taskset` runs here and there are at least two cores. */
export function canPin(): boolean {
  if (usable === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      usable = cpus().length >= 2;
    } catch {
      usable = false;
    }
  }
  return usable;
}

/**
 * Pins every thread of `pid` (and the threads it creates later, which inherit the mask) to `core`.
 * Returns how it was pinned, or null when it was not.
 */
export function pinToCore(pid: number | undefined, core: number): string | null {
  if (pid === undefined || !canPin()) return null;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return `taskset -a -p -c ${core}`;
  } catch {
    return null;
  }
}
