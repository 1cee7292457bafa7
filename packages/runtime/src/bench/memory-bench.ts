/**
 * The memory rows: RSS and V8 heap of a fresh process before and after compiling a generated set
 * of policies, once per engine (`memory-child.ts`, one child each, so neither inherits the other's
 * or the bench's allocations).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MemoryReading } from './memory-child.js';

export interface MemoryBenchResult {
  policies: number;
  /** The cedar engine first (the baseline), then the compiled one. */
  rows: MemoryReading[];
}

const CHILD_ENTRY = fileURLToPath(new URL('./memory-child.js', import.meta.url));

export async function runMemoryBench(o: {
  policies: number;
  progress: (line: string) => void;
}): Promise<MemoryBenchResult> {
  const rows: MemoryReading[] = [];
  for (const engine of ['cedar', 'compiled'] as const) {
    o.progress(`memory: compiling ${o.policies} policies with the ${engine} engine in a fresh child…`);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--expose-gc', '--no-turbo-inlining', CHILD_ENTRY, engine, String(o.policies)],
        { env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 20, timeout: 600_000 },
        (err, out, stderr) =>
          err
            ? reject(new Error(`bench: memory child (${engine}) failed: ${err.message}\n${stderr}`))
            : resolve(out),
      );
    });
    rows.push(JSON.parse(stdout.trim().split('\n').pop()!) as MemoryReading);
  }
  return { policies: o.policies, rows };
}
