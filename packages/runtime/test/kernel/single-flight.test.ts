import { describe, expect, it } from 'vitest';
import { latestFlight, singleFlight } from '../../src/kernel/index.js';

/** A run that waits until released, counting its starts. */
function gatedRuns() {
  const releases: (() => void)[] = [];
  let starts = 0;
  const run = async () => {
    const n = ++starts;
    await new Promise<void>((r) => releases.push(r));
    return n;
  };
  return { run, release: () => releases.shift()!(), starts: () => starts };
}

describe('singleFlight', () => {
  it('a call during a run shares that run', async () => {
    const g = gatedRuns();
    const f = singleFlight(g.run);
    const a = f();
    const b = f();
    expect(b).toBe(a);
    g.release();
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    expect(g.starts()).toBe(1);
  });
});

describe('latestFlight', () => {
  it('a call during a run gets one more run after it, shared by every call made meanwhile', async () => {
    const g = gatedRuns();
    const f = latestFlight(g.run);
    const a = f();
    const b = f();
    const c = f();
    expect(c).toBe(b);
    expect(b).not.toBe(a);
    await Promise.resolve();
    expect(g.starts(), 'one run at a time').toBe(1);
    g.release();
    expect(await a).toBe(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(g.starts()).toBe(2);
    g.release();
    expect(await Promise.all([b, c])).toEqual([2, 2]);
    // Idle again: the next call starts at once.
    const d = f();
    g.release();
    expect(await d).toBe(3);
  });

  it('a failed run does not stop the one after it', async () => {
    let n = 0;
    let fail!: (e: Error) => void;
    const f = latestFlight(async () => {
      n++;
      if (n === 1) await new Promise<void>((_, reject) => (fail = reject));
      return n;
    });
    const a = f();
    const b = f();
    fail(new Error('store down'));
    await expect(a).rejects.toThrow('store down');
    expect(await b).toBe(2);
  });
});
