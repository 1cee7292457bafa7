// The sink runner's guarantees, in-process: each sink resumes from its stored cursor, a failed
// delivery is offered again (never skipped), one dead receiver does not hold up another, and the
// file sink rotates without losing a line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import type { Store } from '../../src/storage/port.js';
import {
  createSinkRunner,
  type SinkRecord,
  type SinkRunner,
  type SinkTransport,
} from '../../src/sinks/index.js';
import { createFileSink } from '../../src/sinks/file.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { disposeAll, tempDir } from '../fixtures/mandate.js';
import { sleep, until } from './receivers.js';

const runners: SinkRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
  await disposeAll();
});

async function append(store: Store, from: number, n: number): Promise<void> {
  await store.appendAudit(
    Array.from({ length: n }, (_, i) => auditEvent(from + i)),
    testSealer,
  );
}

/** A transport recording what it was given; `failing` makes every delivery throw. */
function recorder() {
  const seqs: number[] = [];
  let attempts = 0;
  const t = {
    failing: false,
    seqs,
    get attempts() {
      return attempts;
    },
    transport: {
      async deliver(batch: readonly SinkRecord[]) {
        attempts++;
        if (t.failing) throw new Error('receiver down');
        seqs.push(...batch.map((r) => r.seq));
      },
      async close() {},
    } satisfies SinkTransport,
  };
  return t;
}

function run(store: Store, sinks: { name: string; transport: SinkTransport; batchSize?: number }[]) {
  const r = createSinkRunner({
    store,
    clock: systemClock,
    logger: silentLogger,
    sinks: sinks.map((s) => ({
      name: s.name,
      type: 'test',
      batchSize: s.batchSize ?? 5,
      transport: s.transport,
    })),
    pollMs: 10,
    maxBackoffMs: 40,
  });
  runners.push(r);
  return r;
}

describe('sink runner', () => {
  it('delivers the whole chain in order, then resumes after a restart from the stored cursor, not from the start', async () => {
    const store = createMemoryStore();
    await store.migrate();
    await append(store, 1, 23);
    const a = recorder();
    const r1 = run(store, [{ name: 'siem', transport: a.transport }]);
    await until(() => a.seqs.length === 23, 'the first 23 records');
    expect(a.seqs).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    await until(async () => (await store.getSinkCursor('siem'))?.seq === 23, 'the cursor');
    await r1.close();

    await append(store, 24, 4);
    const b = recorder();
    run(store, [{ name: 'siem', transport: b.transport }]);
    await until(() => b.seqs.length === 4, 'the 4 new records');
    await sleep(50);
    expect(b.seqs).toEqual([24, 25, 26, 27]);
  });

  it('offers a failed batch again after a backoff and never skips it; a dead receiver does not hold up another sink', async () => {
    const store = createMemoryStore();
    await store.migrate();
    await append(store, 1, 12);
    const dead = recorder();
    dead.failing = true;
    const alive = recorder();
    const r = run(store, [
      { name: 'dead', transport: dead.transport },
      { name: 'alive', transport: alive.transport },
    ]);
    await until(() => alive.seqs.length === 12, 'the live sink');
    await until(() => dead.attempts >= 3, 'retries');
    expect(dead.seqs).toEqual([]);
    expect(await store.getSinkCursor('dead')).toBeNull();
    const s = r.status().find((x) => x.name === 'dead')!;
    expect(s).toMatchObject({ cursor: 0, delivered: 0, lastError: 'delivering: receiver down' });
    expect(s.failures).toBeGreaterThanOrEqual(3);
    // The receiver comes back: everything, from the first record, in order.
    dead.failing = false;
    await until(() => dead.seqs.length === 12, 'the recovered sink');
    expect(dead.seqs).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(r.status().find((x) => x.name === 'dead')).toMatchObject({
      cursor: 12,
      lag: 0,
      failures: 0,
      lastError: null,
    });
  });

  it('the lag /metrics exports grows while deliveries fail, and falls back to 0 once the receiver takes them', async () => {
    const store = createMemoryStore();
    await store.migrate();
    await append(store, 1, 3);
    const rx = recorder();
    const r = run(store, [{ name: 'siem', transport: rx.transport }]);
    await until(() => r.status()[0]!.cursor === 3, 'the first 3 records');
    expect(r.status()[0]).toMatchObject({ head: 3, lag: 0 });
    // The receiver goes down; 20 records come, four batches' worth (batchSize 5): the lag is all
    // of them, not the last success's 0 (the probe saw /metrics say 0 with 20 records behind),
    // nor one batch.
    rx.failing = true;
    await append(store, 4, 20);
    let failures = 0;
    await until(() => (failures = r.status()[0]!.failures) >= 2, 'failed deliveries');
    expect(r.status()[0]).toMatchObject({ cursor: 3, head: 23, lag: 20 });
    // Still down, more records: the lag grows with them.
    await append(store, 24, 7);
    await until(() => r.status()[0]!.failures >= failures + 2, 'more failed deliveries');
    expect(r.status()[0]).toMatchObject({ cursor: 3, head: 30, lag: 27 });
    rx.failing = false;
    await until(() => r.status()[0]!.cursor === 30, 'the backlog delivered');
    expect(r.status()[0]).toMatchObject({ head: 30, lag: 0, failures: 0 });
    expect(rx.seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('file sink: JSONL lines exactly as exported, rotated by size, no line lost across files', async () => {
    const store = createMemoryStore();
    await store.migrate();
    await append(store, 1, 40);
    const path = join(tempDir('mandate-filesink-'), 'audit.jsonl');
    run(store, [
      { name: 'file', transport: createFileSink({ path, maxBytes: 2048, maxFiles: 50 }), batchSize: 3 },
    ]);
    await until(async () => (await store.getSinkCursor('file'))?.seq === 40, 'the file sink');
    const files = [path, ...Array.from({ length: 50 }, (_, i) => `${path}.${i + 1}`)].filter((f) =>
      existsSync(f),
    );
    expect(files.length).toBeGreaterThan(2);
    // Oldest rotated file first: the concatenation is the chain, in order.
    const lines = files
      .reverse()
      .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as { seq: number; hash: string; event: unknown });
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const chain = await store.readAudit(0, 100);
    expect(lines.map((l) => l.hash)).toEqual(chain.map((c) => c.hash));
    expect(lines[0]!.event).toEqual(JSON.parse(chain[0]!.eventText));
  });
});
