import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditColumns, recordHash, sealEvents } from '../../src/audit/chain.js';
import { canonicalize } from '../../src/kernel/index.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import { decisionEvent } from './helpers.js';

describe('audit chain sealing', () => {
  it('hashes domain, seq, prevHash and the canonical event, separated by NUL', () => {
    const text = '{"a":1}';
    const expected = createHash('sha256')
      .update(`mandate.audit.v1\u00001\u0000${GENESIS_HASH}\u0000${text}`)
      .digest('hex');
    expect(recordHash(1, GENESIS_HASH, text)).toBe(expected);
  });

  it('puts the seq inside the hash, so the same content at another position hashes differently', () => {
    expect(recordHash(1, GENESIS_HASH, '{}')).not.toBe(recordHash(2, GENESIS_HASH, '{}'));
  });

  it('chains a batch after the head with consecutive seqs', () => {
    const events = [decisionEvent(1), decisionEvent(2), decisionEvent(3)];
    const records = sealEvents({ seq: 0, hash: GENESIS_HASH }, events);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[0]!.prevHash).toBe(GENESIS_HASH);
    expect(records[1]!.prevHash).toBe(records[0]!.hash);
    expect(records[2]!.prevHash).toBe(records[1]!.hash);
    for (const [i, r] of records.entries()) {
      expect(r.eventText).toBe(canonicalize(events[i]));
      expect(r.hash).toBe(recordHash(r.seq, r.prevHash, r.eventText));
    }
  });

  it('continues from a non-empty head', () => {
    const first = sealEvents({ seq: 0, hash: GENESIS_HASH }, [decisionEvent(1), decisionEvent(2)]);
    const head = { seq: 2, hash: first[1]!.hash };
    const next = sealEvents(head, [decisionEvent(3)]);
    const together = sealEvents({ seq: 0, hash: GENESIS_HASH }, [
      decisionEvent(1),
      decisionEvent(2),
      decisionEvent(3),
    ]);
    expect(next[0]).toEqual(together[2]);
  });

  it('writes canonical event text whatever the key order of the event', () => {
    const e = decisionEvent(1);
    const shuffled = Object.fromEntries(Object.entries(e).reverse()) as typeof e;
    const [a] = sealEvents({ seq: 0, hash: GENESIS_HASH }, [e]);
    const [b] = sealEvents({ seq: 0, hash: GENESIS_HASH }, [shuffled]);
    expect(a!.eventText).toBe(b!.eventText);
    expect(a!.hash).toBe(b!.hash);
  });

  it('derives the query columns from the event, null when absent', () => {
    expect(auditColumns(decisionEvent(3))).toEqual({
      type: 'decision',
      time: '2026-01-05T10:00:03.000Z',
      agent: 'agent:support',
      user: 'user:alice',
      action: 'payments.refund',
      effect: 'deny',
      decisionId: 'dec_3',
    });
    expect(
      auditColumns({
        type: 'policy.activated',
        time: '2026-01-05T10:00:00.000Z',
        nodeId: 'n',
        data: { version: 'v' },
      }),
    ).toEqual({
      type: 'policy.activated',
      time: '2026-01-05T10:00:00.000Z',
      agent: null,
      user: null,
      action: null,
      effect: null,
      decisionId: null,
    });
  });
});
