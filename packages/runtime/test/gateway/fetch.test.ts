import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { scopedFetch } from '../../src/gateway/fetch.js';

describe('scopedFetch (the gateway’s upstream fetch)', () => {
  it('adds no listener to the transport’s long-lived signal, however many requests it makes', async () => {
    const parent = new AbortController();
    const seen: AbortSignal[] = [];
    const base = (async (_input: unknown, init?: RequestInit) => {
      // What undici does: listen on the signal it is given for as long as the body may be read.
      init!.signal!.addEventListener('abort', () => undefined);
      seen.push(init!.signal!);
      return new Response('{}');
    }) as typeof fetch;
    const f = scopedFetch(base);
    for (let i = 0; i < 2000; i++) await f('http://127.0.0.1/mcp', { signal: parent.signal });
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
    // Closing the transport still aborts a request in flight.
    expect(seen[0]!.aborted).toBe(false);
    parent.abort(new Error('transport closed'));
    expect(seen[0]!.aborted).toBe(true);
    expect(seen.at(-1)!.aborted).toBe(true);
  });

  it('passes requests without a signal through unchanged', async () => {
    let got: RequestInit | undefined;
    const f = scopedFetch((async (_i: unknown, init?: RequestInit) => {
      got = init;
      return new Response('x');
    }) as typeof fetch);
    await f('http://127.0.0.1/', { method: 'POST' });
    expect(got).toEqual({ method: 'POST' });
  });
});
