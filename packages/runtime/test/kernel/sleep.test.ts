import { describe, expect, it } from 'vitest';
import { sleepUnlessAborted } from '../../src/kernel/index.js';

describe('sleepUnlessAborted', () => {
  it('waits the time, leaves no listener on the signal, and ends at once when the signal aborts', async () => {
    const stop = new AbortController();
    let listeners = 0;
    const add = stop.signal.addEventListener.bind(stop.signal);
    const remove = stop.signal.removeEventListener.bind(stop.signal);
    stop.signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
    stop.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (
      listeners--,
      remove(...a)
    )) as typeof remove;
    // A polling loop: a thousand sleeps on one signal leave nothing behind.
    for (let i = 0; i < 1000; i++) await sleepUnlessAborted(0, stop.signal);
    expect(listeners).toBe(0);
    const long = sleepUnlessAborted(60_000, stop.signal);
    stop.abort();
    // Resolves now (the test would time out on the 60 s otherwise).
    await long;
    // Already aborted: resolves without waiting or listening.
    await sleepUnlessAborted(60_000, stop.signal);
    expect(listeners).toBe(0);
  });
});
