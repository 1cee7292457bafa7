// The node's continuous check of its own chain (issue 8 §4, ADR 0033, ADR 0035). A node used to
// start it at the genesis on every start, at most 10,000 records a tick: a restarted node with a
// long chain spent (length ÷ 10,000) ticks on old records — a million records, ~50 minutes at the
// default interval, forever on a node appending faster — and a record it appended and someone
// then edited, or a tail cut while it was down, went unnoticed all that time. It now starts at the
// newest checkpoint its own key signed, checked, and verifies the history with what is left.
import type { AuditCheckpoint } from '@mandate/protocol';
import { describe, expect, it, vi } from 'vitest';
import { isVerified } from '../../src/audit/tail-verifier.js';
import type { AuditSource } from '../../src/audit/verify.js';
import { at, decisionEvent, ownLog, quietTailVerifier, rechain, seedLog, tampered } from './helpers.js';

/** A source whose view can be swapped for a tampered one between checks. */
function switchable(initial: AuditSource) {
  let view = initial;
  const source: AuditSource = {
    readAudit: (a, l) => view.readAudit(a, l),
    listCheckpoints: (r) => view.listCheckpoints(r),
  };
  return { source, set: (v: AuditSource) => (view = v) };
}

describe('the node verifies its own chain tail', () => {
  it('starts at the genesis when its key signed no checkpoint, and advances incrementally', async () => {
    const { store, publicKeys } = await seedLog(20);
    const unsigned = await tampered(store, (_rs, cps) => cps.splice(0));
    const failures: unknown[] = [];
    const tv = quietTailVerifier({
      source: unsigned,
      publicKeys,
      maxPerTick: 8,
      onFailure: async (f) => failures.push(f),
    });
    expect(await tv.check()).toEqual({
      ok: true,
      verifiedSeq: 8,
      failure: null,
      unverified: null,
      anchorSeq: 0,
      historySeq: 0,
    });
    expect((await tv.check()).verifiedSeq).toBe(16);
    expect((await tv.check()).verifiedSeq).toBe(20);
    expect(failures).toEqual([]);
    await tv.close();
  });

  it('says how far behind the head each check ended (mandate_audit_chain_unverified_records)', async () => {
    const { store, publicKeys } = await seedLog(20);
    const unsigned = await tampered(store, (_rs, cps) => cps.splice(0));
    const tv = quietTailVerifier({
      source: unsigned,
      publicKeys,
      maxPerTick: 8,
      head: () => unsigned.auditHead(),
    });
    expect(tv.status().unverified).toBeNull();
    expect((await tv.check()).unverified).toBe(12);
    expect((await tv.check()).unverified).toBe(4);
    expect(await tv.check()).toMatchObject({ ok: true, verifiedSeq: 20, failure: null, unverified: 0 });
    await tv.close();
  });

  it('starts at its newest checkpoint and goes through the history with what each tick leaves', async () => {
    const { store, publicKeys } = await seedLog(20);
    const tv = quietTailVerifier({ source: store, publicKeys, maxPerTick: 8, head: () => store.auditHead() });
    expect(await tv.check()).toEqual({
      ok: true,
      verifiedSeq: 20,
      failure: null,
      unverified: 0,
      anchorSeq: 20,
      historySeq: 8,
    });
    expect([8, 9, 19, 20].map((seq) => isVerified(tv.status(), seq))).toEqual([true, false, false, true]);
    // The hashes it vouches with: the tail and the anchor, not the history cursor part way, whose
    // hash is linked to nothing signed yet (a third-round probe had a rewrite vouched for through it).
    expect(tv.trustedHashes().map((h) => h.seq)).toEqual([20, 20]);
    expect((await tv.check()).historySeq).toBe(16);
    expect((await tv.check()).historySeq).toBe(20);
    expect([9, 19].map((seq) => isVerified(tv.status(), seq))).toEqual([true, true]);
    await tv.close();
  });

  it('a restarted node watches what it appends at once, however long the chain (fails without the anchor)', async () => {
    const seeded = await seedLog(100);
    const s = switchable(seeded.store);
    const tv = quietTailVerifier({ source: s.source, publicKeys: seeded.publicKeys, maxPerTick: 10 });
    expect((await tv.check()).ok).toBe(true);
    // The node appends five more decisions; someone then edits one of them.
    const { log, clock } = ownLog(seeded.store, seeded.keys, 1_000);
    for (let i = 101; i <= 105; i++) {
      clock.advance(1000);
      await log.append(decisionEvent(i));
    }
    s.set(
      await tampered(seeded.store, (rs) => {
        const r = rs[at(rs, 103)]!;
        r.eventText = r.eventText.replace('"allow"', '"deny"');
      }),
    );
    expect(await tv.check()).toMatchObject({ ok: false, failure: { seq: 103, problem: 'hash_mismatch' } });
    expect(tv.status()).toMatchObject({ anchorSeq: 100, historySeq: 10 });
    await tv.close();
    await log.close();
  });

  it('a record edited before the anchor is found once the history reaches it', async () => {
    const { store, publicKeys } = await seedLog(100);
    const bad = await tampered(store, (rs) => {
      const r = rs[at(rs, 37)]!;
      r.eventText = r.eventText.replace('"node-1"', '"node-9"');
    });
    const tv = quietTailVerifier({ source: bad, publicKeys, maxPerTick: 10 });
    for (const historySeq of [10, 20, 30]) {
      expect(await tv.check()).toMatchObject({ ok: true, verifiedSeq: 100, historySeq });
    }
    expect(isVerified(tv.status(), 37)).toBe(false);
    expect(await tv.check()).toMatchObject({ ok: false, failure: { seq: 37, problem: 'hash_mismatch' } });
    expect(isVerified(tv.status(), 100)).toBe(false);
    await tv.close();
  });

  it('checks the checkpoint it starts from: forged, its record cut away, or rewritten', async () => {
    const cases = [
      [
        'forged',
        (_rs: unknown, cps: AuditCheckpoint[]) => {
          const last = cps.at(-1)!;
          cps.push({ ...last, seq: 25, hash: 'f'.repeat(64), time: '2026-01-05T11:00:00.000Z' });
        },
        { seq: 25, problem: 'checkpoint_signature' },
      ],
      ['cut', (rs: unknown[]) => rs.splice(17), { seq: 20, problem: 'truncated' }],
      [
        'rewritten',
        (rs: Parameters<typeof rechain>[0]) => {
          const r = rs[at(rs, 20)]!;
          r.eventText = r.eventText.replace('"node-1"', '"node-9"');
          rechain(rs, 0);
        },
        { seq: 20, problem: 'checkpoint_mismatch' },
      ],
    ] as const;
    for (const [how, tamper, failure] of cases) {
      const { store, publicKeys } = await seedLog(20);
      const bad = await tampered(store, tamper as Parameters<typeof tampered>[1]);
      const tv = quietTailVerifier({ source: bad, publicKeys });
      expect(await tv.check(), how).toMatchObject({ ok: false, failure });
      await tv.close();
    }
  });

  it('starts at its own newest checkpoint, not another node’s', async () => {
    const { store, publicKeys } = await seedLog(20);
    // Another node signed the same head later, and many times (idle checkpoints re-sign it).
    const other = await seedLog(1);
    const [foreign] = await other.store.listCheckpoints();
    for (let i = 0; i < 100; i++) await store.appendCheckpoint({ ...foreign!, seq: 20 });
    const tv = quietTailVerifier({ source: store, publicKeys, maxPerTick: 5 });
    expect(await tv.check()).toMatchObject({ ok: true, anchorSeq: 20, historySeq: 5 });
    await tv.close();
  });

  it('reads only the checkpoints of the records each check covers, not the whole table', async () => {
    const { store, publicKeys } = await seedLog(20);
    const ranges: unknown[] = [];
    const source: AuditSource = {
      readAudit: (a, l) => store.readAudit(a, l),
      listCheckpoints: (range) => {
        ranges.push(range);
        return store.listCheckpoints(range);
      },
    };
    const tv = quietTailVerifier({ source, publicKeys, maxPerTick: 8 });
    expect((await tv.check()).historySeq).toBe(8);
    expect((await tv.check()).historySeq).toBe(16);
    expect(ranges).toEqual([
      { keyId: Object.keys(publicKeys)[0], order: 'desc', limit: 1 },
      { fromSeq: 20, toSeq: 20 },
      { fromSeq: 0, toSeq: 8 },
      { fromSeq: 20, toSeq: 20 },
      { fromSeq: 8, toSeq: 16 },
    ]);
    await tv.close();
  });

  it('runs on its timer', async () => {
    const { store, publicKeys } = await seedLog(20);
    const tv = quietTailVerifier({ source: store, publicKeys, intervalMs: 10, maxPerTick: 8 });
    await vi.waitFor(() => expect(tv.status()).toMatchObject({ verifiedSeq: 20, historySeq: 20 }));
    await tv.close();
  });

  it('flags a record edited in the history once, and stays failed', async () => {
    const { store, publicKeys } = await seedLog(20);
    const failures: unknown[] = [];
    const bad = await tampered(store, (rs) => {
      const r = rs[at(rs, 7)]!;
      r.eventText = r.eventText.replace('"allow"', '"deny"');
    });
    const tv = quietTailVerifier({ source: bad, publicKeys, onFailure: async (f) => failures.push(f) });
    expect(await tv.check()).toMatchObject({ ok: false, failure: { seq: 7, problem: 'hash_mismatch' } });
    await tv.check();
    expect(failures).toHaveLength(1);
    await tv.close();
  });

  it('flags the last verified record rewritten or cut away afterwards', async () => {
    for (const [how, problem] of [
      ['rewrite', 'hash_mismatch'],
      ['cut', 'truncated'],
    ] as const) {
      const { store, publicKeys } = await seedLog(20);
      const s = switchable(store);
      const tv = quietTailVerifier({ source: s.source, publicKeys });
      expect((await tv.check()).ok).toBe(true);
      s.set(
        await tampered(store, (rs) => {
          if (how === 'cut') rs.splice(at(rs, 18));
          else {
            rs[at(rs, 20)]!.eventText = rs[at(rs, 20)]!.eventText.replace('"node-1"', '"node-9"');
            rechain(rs, 0);
          }
        }),
      );
      expect(await tv.check(), how).toMatchObject({ ok: false, failure: { seq: 20, problem } });
      await tv.close();
    }
  });

  it('flags a forged checkpoint of its own key in the history', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (_rs, cps: AuditCheckpoint[]) => {
      const body = { seq: 12, hash: 'f'.repeat(64), time: '2026-01-05T10:01:00.000Z', keyId: cps[0]!.keyId };
      cps.push({ ...body, signature: cps[0]!.signature });
    });
    const tv = quietTailVerifier({ source: bad, publicKeys });
    expect(await tv.check()).toMatchObject({
      ok: false,
      failure: { seq: 12, problem: 'checkpoint_signature' },
    });
    await tv.close();
  });
});
