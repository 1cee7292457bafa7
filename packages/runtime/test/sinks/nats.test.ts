// The NATS sink against a private nats-server (its own port and store dir): a record larger than
// the server's max_payload (or the stream's max_msg_size) goes as a stand-in, and the records after
// it still reach the stream — one record never stops the feed; and closing the sink with the server
// gone neither hangs nor leaves the client redialling (a SIGTERM must let the process exit).
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import type { Store } from '../../src/storage/port.js';
import { createSinkRunner, type SinkRunner } from '../../src/sinks/index.js';
import { createNatsSink } from '../../src/sinks/nats.js';
import { systemClock, type Logger } from '../../src/kernel/index.js';
import { disposeAll, tempDir } from '../fixtures/mandate.js';
import { sleep, startNats, until, type PrivateNats } from './receivers.js';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await disposeAll();
});

async function nats(): Promise<PrivateNats> {
  const n = await startNats(join(tempDir('mandate-nats-'), 'js'));
  stops.push(() => n.stop());
  return n;
}

async function storeWith(sizes: Record<number, number>, n: number): Promise<Store> {
  const store = createMemoryStore();
  await store.migrate();
  await store.appendAudit(
    Array.from({ length: n }, (_, i) =>
      auditEvent(
        i + 1,
        sizes[i + 1] ? { resource: 'Customer::c-42', data: { blob: 'x'.repeat(sizes[i + 1]!) } } : {},
      ),
    ),
    testSealer,
  );
  return store;
}

/** Every message of the stream, parsed. */
async function messages(url: string, stream: string) {
  const { connect } = await import('nats');
  const nc = await connect({ servers: url });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    const out: { seq: number; hash: string; event?: unknown; omitted?: Record<string, unknown> }[] = [];
    for (let i = info.state.first_seq; i <= info.state.last_seq; i++)
      out.push(JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage(stream, { seq: i })).data)));
    return out;
  } finally {
    await nc.close();
  }
}

describe('NATS sink: records larger than the server takes', () => {
  it('a record over max_payload (1 MiB) goes as a stand-in; the records after it reach the stream', async () => {
    const n = await nats();
    // seq 3 carries a 1.2 MB arg, as a 600 KB arg recorded twice (args and policy inputs) does.
    const store = await storeWith({ 3: 1_200_000 }, 6);
    const warnings: Record<string, unknown>[] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (_m, f = {}) => warnings.push(f) };
    const runner: SinkRunner = createSinkRunner({
      store,
      clock: systemClock,
      logger,
      sinks: [
        {
          name: 'bus',
          type: 'nats',
          batchSize: 4,
          transport: createNatsSink({
            servers: n.url,
            subject: 'mandate.test.audit',
            stream: 'MANDATE_TEST',
            timeoutMs: 5000,
          }),
        },
      ],
      pollMs: 10,
      maxBackoffMs: 40,
    });
    stops.push(() => runner.close());
    await until(
      async () => (await store.getSinkCursor('bus'))?.seq === 6,
      'the whole chain on the stream',
      1000,
    );
    const got = await messages(n.url, 'MANDATE_TEST');
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(got[2]!.event).toBeUndefined();
    expect(got[2]).toMatchObject({
      seq: 3,
      hash: (await store.readAudit(2, 1))[0]!.hash,
      omitted: {
        reason: 'too_large',
        limit: 1024 * 1024 - 256,
        type: 'decision',
        agent: 'agent-a',
        action: 'payments.refund',
        effect: 'allow',
        decisionId: 'dec_3',
        // Which customer's record the feed did not get in full (a second-round probe).
        resource: 'Customer::c-42',
      },
    });
    expect(got[2]!.omitted!.bytes).toBeGreaterThan(1_200_000);
    expect(got[3]!.event).toBeDefined();
    expect(runner.status()[0]).toMatchObject({ omitted: 1, failures: 0, lastError: null });
    expect(warnings).toContainEqual(expect.objectContaining({ sink: 'bus', seq: 3, reason: 'too_large' }));
  });

  it("a record over the stream's max_msg_size goes as a stand-in, also when the limit was lowered after connecting", async () => {
    const n = await nats();
    const { connect } = await import('nats');
    const nc = await connect({ servers: n.url });
    stops.push(() => nc.close());
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SMALL', subjects: ['small.audit'], max_msg_size: 50_000 });
    const store = await storeWith({ 2: 60_000, 5: 20_000 }, 5);
    const sink = createNatsSink({ servers: n.url, subject: 'small.audit', stream: 'SMALL', timeoutMs: 5000 });
    stops.push(() => sink.close());
    const first = await sink.deliver(await store.readAudit(0, 3));
    expect(first?.omitted).toEqual([
      expect.objectContaining({ seq: 2, reason: 'too_large', limit: 50_000 - 256 }),
    ]);
    // The operator lowers the stream's limit while the sink is connected.
    await jsm.streams.update('SMALL', { subjects: ['small.audit'], max_msg_size: 10_000 });
    const second = await sink.deliver(await store.readAudit(3, 2));
    expect(second?.omitted).toEqual([expect.objectContaining({ seq: 5, reason: 'too_large', limit: null })]);
    const got = await messages(n.url, 'SMALL');
    expect(got.map((m) => [m.seq, m.event ? 'full' : m.omitted?.reason])).toEqual([
      [1, 'full'],
      [2, 'too_large'],
      [3, 'full'],
      [4, 'full'],
      [5, 'too_large'],
    ]);
  });
});

/** Resolves `true` when `p` settles within `ms`, `false` when it does not. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

describe('NATS sink: closing', () => {
  it('with the server up, close drains the connection without waiting for its timeout', async () => {
    const n = await nats();
    const store = await storeWith({}, 3);
    const sink = createNatsSink({
      servers: n.url,
      subject: 'close.audit',
      stream: 'CLOSE_UP',
      timeoutMs: 3000,
    });
    await sink.deliver(await store.readAudit(0, 3));
    const t0 = Date.now();
    await sink.close();
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await n.received('CLOSE_UP')).seqs).toEqual([1, 2, 3]);
  });

  it('with the server gone, close returns within its timeout and the client stops redialling (SIGTERM exits)', async () => {
    const n = await nats();
    const port = Number(new URL(n.url).port);
    const store = await storeWith({}, 3);
    const sink = createNatsSink({
      servers: n.url,
      subject: 'close.audit',
      stream: 'CLOSE_DOWN',
      timeoutMs: 1000,
    });
    await sink.deliver(await store.readAudit(0, 3));
    // The receiver dies while the sink is connected: the client starts redialling, forever
    // (maxReconnectAttempts: -1), and a drain waits for a server that is not there.
    await n.stop();
    await sleep(200);
    expect(await within(sink.close(), 3000)).toBe(true);
    // Nothing of the client is left: something listening on the server's port again, for longer
    // than the client's 2 s between redials, is never dialled.
    let dialled = 0;
    const listener = createServer((sock) => {
      dialled++;
      sock.destroy();
    });
    await new Promise<void>((r) => listener.listen(port, '127.0.0.1', r));
    try {
      await sleep(3000);
    } finally {
      await new Promise<void>((r) => listener.close(() => r()));
    }
    expect(dialled).toBe(0);
  });
});
