// A stopping node ends the connections that have no request in flight, those that never sent one
// included. Node's closeIdleConnections leaves a connection that has not sent a request yet: an MCP
// client that aborts its stream opens a fresh socket at once (undici does), and a node stopping
// on SIGTERM waited for its 5 s cut (a helper timing the tests found it in every gateway test).
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);
afterEach(() => vi.useRealTimers());

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });
}

describe('stopping the node', () => {
  it('ends a connection that never sent a request without waiting for the cut', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    ok200(await client(t.url).decide(KEYS.supportBot, refund(100)));
    const silent = await open(t.url);
    const ended = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    // The 5 s cut (and the 100 ms sweep) never fire: only what close() does at once can end it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    const closing = t.close();
    await ended;
    vi.useRealTimers();
    await closing;
    expect(silent.destroyed).toBe(true);
  });
});
