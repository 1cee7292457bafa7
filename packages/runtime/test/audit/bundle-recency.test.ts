// F6: a bundle cut back by the party handing it over — its header, the records up to an earlier
// checkpoint and the checkpoints up to it — verified "ok", with nothing saying how recent the
// evidence was. A prefix of the chain is a chain; what tells it from the whole is the time of its
// newest signed checkpoint (the node signs its head every checkpointIntervalMs, even when idle).
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/audit/bundle.js';
import { requireSignedAfter } from '../../src/audit/verify.js';
import { bundleOf, cutBundle, seedLog } from './helpers.js';

describe('how recent a bundle is', () => {
  it('reports its newest trusted checkpoint; a cut bundle fails --signed-after the whole one’s, the whole one passes', async () => {
    const { store, publicKeys, keys } = await seedLog(20, 5);
    const whole = await verifyBundle(await bundleOf(store, keys.publicKeyPem), { publicKeys });
    expect(whole).toMatchObject({ ok: true, newestCheckpoint: { seq: 20, keyId: keys.signer.keyId } });
    const cut = await verifyBundle(cutBundle(await bundleOf(store, keys.publicKeyPem), 10), { publicKeys });
    // The cut still verifies on its own: a prefix is a chain. Its newest checkpoint is the tell.
    expect(cut).toMatchObject({ ok: true, records: 10, unsignedRecords: 0, newestCheckpoint: { seq: 10 } });
    const asked = whole.newestCheckpoint!.time;
    expect(Date.parse(cut.newestCheckpoint!.time)).toBeLessThan(Date.parse(asked));
    expect(requireSignedAfter(cut, asked)).toMatchObject({
      ok: false,
      firstBad: { seq: 11, problem: 'checkpoint_stale' },
    });
    expect(requireSignedAfter(whole, asked)).toMatchObject({ ok: true });
    expect(requireSignedAfter(whole, new Date(Date.parse(asked) + 1).toISOString())).toMatchObject({
      ok: false,
      firstBad: { seq: 21, problem: 'checkpoint_stale' },
    });
  });

  it('records past the last checkpoint, allowed as unsigned, are covered by no checkpoint at any time', async () => {
    const { store, publicKeys, keys } = await seedLog(20, 5);
    // The records up to 13, so the checkpoints at 5 and 10: records 11–13 are signed by no trusted key.
    const text = cutBundle(await bundleOf(store, keys.publicKeyPem), 13);
    const r = await verifyBundle(text, { publicKeys, allowUnsignedTail: true });
    expect(r).toMatchObject({ ok: true, unsignedRecords: 3, newestCheckpoint: { seq: 10 } });
    expect(requireSignedAfter(r, '2000-01-01T00:00:00.000Z')).toMatchObject({
      ok: false,
      firstBad: {
        seq: 11,
        problem: 'checkpoint_stale',
        message: expect.stringMatching(/covers the last record/),
      },
    });
  });
});
