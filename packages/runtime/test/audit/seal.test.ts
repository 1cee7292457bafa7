// ADR 0038: the writers' batch seals, and the walk that holds records after a vouched-for head to
// them. Every accepting case has its refusing twin.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { sealCanonical, sealEvents } from '../../src/audit/chain.js';
import { createRecordSealer, createSealWalk, type SealWalk } from '../../src/audit/seal.js';
import { canonicalize } from '../../src/kernel/index.js';
import { GENESIS_HASH, type StoredAuditRecord } from '../../src/storage/index.js';
import { decisionEvent } from './helpers.js';

const sealer = createRecordSealer(randomBytes(32));
const other = createRecordSealer(randomBytes(32));

/** Batches of the given sizes, chained from the genesis, each sealed by `by` (null: unsealed). */
function chain(
  sizes: number[],
  by: (i: number) => ReturnType<typeof createRecordSealer> | null = () => sealer,
) {
  const out: StoredAuditRecord[] = [];
  let head = { seq: 0, hash: GENESIS_HASH };
  sizes.forEach((n, b) => {
    const events = Array.from({ length: n }, (_, i) => decisionEvent(head.seq + i + 1));
    const s = by(b);
    const records = s
      ? sealCanonical(head, events, (e) => canonicalize(e), undefined, s)
      : sealEvents(head, events);
    out.push(...records);
    const last = records.at(-1)!;
    head = { seq: last.seq, hash: last.hash };
  });
  return out;
}

function walk(records: StoredAuditRecord[], after = { seq: 0, hash: GENESIS_HASH }) {
  const w: SealWalk = createSealWalk(sealer);
  for (const r of records.filter((x) => x.seq > after.seq)) {
    const f = w.next(r);
    if (f) return f;
  }
  return w.end();
}

describe('batch seals', () => {
  it('a sealed batch carries one seal, on its last record, naming its first seq', () => {
    const records = chain([3]);
    expect(records.map((r) => r.seal === undefined)).toEqual([true, true, false]);
    expect(records[2]!.seal).toMatch(/^1:[0-9a-f]{64}$/);
    expect(sealer.open(records[2]!.seal!, 3, records[2]!.hash)).toBe(1);
    // Refused: another record, another hash, another key.
    expect(sealer.open(records[2]!.seal!, 4, records[2]!.hash)).toBeNull();
    expect(sealer.open(records[2]!.seal!, 3, records[1]!.hash)).toBeNull();
    expect(other.open(records[2]!.seal!, 3, records[2]!.hash)).toBeNull();
    expect(sealer.open('garbage', 3, records[2]!.hash)).toBeNull();
    expect(sealer.open(records[2]!.seal!.replace(/^1:/, '0:'), 3, records[2]!.hash)).toBeNull();
  });

  it('a chain of sealed batches walks clean, from the genesis or from a head inside a batch', () => {
    const records = chain([2, 3, 1, 4]);
    expect(walk(records)).toBeNull();
    expect(walk(records, { seq: 3, hash: records[2]!.hash })).toBeNull();
    expect(walk(records, { seq: 6, hash: records[5]!.hash })).toBeNull();
  });

  it('a batch nobody sealed, at the head: unsealed, naming its first record', () => {
    const records = chain([2, 3], (b) => (b === 1 ? null : sealer));
    expect(walk(records)).toMatchObject({ seq: 3, problem: 'unsealed' });
  });

  it('a batch nobody sealed, followed by a sealed one: unsealed, naming the first record nobody sealed', () => {
    const records = chain([2, 1, 3], (b) => (b === 1 ? null : sealer));
    expect(walk(records)).toMatchObject({ seq: 3, problem: 'unsealed' });
  });

  it('a batch sealed with another key (not a writer of this deployment): unsealed', () => {
    const records = chain([2, 2], (b) => (b === 1 ? other : sealer));
    expect(walk(records)).toMatchObject({ seq: 4, problem: 'unsealed' });
  });

  it("a seal moved to the record after its batch's end, or from another record: unsealed", () => {
    const records = chain([2, 2]);
    const moved = records.map((r) => ({ ...r }));
    moved[3]!.seal = moved[1]!.seal!;
    expect(walk(moved)).toMatchObject({ seq: 4, problem: 'unsealed' });
  });
});
