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

/**
 * The compiled set a node evaluates with (the active set, the shadow set): replaced in one
 * assignment, the replaced set retired (freed once the work that may hold it is done).
 */
export interface SetSlot {
  current(): CompiledPolicySet | null;
  swap(next: CompiledPolicySet | null): void;
  /**
   * Runs `compile` (asynchronous: other work, a swap included, may run meanwhile) and returns its
   * set — or null, the set disposed, when the slot was swapped meanwhile. SECURITY: a load read
   * from the store before an activation on this node finished compiling after it; swapped in, it
   * would replace the newer set. The next refresh loads whatever the store then holds.
   */
  compiledUnlessSwapped(compile: () => Promise<CompiledPolicySet>): Promise<CompiledPolicySet | null>;
  close(): void;
}

export function createSetSlot(): SetSlot {
  let current: CompiledPolicySet | null = null;
  /** Bumped by every swap. */
  let swaps = 0;
  const retiring = createRetiring();
  return {
    current: () => current,
    swap(next) {
      swaps++;
      const old = current;
      current = next;
      if (old && old !== next) retiring.retire(old);
    },
    async compiledUnlessSwapped(compile) {
      const before = swaps;
      const compiled = await compile();
      if (swaps === before) return compiled;
      compiled.dispose();
      return null;
    },
    close: () => retiring.close(),
  };
}
