/** Timing helpers: latency samples, percentiles and time-boxed loops. No timing is ever asserted. */
import { performance } from 'node:perf_hooks';

/** One measured row: throughput over the measured window and the latency distribution, in microseconds. */
export interface Sample {
  /** Completed operations in the measured window. */
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  maxUs: number;
}

/** Collects latencies (µs) in a growable Float64Array; cheap enough for the hot loop. */
export class Latencies {
  private data = new Float64Array(1 << 14);
  length = 0;

  push(us: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = us;
  }

  summary(seconds: number): Sample {
    const sorted = this.data.slice(0, this.length).sort();
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
    return {
      ops: this.length,
      seconds,
      opsPerSec: seconds > 0 ? this.length / seconds : 0,
      p50Us: percentile(sorted, 0.5),
      p99Us: percentile(sorted, 0.99),
      meanUs: this.length > 0 ? sum / this.length : 0,
      maxUs: this.length > 0 ? sorted[sorted.length - 1]! : 0,
    };
  }
}

/** Nearest-rank percentile of an ascending array; 0 when empty. */
export function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LoopOptions {
  /** Stop after this long (ms) once `minOps` are done. */
  durationMs: number;
  /** Never stop before this many operations. */
  minOps?: number;
  /** Never run more than this many operations. */
  maxOps?: number;
  /** Unmeasured operations first (JIT, caches). */
  warmupOps?: number;
}

/** Runs a synchronous operation in a loop and samples each call. */
export function loopSync(op: () => void, o: LoopOptions): Sample {
  for (let i = 0; i < (o.warmupOps ?? 0); i++) op();
  const lat = new Latencies();
  const minOps = o.minOps ?? 1;
  const maxOps = o.maxOps ?? Number.POSITIVE_INFINITY;
  const start = performance.now();
  const end = start + o.durationMs;
  let now = start;
  while (lat.length < maxOps && (now < end || lat.length < minOps)) {
    const t0 = performance.now();
    op();
    now = performance.now();
    lat.push((now - t0) * 1000);
  }
  return lat.summary((now - start) / 1000);
}

/**
 * Runs an async operation from `concurrency` loops at once (closed loop: each starts its next call
 * when the previous one settled) and samples each call.
 */
export async function loopAsync(
  op: () => Promise<unknown>,
  concurrency: number,
  o: LoopOptions,
): Promise<Sample> {
  const warm = o.warmupOps ?? 0;
  let started = 0;
  const warmWorker = async () => {
    while (started < warm) {
      started++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(warm, 1)) }, warmWorker));

  const lat = new Latencies();
  const minOps = o.minOps ?? 1;
  const maxOps = o.maxOps ?? Number.POSITIVE_INFINITY;
  const start = performance.now();
  const end = start + o.durationMs;
  let issued = 0;
  let last = start;
  const worker = async () => {
    while (issued < maxOps && (performance.now() < end || issued < minOps)) {
      issued++;
      const t0 = performance.now();
      await op();
      last = performance.now();
      lat.push((last - t0) * 1000);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return lat.summary((last - start) / 1000);
}
