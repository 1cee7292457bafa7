/**
 * One run at a time: a call while a run is in flight gets that run's promise (a poll and a
 * notification asking at once load once).
 */
export function singleFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= run().finally(() => {
      running = null;
    });
    return running;
  };
}

/**
 * One run at a time, and none that misses a call: a call while a run is in flight gets one more run
 * that starts after it (shared by every call made during that run). For loads whose trigger may
 * carry news the run in flight has not seen — a notification that a newer policy set was activated
 * while the previous one was still being read must not wait for the next poll.
 */
export function latestFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  let next: Promise<T> | null = null;
  const start = (): Promise<T> => {
    const p = run().finally(() => {
      if (running === p) running = null;
    });
    running = p;
    return p;
  };
  return () => {
    if (!running) return start();
    next ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        next = null;
        return start();
      });
    return next;
  };
}
