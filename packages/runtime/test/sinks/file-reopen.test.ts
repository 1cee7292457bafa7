// The file sink against what happens to its file while the node runs (rotated by another tool,
// replaced, deleted) and after a crash mid-write (a torn last line): no acknowledged record may end
// up anywhere but a file a reader can find, and every line it writes must be whole.
import { readFileSync, renameSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSink } from '../../src/sinks/file.js';
import { createSinkRunner, type SinkRecord, type SinkRunner } from '../../src/sinks/index.js';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { silentLogger, systemClock, type Logger } from '../../src/kernel/index.js';
import { disposeAll, tempDir } from '../fixtures/mandate.js';
import { until } from './receivers.js';

const runners: SinkRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
  await disposeAll();
});

async function chainOf(n: number): Promise<SinkRecord[]> {
  const store = createMemoryStore();
  await store.migrate();
  await store.appendAudit(
    Array.from({ length: n }, (_, i) => auditEvent(i + 1)),
    testSealer,
  );
  return store.readAudit(0, n);
}

/** The seqs of a file's lines (every line must parse). */
function seqsIn(path: string): number[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function capture(): { logger: Logger; warnings: { msg: string; fields?: Record<string, unknown> }[] } {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { logger: { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, fields }) }, warnings };
}

describe('file sink: its file moved, replaced or deleted while it runs', () => {
  it('writes every batch after a rename to a new file at the path, after a delete too, and says so once per reopening', async () => {
    const chain = await chainOf(40);
    const path = join(tempDir('mandate-filesink-reopen-'), 'audit.jsonl');
    const log = capture();
    const sink = createFileSink({ path, maxBytes: 1 << 30, maxFiles: 5, logger: log.logger });
    await sink.deliver(chain.slice(0, 10));
    await sink.deliver(chain.slice(10, 15));
    expect(log.warnings).toEqual([]);

    // logrotate without copytruncate: the file is moved away; the records before stay in it.
    renameSync(path, `${path}.rotated`);
    await sink.deliver(chain.slice(15, 25));
    expect(seqsIn(`${path}.rotated`)).toEqual(range(1, 15));
    expect(existsSync(path)).toBe(true);
    expect(seqsIn(path)).toEqual(range(16, 25));

    // A cleanup job deletes the new file: the next batch goes to a file at the path again.
    unlinkSync(path);
    await sink.deliver(chain.slice(25, 32));
    expect(seqsIn(path)).toEqual(range(26, 32));

    // Rotated by a tool that creates the new file itself (logrotate `create`): that file is used.
    renameSync(path, `${path}.rotated2`);
    writeFileSync(path, '');
    await sink.deliver(chain.slice(32, 40));
    expect(seqsIn(`${path}.rotated2`)).toEqual(range(26, 32));
    expect(seqsIn(path)).toEqual(range(33, 40));
    await sink.close();

    expect(log.warnings.map((w) => w.fields)).toEqual([
      { path, found: 'no file' },
      { path, found: 'no file' },
      { path, found: 'another file' },
    ]);
    expect(log.warnings[0]!.msg).toBe(
      'audit sink file was moved, replaced or deleted: opening its path again',
    );
  });

  it('under the runner: moved then deleted while streaming, every record after the move is in the file at the path', async () => {
    const store = createMemoryStore();
    await store.migrate();
    const append = (from: number, n: number) =>
      store.appendAudit(
        Array.from({ length: n }, (_, i) => auditEvent(from + i)),
        testSealer,
      );
    const path = join(tempDir('mandate-filesink-runner-'), 'audit.jsonl');
    const log = capture();
    const r = createSinkRunner({
      store,
      clock: systemClock,
      logger: log.logger,
      sinks: [
        {
          name: 'archive',
          type: 'file',
          batchSize: 7,
          transport: createFileSink({ path, maxBytes: 1 << 30, maxFiles: 5 }),
        },
      ],
      pollMs: 10,
      maxBackoffMs: 40,
    });
    runners.push(r);
    const cursor = async (n: number) =>
      until(async () => (await store.getSinkCursor('archive'))?.seq === n, `the cursor at ${n}`);
    await append(1, 30);
    await cursor(30);
    renameSync(path, `${path}.1.rotated`);
    await append(31, 30);
    await cursor(60);
    expect(seqsIn(`${path}.1.rotated`)).toEqual(range(1, 30));
    expect(seqsIn(path)).toEqual(range(31, 60));
    unlinkSync(path);
    await append(61, 30);
    await cursor(90);
    expect(seqsIn(path)).toEqual(range(61, 90));
    expect(r.status()[0]).toMatchObject({ cursor: 90, failures: 0, lastError: null });
    // Without a logger of its own the sink returns the reopening as a warning of the delivery,
    // which the runner logs (the first time, then every 100th).
    expect(log.warnings[0]).toEqual({
      msg: 'audit sink receiver warned',
      fields: {
        sink: 'archive',
        warning: `audit sink file was moved, replaced or deleted: opening its path again (${path}: no file)`,
        times: 1,
      },
    });
  });
});

describe('file sink: a torn last line left by a crash mid-write', () => {
  it('ends the fragment with a newline before appending, so every later line is a whole record', async () => {
    const chain = await chainOf(6);
    const path = join(tempDir('mandate-filesink-torn-'), 'audit.jsonl');
    const whole = `{"seq":1,"prevHash":"${chain[0]!.prevHash}","hash":"${chain[0]!.hash}","event":${chain[0]!.eventText}}`;
    const fragment = `{"seq":2,"prevHash":"${chain[1]!.prevHash}","hash":"${chain[1]!.hash.slice(0, 20)}`;
    writeFileSync(path, `${whole}\n${fragment}`);
    const sink = createFileSink({ path, maxBytes: 1 << 30, maxFiles: 5 });
    await sink.deliver(chain.slice(1, 4));
    await sink.deliver(chain.slice(4));
    await sink.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(whole);
    // The fragment stands alone on its line, as it was.
    expect(lines[1]).toBe(fragment);
    // Every line after it is one whole record, the batch written again in full.
    expect(lines.slice(2, -1).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([2, 3, 4, 5, 6]);
  });

  it('adds nothing to a file that ends in a newline, or to an empty one', async () => {
    const chain = await chainOf(3);
    const dir = tempDir('mandate-filesink-whole-');
    const ended = join(dir, 'ended.jsonl');
    const empty = join(dir, 'empty.jsonl');
    const first = `{"seq":1,"prevHash":"${chain[0]!.prevHash}","hash":"${chain[0]!.hash}","event":${chain[0]!.eventText}}\n`;
    writeFileSync(ended, first);
    writeFileSync(empty, '');
    for (const [path, records] of [
      [ended, chain.slice(1)],
      [empty, chain],
    ] as const) {
      const sink = createFileSink({ path, maxBytes: 1 << 30, maxFiles: 5 });
      await sink.deliver(records);
      await sink.close();
      const text = readFileSync(path, 'utf8');
      expect(seqsIn(path)).toEqual([1, 2, 3]);
      expect(text.endsWith('}\n')).toBe(true);
      expect(
        text
          .split('\n')
          .slice(0, -1)
          .every((l) => l.length > 0),
      ).toBe(true);
    }
  });
});
