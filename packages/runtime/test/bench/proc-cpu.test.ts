/**
 * The bench's reading of a server process's CPU time (`/proc/<pid>/stat`): it counts the time a
 * process burns, and says null rather than a figure when it cannot read one.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { busyShare, cpuPerRequestUs, processCpuMs } from '../../src/bench/proc-cpu.js';

describe.runIf(process.platform === 'linux')('processCpuMs', () => {
  it('counts the CPU a child process burns, not the time it sleeps', async () => {
    // A child that burns 300 ms of its own CPU time (however long that takes on a busy machine),
    // says so, then sleeps until killed.
    const child = spawn(
      process.execPath,
      [
        '-e',
        // Asks for its CPU time once per ~1 ms of arithmetic, so the asking (a syscall) costs little.
        'let x = 0; while (process.cpuUsage().user < 300_000) for (let i = 0; i < 1e6; i++) x += i;' +
          'console.log("done", x > 0); setInterval(() => {}, 1000);',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const start = processCpuMs(child.pid);
      expect(start).not.toBeNull();
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      const burnt = processCpuMs(child.pid)! - start!;
      // Its busy loop (less what ran before the first read, node's start-up at most), plus exit noise.
      expect(burnt).toBeGreaterThan(150);
      expect(burnt).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 500));
      // Asleep: half a second of wall time adds next to nothing.
      expect(processCpuMs(child.pid)! - start! - burnt).toBeLessThan(100);
    } finally {
      child.kill();
    }
  });

  it('is null for a pid that does not exist, and for none', () => {
    expect(processCpuMs(2 ** 22 + 12345)).toBeNull();
    expect(processCpuMs(null)).toBeNull();
  });

  it('derives the share of a core and the CPU per request', () => {
    const c = { cpuMs: 500, wallMs: 1000, answers: 2500 };
    expect(busyShare(c)).toBe(0.5);
    expect(cpuPerRequestUs(c)).toBe(200);
    expect(cpuPerRequestUs({ ...c, answers: 0 })).toBe(0);
  });
});
