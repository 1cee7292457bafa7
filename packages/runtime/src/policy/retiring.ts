import type { CompiledPolicySet } from './port.js';

/** How long a replaced set stays usable for the evaluations that still hold it. */
const RETIRE_AFTER_MS = 30_000;

/**
 * Frees replaced compiled sets only once the work that may still hold them (decisions in flight,
 * queued shadow evaluations) is long done. `close` cancels the pending frees.
 */
export function createRetiring(): { retire(set: CompiledPolicySet): void; close(): void } {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  return {
    retire(set) {
      const t = setTimeout(() => {
        timers.delete(t);
        set.dispose();
      }, RETIRE_AFTER_MS);
      t.unref();
      timers.add(t);
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
