// Where the sink runner goes back to when the chain was rewritten at or below its cursor: a record
// it delivered that is unchanged, else an old checkpoint (never one signed over a re-used seq
// after the rewrite), else the genesis; two nodes on one cursor converge; an edit above the cursor
// is not a rewrite (no rewinding forever); a cursor saved before it had a hash gets one.
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditCheckpoint } from '@mandate/protocol';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import type { Store, StoredAuditRecord } from '../../src/storage/port.js';
import {
  createSinkRunner,
  type SinkRecord,
  type SinkRunner,
  type SinkTransport,
} from '../../src/sinks/index.js';
import { silentLogger, systemClock, type Logger } from '../../src/kernel/index.js';
import { sleep, until } from './receivers.js';

const runners: SinkRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
});

/**
 * One store whose chain can be swapped for another (what a database admin's rewrite or a restore
 * looks like to a reader), the sink cursors kept across.
 */
function rewritable() {
  const cursors = createMemoryStore();
  let chain = createMemoryStore();
  /** Rewrites record reads (an edit the chain's own check would report). */
  let edit: (r: StoredAuditRecord) => StoredAuditRecord = (r) => r;
  const store: Store = Object.assign(Object.create(cursors) as Store, {
    readAudit: async (after: number, limit: number) =>
      (await chain.readAudit(after, limit)).map((r) => edit(r)),
    auditHead: () => chain.auditHead(),
    appendAudit: (...a: Parameters<Store['appendAudit']>) => chain.appendAudit(...a),
    appendCheckpoint: (cp: AuditCheckpoint) => chain.appendCheckpoint(cp),
    listCheckpoints: (...a: Parameters<Store['listCheckpoints']>) => chain.listCheckpoints(...a),
  });
  return {
    store,
    cursors,
    async init() {
      await cursors.migrate();
      await chain.migrate();
    },
    /** A new chain: the first `keep` records of the old one's events, then `fresh` other ones. */
    async rewrite(keep: number, fresh: number, checkpoints: AuditCheckpoint[] = []) {
      const next = createMemoryStore();
      await next.migrate();
      await append(next, 1, keep);
      await append(next, 1000, fresh);
      for (const cp of checkpoints) await next.appendCheckpoint(cp);
      chain = next;
    },
    setEdit(f: typeof edit) {
      edit = f;
    },
  };
}

async function append(store: Store, from: number, n: number): Promise<StoredAuditRecord[]> {
  return store.appendAudit(
    Array.from({ length: n }, (_, i) => auditEvent(from + i)),
    testSealer,
  );
}

const cp = (r: { seq: number; hash: string }): AuditCheckpoint => ({
  seq: r.seq,
  hash: r.hash,
  time: '2025-01-01T00:00:00.000Z',
  keyId: 'k1',
  signature: 'sig',
});

function recorder() {
  const got: { seq: number; hash: string }[] = [];
  const transport: SinkTransport = {
    async deliver(batch: readonly SinkRecord[]) {
      got.push(...batch.map((r) => ({ seq: r.seq, hash: r.hash })));
    },
    async close() {},
  };
  return { got, transport };
}

function logs() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, msg, fields });
  const logger = {
    ...silentLogger,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as Logger;
  return { lines, logger };
}

function run(store: Store, transport: SinkTransport, logger: Logger = silentLogger, batchSize = 5) {
  const r = createSinkRunner({
    store,
    clock: systemClock,
    logger,
    sinks: [{ name: 'siem', type: 'test', batchSize, transport }],
    pollMs: 5,
    maxBackoffMs: 20,
  });
  runners.push(r);
  return r;
}

async function chainOf(store: Store): Promise<StoredAuditRecord[]> {
  return store.readAudit(0, 10_000);
}

/** The records of the chain now that the receiver does not have, by seq and hash. */
async function notDelivered(store: Store, got: { seq: number; hash: string }[]): Promise<number[]> {
  const have = new Set(got.map((r) => `${r.seq}:${r.hash}`));
  return (await chainOf(store)).filter((r) => !have.has(`${r.seq}:${r.hash}`)).map((r) => r.seq);
}

describe('sink runner on a rewritten chain', () => {
  it('rewinds to a record it delivered that is unchanged (the tightest point), and says so at error level', async () => {
    const w = rewritable();
    await w.init();
    await append(w.store, 1, 30);
    const rx = recorder();
    const log = logs();
    const r = run(w.store, rx.transport, log.logger);
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === 30, 'the first 30');
    // The tail from 18 on deleted; 6 other records appended at 18–23.
    await w.rewrite(17, 6);
    await until(async () => (await notDelivered(w.store, rx.got)).length === 0, 'the new records');
    await until(() => r.status()[0]!.cursor === 23, 'the head');
    // Batches of 5: 15 was a delivered batch end and is unchanged, so 16–23 go again.
    expect(rx.got.slice(30).map((x) => x.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
    expect(r.status()[0]).toMatchObject({
      rewinds: 1,
      lag: 0,
      lastError:
        'the audit chain was rewritten at or before seq 30 (the chain now ends at seq 23, below the cursor); re-delivering from seq 16 (seq 15 is a record it delivered and unchanged)',
    });
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        msg: 'audit sink found the chain rewritten at or before its cursor; re-delivering',
        fields: expect.objectContaining({ sink: 'siem', cursor: 30, from: 16, basis: 'delivered' }),
      },
    ]);
    const head = await w.store.auditHead();
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === 23, 'the stored cursor');
    expect(await w.store.getSinkCursor('siem')).toMatchObject({ seq: 23, hash: head.hash });
  });

  it('after a restart: an old checkpoint, never one signed over a re-used seq after the rewrite', async () => {
    const w = rewritable();
    await w.init();
    const old = await append(w.store, 1, 30);
    const rx1 = recorder();
    const r1 = run(w.store, rx1.transport);
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === 30, 'the first 30');
    await r1.close();
    // Offline: cut at 12, checkpoints at 10 and 25 kept from before, 8 new records, then a
    // checkpoint over the new record 18 (signed after the rewrite: it matches the chain now).
    await w.rewrite(12, 8, [cp(old[9]!), cp(old[24]!)]);
    const now = await chainOf(w.store);
    await w.store.appendCheckpoint(cp(now[17]!));
    expect(now[17]!.hash).not.toBe(old[17]!.hash);
    const rx = recorder();
    const r = run(w.store, rx.transport);
    await until(
      async () => (await notDelivered(w.store, [...rx1.got, ...rx.got])).length === 0,
      'the new records',
    );
    await until(() => r.status()[0]!.cursor === 20, 'the head');
    expect(rx.got.map((x) => x.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(r.status()[0]!.lastError).toMatch(/re-delivering from seq 11 \(seq 10 is a signed checkpoint/);
  });

  it('with nothing to tell old from new (the checkpoints restored with the records), from the genesis', async () => {
    const w = rewritable();
    await w.init();
    const old = await append(w.store, 1, 20);
    const rx1 = recorder();
    const r1 = run(w.store, rx1.transport);
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === 20, 'the first 20');
    await r1.close();
    await w.rewrite(10, 4, [cp(old[4]!)]);
    await w.store.appendCheckpoint(cp((await chainOf(w.store))[12]!));
    const rx = recorder();
    const r = run(w.store, rx.transport);
    await until(() => r.status()[0]!.cursor === 14 && r.status()[0]!.lag === 0, 'the head');
    expect(rx.got.map((x) => x.seq)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(r.status()[0]!.lastError).toMatch(/re-delivering from the first record$/);
  });

  it('a cut that leaves the head at the cursor’s seq with another hash is found while idle', async () => {
    const w = rewritable();
    await w.init();
    await append(w.store, 1, 12);
    const rx = recorder();
    const r = run(w.store, rx.transport);
    await until(() => r.status()[0]!.cursor === 12, 'the first 12');
    await w.rewrite(7, 5);
    await until(async () => (await notDelivered(w.store, rx.got)).length === 0, 'the new records');
    expect(r.status()[0]!.lastError).toMatch(/\(the record at seq 12 has another hash\)/);
  });

  it('two nodes delivering one sink converge on the rewritten chain: every record delivered, no endless rewinding', async () => {
    const w = rewritable();
    await w.init();
    await append(w.store, 1, 40);
    const a = recorder();
    const b = recorder();
    const ra = run(w.store, a.transport, silentLogger, 7);
    const rb = run(w.store, b.transport, silentLogger, 3);
    await until(() => ra.status()[0]!.cursor === 40 && rb.status()[0]!.cursor === 40, 'both at 40');
    await w.rewrite(9, 20);
    // Appends go on while they find it.
    for (let i = 0; i < 5; i++) {
      await append(w.store, 2000 + i * 3, 3);
      await sleep(3);
    }
    const head = await w.store.auditHead();
    await until(
      () => ra.status()[0]!.cursor === head.seq && rb.status()[0]!.cursor === head.seq,
      'both at the head',
    );
    // One receiver behind both (the cursor is the sink's, shared): a node that finds the cursor
    // moved by the other follows it instead of rewinding again.
    expect(await notDelivered(w.store, [...a.got, ...b.got])).toEqual([]);
    await sleep(50);
    for (const r of [ra, rb]) expect(r.status()[0]!.rewinds).toBeLessThanOrEqual(2);
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === head.seq, 'the stored cursor');
    expect(await w.store.getSinkCursor('siem')).toMatchObject({ seq: head.seq, hash: head.hash });
  });

  it('a record edited above the cursor (no longer linked to it) is delivered as it is: not a rewrite, no rewinding', async () => {
    const w = rewritable();
    await w.init();
    await append(w.store, 1, 10);
    const rx = recorder();
    const r = run(w.store, rx.transport);
    await until(() => r.status()[0]!.cursor === 10, 'the first 10');
    w.setEdit((x) => (x.seq === 11 ? { ...x, prevHash: 'f'.repeat(64) } : x));
    await append(w.store, 11, 5);
    await until(() => r.status()[0]!.cursor === 15, 'the next 5');
    await sleep(30);
    expect(rx.got.map((x) => x.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(r.status()[0]).toMatchObject({ rewinds: 0, lastError: null });
  });

  it('a cursor saved before it had a hash works as before and gets one on its next advance', async () => {
    const w = rewritable();
    await w.init();
    await append(w.store, 1, 8);
    await w.store.advanceSinkCursor('siem', 5, '2025-01-01T00:00:00.000Z');
    expect(await w.store.getSinkCursor('siem')).toMatchObject({ seq: 5, hash: null });
    const rx = recorder();
    run(w.store, rx.transport);
    await until(async () => (await w.store.getSinkCursor('siem'))?.seq === 8, 'the rest');
    expect(rx.got.map((x) => x.seq)).toEqual([6, 7, 8]);
    expect(await w.store.getSinkCursor('siem')).toMatchObject({ hash: (await w.store.auditHead()).hash });
  });
});
