/**
 * Child-process entry of the memory rows: compiles a generated set of `n` policies with one engine
 * in a fresh process and prints what it cost in RSS and V8 heap (one JSON line on stdout).
 *
 *   node --expose-gc --no-turbo-inlining memory-child.js <cedar|compiled> <n>
 *
 * The baseline is taken after the modules are loaded and the policy text is generated (the input,
 * which a node also holds), after a full GC; the second reading after compiling, one evaluation of
 * the bench request (so lazily built indexes exist) and another full GC.
 */
import { createCedarEngine } from '../policy/index.js';
import { benchPolicyRequest } from './inprocess.js';
import { generateWorkload } from './workload.js';

/** What the child prints. */
export interface MemoryReading {
  engine: 'cedar' | 'compiled';
  policies: number;
  /**
   * Bytes, after a full GC. `external` is memory V8 does not place on its heap, cedar-wasm's linear
   * memory included (a policy set read in the live instance grew it; ADR 0027).
   */
  before: { rss: number; heapUsed: number; external: number };
  after: { rss: number; heapUsed: number; external: number };
  compileMs: number;
  effect: string;
  /** Requests the compiled evaluator handed to cedar-wasm (0 expected for the bench request). */
  fallbacks: number;
}

function reading(): MemoryReading['before'] {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory-child: start node with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function main(): void {
  const [engine, count] = process.argv.slice(2);
  const n = Number(count);
  if ((engine !== 'cedar' && engine !== 'compiled') || !Number.isInteger(n))
    throw new Error('usage: memory-child.js <cedar|compiled> <n>');
  const workload = generateWorkload(n);
  const request = benchPolicyRequest(workload);
  const before = reading();
  let fallbacks = 0;
  const t0 = performance.now();
  const set = createCedarEngine({
    memoEntries: 0,
    evaluator: engine,
    onFallback: () => fallbacks++,
  }).compile({ policies: workload.policies, schema: workload.schema });
  const compileMs = performance.now() - t0;
  const effect = set.evaluate(request).effect;
  const after = reading();
  const out: MemoryReading = { engine, policies: n, before, after, compileMs, effect, fallbacks };
  process.stdout.write(JSON.stringify(out) + '\n');
  set.dispose();
}

main();
