// What the node vouches for when it shows one record (GET /v1/decisions/:id): the record as stored
// now, linked record by record to a hash it verified (in memory) or signed (a checkpoint of its key).
import { describe, expect, it } from 'vitest';
import { vouchFor } from '../../src/audit/vouch.js';
import { recordHash } from '../../src/audit/chain.js';
import { at, seedLog, tampered } from './helpers.js';

describe('vouching for a record', () => {
  it('verified when linked to a checkpoint of its key, or to a hash it holds; pending when neither is near', async () => {
    const { store, publicKeys } = await seedLog(20, 5);
    const [rec] = await store.readAudit(6, 1);
    // Checkpoints every 5 records: record 7 links to the one at 10.
    expect(await vouchFor(store, rec!, { publicKeys, hashes: [] })).toEqual({ status: 'verified' });
    // No checkpoint, no hash held: nothing to vouch with.
    const unsigned = await tampered(store, (_rs, cps) => cps.splice(0));
    expect(await vouchFor(unsigned, rec!, { publicKeys, hashes: [] })).toEqual({ status: 'pending' });
    const [r12] = await store.readAudit(11, 1);
    expect(await vouchFor(unsigned, rec!, { publicKeys, hashes: [{ seq: 12, hash: r12!.hash }] })).toEqual({
      status: 'verified',
    });
    // Farther than the walk allows: pending, not verified.
    expect(await vouchFor(unsigned, rec!, { publicKeys, hashes: [{ seq: 12, hash: r12!.hash }] }, 3)).toEqual(
      {
        status: 'pending',
      },
    );
  });

  it('tampered when the record was edited and relinked, the break left further on', async () => {
    const { store, publicKeys } = await seedLog(20, 5);
    const rewritten = await tampered(store, (rs) => {
      const k = at(rs, 7);
      rs[k]!.eventText = rs[k]!.eventText.replace('"decision"', '"decision" ');
      rs[k]!.hash = recordHash(rs[k]!.seq, rs[k]!.prevHash, rs[k]!.eventText);
      rs[k + 1]!.prevHash = rs[k]!.hash;
      rs[k + 1]!.hash = recordHash(rs[k + 1]!.seq, rs[k + 1]!.prevHash, rs[k + 1]!.eventText);
    });
    const [rec] = await rewritten.readAudit(6, 1);
    const v = await vouchFor(rewritten, rec!, { publicKeys, hashes: [] });
    expect(v).toMatchObject({ status: 'tampered', finding: { seq: 9 } });
    // A forged checkpoint (not signed by the key) vouches for nothing.
    const forged = await tampered(rewritten, (rs, cps) => {
      for (const cp of cps) if (cp.seq === 10) cp.hash = rs[at(rs, 10)]!.hash;
    });
    const [again] = await forged.readAudit(6, 1);
    expect((await vouchFor(forged, again!, { publicKeys, hashes: [] })).status).not.toBe('verified');
  });
});
