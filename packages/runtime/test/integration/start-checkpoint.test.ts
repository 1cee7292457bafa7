import { afterEach, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, durableStoreKinds, type StoreKind } from '../fixtures/mandate.js';

afterEach(disposeAll);

/**
 * A probe found a start's own records — the seeded API keys (the admin's among them), entities,
 * grants — unsigned for up to the checkpoint interval after a checkpoint of the first batch alone:
 * a tail a database admin could delete after a crash with nothing to show for it. A start signs its
 * head once it has seeded.
 */
describe.each(durableStoreKinds())('a start signs its own records, on %s', (kind: StoreKind) => {
  it('the newest checkpoint after a start is the head, its seeded keys included', async () => {
    const t = await createTestMandate({ store: kind });
    const head = await t.m.store.auditHead();
    const keyRecords = await t.m.store.queryAudit({ type: 'key.created', limit: 100 });
    expect(keyRecords.length).toBeGreaterThan(0);
    const [newest] = await t.m.store.listCheckpoints({ order: 'desc', limit: 1 });
    expect(newest?.seq).toBe(head.seq);
    expect(Math.max(...keyRecords.map((r) => r.seq))).toBeLessThanOrEqual(newest!.seq);
  });
});
