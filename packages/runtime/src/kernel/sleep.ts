/**
 * Waits `ms`, or less when `signal` aborts (at once if it already has). The abort listener is
 * removed when the time runs out, so a loop that sleeps on one long-lived signal adds nothing to it.
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
