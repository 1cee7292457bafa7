import type { AuditEvent } from '@mandate/protocol';
import { describe, expect, it } from 'vitest';
import { recordHash, sealEvents } from '../../src/audit/chain.js';
import { cefExtension, cefHeader, exportAudit } from '../../src/audit/export.js';
import { canonicalize } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { decisionEvent } from './helpers.js';

async function storeWith(events: AuditEvent[]): Promise<Store> {
  const store = createMemoryStore();
  await store.appendAudit(events, sealEvents);
  return store;
}

async function collect(
  store: Store,
  opts: Omit<Parameters<typeof exportAudit>[1], 'write'>,
): Promise<{ text: string; count: number; chunks: number }> {
  let text = '';
  let chunks = 0;
  const count = await exportAudit(store, {
    ...opts,
    write: async (chunk) => {
      chunks += 1;
      text += chunk;
    },
  });
  return { text, count, chunks };
}

describe('exportAudit: JSONL', () => {
  it('writes one line per record with the event exactly as hashed', async () => {
    const store = await storeWith([decisionEvent(1), decisionEvent(2), decisionEvent(3)]);
    const records = await store.readAudit(0, 10);
    const { text, count, chunks } = await collect(store, { format: 'jsonl', batchSize: 2 });
    expect(count).toBe(3);
    expect(chunks).toBe(2);
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.length).toBe(4);
    const r1 = records[0]!;
    expect(lines[0]).toBe(
      `{"seq":1,"prevHash":"${r1.prevHash}","hash":"${r1.hash}","event":${r1.eventText}}`,
    );
    expect(lines[0]).toBe(
      `{"seq":1,"prevHash":"${'0'.repeat(64)}","hash":"${r1.hash}","event":{"action":"payments.refund","agent":"agent:support","data":{"i":1},"decisionId":"dec_1","effect":"allow","nodeId":"node-1","time":"2026-01-05T10:00:01.000Z","type":"decision","user":"user:alice"}}`,
    );
    // The export alone is enough to re-verify the chain.
    let prev = '0'.repeat(64);
    for (const line of lines.slice(0, 3)) {
      const r = JSON.parse(line) as { seq: number; prevHash: string; hash: string; event: AuditEvent };
      expect(r.prevHash).toBe(prev);
      expect(recordHash(r.seq, r.prevHash, canonicalize(r.event))).toBe(r.hash);
      prev = r.hash;
    }
  });

  it('applies a filter and a starting cursor', async () => {
    const store = await storeWith(Array.from({ length: 9 }, (_, i) => decisionEvent(i + 1)));
    const denies = await collect(store, { format: 'jsonl', filter: { effect: 'deny' }, batchSize: 2 });
    expect(denies.count).toBe(3);
    expect(
      denies.text
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([3, 6, 9]);
    const after = await collect(store, { format: 'jsonl', filter: { afterSeq: 7 } });
    expect(after.count).toBe(2);
  });

  it('writes nothing for an empty log', async () => {
    expect(await collect(createMemoryStore(), { format: 'jsonl' })).toEqual({
      text: '',
      count: 0,
      chunks: 0,
    });
  });
});

describe('exportAudit: CEF', () => {
  it('writes a CEF line per record', async () => {
    const store = await storeWith([decisionEvent(3)]);
    const [r] = await store.readAudit(0, 1);
    const { text } = await collect(store, { format: 'cef' });
    expect(text).toBe(
      `CEF:0|Mandate|Mandate|0.1|decision|decision deny|6|rt=${Date.parse('2026-01-05T10:00:03.000Z')} suser=agent:support duser=user:alice act=payments.refund outcome=deny cs1Label=decisionId cs1=dec_3 cs2Label=hash cs2=${r!.hash}\n`,
    );
  });

  it('escapes header and extension values and leaves out absent fields', async () => {
    const store = await storeWith([
      decisionEvent(1, { agent: 'agent:a=b\\c', user: 'user:line1\nline2', action: 'x|y' }),
      { type: 'policy.activated', time: '2026-01-05T10:00:00.000Z', nodeId: 'n', data: {} },
    ]);
    const records = await store.readAudit(0, 10);
    const lines = (await collect(store, { format: 'cef' })).text.split('\n');
    expect(lines[0]).toBe(
      `CEF:0|Mandate|Mandate|0.1|decision|decision allow|2|rt=1767607201000 suser=agent:a\\=b\\\\c duser=user:line1\\nline2 act=x|y outcome=allow cs1Label=decisionId cs1=dec_1 cs2Label=hash cs2=${records[0]!.hash}`,
    );
    expect(lines[1]).toBe(
      `CEF:0|Mandate|Mandate|0.1|policy.activated|policy.activated|5|rt=1767607200000 cs2Label=hash cs2=${records[1]!.hash}`,
    );
    expect(lines.length).toBe(3);
  });

  it('escapes CEF header and extension special characters', () => {
    expect(cefHeader('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(cefExtension('a=b\\c\r\nd|e')).toBe('a\\=b\\\\c\\r\\nd|e');
  });
});
