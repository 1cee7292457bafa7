// JSONL lines (`mandate audit export --format jsonl`, the file sink, evidence bundles) must stay one
// line for a consumer that splits on Unicode line breaks (Python's str.splitlines, log shippers):
// U+2028, U+2029 and U+0085 from agent-supplied strings are written as \u escapes, the same JSON
// value, so the chain still verifies from the parsed lines.
import type { AuditEvent } from '@mandate/protocol';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportBundle, verifyBundle } from '../../src/audit/bundle.js';
import { recordHash, sealEvents } from '../../src/audit/chain.js';
import { exportAudit } from '../../src/audit/export.js';
import { canonicalize } from '../../src/kernel/index.js';
import { createFileSink } from '../../src/sinks/file.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { disposeAll, tempDir } from '../fixtures/mandate.js';
import { decisionEvent } from './helpers.js';

afterEach(() => disposeAll());

/** Every line break a consumer may split on. */
const ANY_BREAK = /\r\n|\r|\n|\u2028|\u2029|\u0085/;

const events: AuditEvent[] = [
  decisionEvent(1, { user: 'nobody\u2028{"seq":99}', agent: 'agent:a\u2029b' }),
  decisionEvent(2, { action: 'x\u0085y', data: { note: 'l1\u2028l2\u2029l3\u0085l4', k: ['\u2028'] } }),
  decisionEvent(3),
];

async function seeded() {
  const store = createMemoryStore();
  await store.appendAudit(events, sealEvents);
  return store;
}

function checkLines(text: string, records: { seq: number; hash: string; eventText: string }[]) {
  const lines = text.split(ANY_BREAK);
  expect(lines.at(-1)).toBe('');
  expect(lines.length - 1).toBe(records.length);
  let prev = '0'.repeat(64);
  lines.slice(0, -1).forEach((line, i) => {
    const r = JSON.parse(line) as { seq: number; prevHash: string; hash: string; event: AuditEvent };
    const rec = records[i]!;
    expect(r.seq).toBe(rec.seq);
    // The same value as hashed: its canonical form is the stored text, the hash recomputes.
    expect(canonicalize(r.event)).toBe(rec.eventText);
    expect(r.event).toEqual(JSON.parse(rec.eventText));
    expect(recordHash(r.seq, r.prevHash, canonicalize(r.event))).toBe(rec.hash);
    expect(r.prevHash).toBe(prev);
    prev = r.hash;
  });
}

describe('JSONL lines and Unicode line breaks', () => {
  it('audit export --format jsonl: one line per record whatever the consumer splits on, parsing back to the hashed value', async () => {
    const store = await seeded();
    const records = await store.readAudit(0, 10);
    // The stored (hashed) text holds them raw: the escaping is the line's, not the record's.
    expect(records[0]!.eventText).toContain('\u2028');
    let text = '';
    await exportAudit(store, { format: 'jsonl', write: (c) => void (text += c) });
    expect(text).not.toMatch(/[\u2028\u2029\u0085]/);
    expect(text).toContain('nobody\\u2028{\\"seq\\":99}');
    expect(text).toContain('x\\u0085y');
    checkLines(text, records);
  });

  it('the file sink writes the same lines', async () => {
    const store = await seeded();
    const records = await store.readAudit(0, 10);
    const path = join(tempDir('mandate-jsonl-breaks-'), 'audit.jsonl');
    const sink = createFileSink({ path, maxBytes: 1 << 30, maxFiles: 2 });
    await sink.deliver(records);
    await sink.close();
    checkLines(readFileSync(path, 'utf8'), records);
  });

  it('an evidence bundle with such records still verifies offline', async () => {
    const store = await seeded();
    let text = '';
    await exportBundle(store, {
      publicKeys: [],
      maxGap: 1000,
      exportedAt: new Date().toISOString(),
      write: (c) => void (text += c),
    });
    expect(text).not.toMatch(/[\u2028\u2029\u0085]/);
    const r = await verifyBundle(text, { publicKeys: {}, allowUnsignedTail: true });
    expect(r).toMatchObject({ ok: true, records: 3 });
  });
});
