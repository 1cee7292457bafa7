/**
 * Long work on the event loop in slices. A node verifying its chain or working through a backlog
 * runs beside the decisions it serves; reads that return without I/O (SQLite) only ever yield to
 * the microtask queue, so without a real turn of the loop such work holds every request until it
 * is done (a whole-chain verify: seconds to minutes). `setImmediate` lets I/O and timers run.
 */

/**
 * Records a node reads at a time when it works through the audit trail beside its decisions (the
 * tail check, verify, export): one SQLite read of a page is one synchronous block, and 1,000
 * records of ~2 KB took tens of ms on a slow core.
 */
export const NODE_PAGE_RECORDS = 200;

/** Resolves after the event loop has had a turn (I/O callbacks, timers), not just the microtasks. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Says when a slice of work has run long enough to let the loop have a turn. */
export interface Pacer {
  /** True once the work has run `sliceMs` since the pacer was made or last yielded. */
  due(): boolean;
  /** Lets the loop have a turn and starts a new slice. */
  yield(): Promise<void>;
}

/** Slices of about `sliceMs` (default 2 ms): `if (pacer.due()) await pacer.yield()` in the loop. */
export function createPacer(sliceMs = 2): Pacer {
  let start = performance.now();
  return {
    due: () => performance.now() - start >= sliceMs,
    async yield() {
      await yieldToLoop();
      start = performance.now();
    },
  };
}
