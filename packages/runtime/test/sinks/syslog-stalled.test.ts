// Plain-TCP syslog against a receiver that accepts the connection and stops reading (a paused,
// hung or overloaded rsyslog): once the socket buffers are full a batch must fail within
// timeoutMs (the runner offers it again from its cursor), never wait for ever with no error.
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSyslogSink } from '../../src/sinks/syslog.js';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { sleep, until } from './receivers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP receiver that accepts connections and never reads from them. */
async function stalledReceiver() {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    s.pause();
    s.on('error', () => undefined);
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as { port: number }).port, sockets };
}

describe('syslog over plain TCP, a receiver that stops reading', () => {
  it('fails the batch within timeoutMs once the buffers are full, and connects again for the retry', async () => {
    const receiver = await stalledReceiver();
    const store = createMemoryStore();
    await store.migrate();
    // A long user name makes each message ~4 KB: 500 of them are 2 MB a batch.
    await store.appendAudit(
      Array.from({ length: 500 }, (_, i) => auditEvent(i + 1, { user: `user-${'u'.repeat(4000)}` })),
      testSealer,
    );
    const batch = await store.readAudit(0, 500);
    const timeoutMs = 500;
    const sink = createSyslogSink({
      host: '127.0.0.1',
      port: receiver.port,
      tls: false,
      relp: false,
      facility: 13,
      appName: 'mandate',
      timeoutMs,
    });
    // Guarded: a close that waits for buffered data to drain would hang the suite.
    cleanups.push(() => Promise.race([sink.close(), sleep(3 * timeoutMs)]));

    const HUNG = 'hung: no answer within 5 × timeoutMs';
    let failure: Error | null = null;
    let delivered = 0;
    // The kernels' buffers take some batches (that is the documented loss bound); a later one must fail.
    for (let i = 0; i < 40 && !failure; i++) {
      const started = Date.now();
      let guard: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        sink.deliver(batch).then(
          () => null,
          (err: unknown) => err as Error,
        ),
        new Promise<Error>((r) => (guard = setTimeout(() => r(new Error(HUNG)), 5 * timeoutMs))),
      ]);
      clearTimeout(guard);
      expect(outcome?.message ?? null).not.toBe(HUNG);
      // Within timeoutMs (and the 100 ms settle after a write the kernel took), with some slack.
      expect(Date.now() - started).toBeLessThan(timeoutMs + 100 + 400);
      if (outcome) failure = outcome;
      else delivered++;
    }
    expect(failure?.message).toMatch(/syslog receiver did not take the batch \(\d+ bytes\) within 500 ms/);
    // What the buffers took was counted delivered: megabytes, never the whole 80 MB offered.
    expect(delivered).toBeLessThan(40);
    // The stuck connection was dropped; the retry opens a new one (whose empty buffers take it again).
    expect(receiver.sockets.length).toBe(1);
    await sink.deliver(batch).catch(() => undefined);
    await until(() => receiver.sockets.length === 2, 'a second connection');
    // Closing with data the receiver will never read is bounded by timeoutMs too.
    const closing = Date.now();
    await sink.close();
    expect(Date.now() - closing).toBeLessThan(timeoutMs + 400);
  }, 60_000);
});
