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
