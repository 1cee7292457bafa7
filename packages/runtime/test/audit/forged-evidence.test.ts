// Evidence forgery found by a black-box probe, in process: a bundle line numbered 0 placed before
// record 1 that verify never read (F3); a row numbered 0 or below that every verifier skipped (F2);
// a record the store verifies that its bundle could never verify (F5); a configured mirror file
// that, removed, was skipped in silence (F6); and the newest mirror checkpoint of a key the node no
// longer holds, which a restarted node did not hold its chain to (F1).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditCheckpoint } from '@mandate/protocol';
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/audit/bundle.js';
import { recordHash } from '../../src/audit/chain.js';
import { createEphemeralKeys } from '../../src/audit/keys.js';
import { checkpointLine } from '../../src/audit/mirror.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { verifyAsConfigured } from '../../src/cli/audit-verify.js';
import type { Config } from '../../src/config/index.js';
import { canonicalize } from '../../src/kernel/index.js';
import { GENESIS_HASH, type StoredAuditRecord } from '../../src/storage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { tempDir } from '../fixtures/mandate.js';
import { bundleOf, decisionEvent, ownLog, quietTailVerifier, rechain, seedLog, tampered } from './helpers.js';

type BundleLine = { seq: number; prevHash: string; hash: string; event: Record<string, unknown> };

/** A record numbered `seq` (0 or below), self-consistent, copying decision `from` as an allow. */
function forgedRow(from: StoredAuditRecord, seq: number): StoredAuditRecord {
  const event = { ...(JSON.parse(from.eventText) as Record<string, unknown>), effect: 'allow' };
  const eventText = canonicalize(event);
  return {
    seq,
    prevHash: GENESIS_HASH,
    hash: recordHash(seq, GENESIS_HASH, eventText),
    eventText,
    columns: { ...from.columns, effect: 'allow' },
  };
}

describe('F3: a bundle line numbered 0 or below', () => {
  it('placed before record 1 fails verify (malformed); the genuine bundle verifies', async () => {
    const { store, publicKeys, keys } = await seedLog(20, 5);
    const text = await bundleOf(store, keys.publicKeyPem);
    expect(await verifyBundle(text, { publicKeys })).toMatchObject({ ok: true, records: 20 });

    const [header, ...rest] = text.trimEnd().split('\n');
    const victim = JSON.parse(rest.find((l) => l.includes('"dec_3"'))!) as BundleLine;
    for (const seq of [0, -1]) {
      const event = { ...victim.event, effect: 'allow' };
      const forged: BundleLine = {
        seq,
        prevHash: GENESIS_HASH,
        hash: recordHash(seq, GENESIS_HASH, canonicalize(event)),
        event,
      };
      const bad = [header, JSON.stringify(forged), ...rest].join('\n') + '\n';
      const r = await verifyBundle(bad, { publicKeys });
      expect(r).toMatchObject({
        ok: false,
        firstBad: { problem: 'malformed', message: expect.stringMatching(/bundle line 2/) },
      });
    }
  });
});

describe('F2: a row numbered 0 or below in the store', () => {
  it('fails verify and the tail check (out_of_order, naming it); the untouched chain passes both', async () => {
    const { store, publicKeys } = await seedLog(12, 5);
    expect(await verifyAudit(store, { publicKeys })).toMatchObject({ ok: true });
    expect((await quietTailVerifier({ source: store, publicKeys }).check()).ok).toBe(true);
    for (const seq of [0, -1]) {
      const forged = await tampered(store, (records) => records.unshift(forgedRow(records[2]!, seq)));
      const r = await verifyAudit(forged, { publicKeys });
      expect(r).toMatchObject({
        ok: false,
        firstBad: { seq, problem: 'out_of_order', message: expect.stringContaining(`record ${seq}`) },
      });
      const tail = await quietTailVerifier({ source: forged, publicKeys }).check();
      expect(tail).toMatchObject({ ok: false, failure: { seq, problem: 'out_of_order' } });
    }
  });
});

describe('F5: a record the store verifies, its bundle verifies', () => {
  it('an integer beyond 2^53 − 1 and nesting past 64 levels; a repeated key is still malformed', async () => {
    const store = createMemoryStore();
    const keys = createEphemeralKeys();
    const { log, clock } = ownLog(store, keys, 5);
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    for (let i = 1; i <= 6; i++) {
      clock.advance(1000);
      await log.append(
        decisionEvent(i, {
          data: { i, usage: { refundSumAfter: 2 ** 60 + i * 4096, big: -(2 ** 70) }, args: deep },
        }),
      );
    }
    clock.advance(1000);
    await log.close();
    const publicKeys = { [keys.signer.keyId]: keys.publicKeyPem };
    expect(await verifyAudit(store, { publicKeys })).toMatchObject({ ok: true, records: 6 });
    const text = await bundleOf(store, keys.publicKeyPem);
    expect(await verifyBundle(text, { publicKeys })).toMatchObject({ ok: true, records: 6 });

    // The same line with a key repeated (the hash is of the first text; JSON.parse keeps the last).
    const lines = text.trimEnd().split('\n');
    const i = lines.findIndex((l) => l.startsWith('{"seq":2,'));
    lines[i] = lines[i]!.replace('"event":{', '"event":{"effect":"allow",');
    const dup = await verifyBundle(lines.join('\n') + '\n', { publicKeys });
    expect(dup).toMatchObject({ ok: false, firstBad: { seq: 2, problem: 'malformed' } });
    // A huge integer written other than as the export writes it (not what was hashed) is refused too.
    const lines2 = text.trimEnd().split('\n');
    lines2[i] = lines2[i]!.replace(/"refundSumAfter":(\d+)/, '"refundSumAfter":$1.0');
    const reworded = await verifyBundle(lines2.join('\n') + '\n', { publicKeys });
    expect(reworded).toMatchObject({ ok: false, firstBad: { seq: 2 } });
  });
});

describe('F5: an integer beyond 2^53 − 1 alone (a usage sum)', () => {
  it('verifies in the store and in its bundle alike', async () => {
    const store = createMemoryStore();
    const keys = createEphemeralKeys();
    const { log, clock } = ownLog(store, keys, 5);
    for (let i = 1; i <= 5; i++) {
      clock.advance(1000);
      await log.append(decisionEvent(i, { data: { i, usage: { refundSumAfter: 2 ** 60 + i * 4096 } } }));
    }
    clock.advance(1000);
    await log.close();
    const publicKeys = { [keys.signer.keyId]: keys.publicKeyPem };
    expect(await verifyAudit(store, { publicKeys })).toMatchObject({ ok: true, records: 5 });
    const r = await verifyBundle(await bundleOf(store, keys.publicKeyPem), { publicKeys });
    expect(r.firstBad).toBeUndefined();
    expect(r).toMatchObject({ ok: true, records: 5 });
  });
});

/** The audit section of a config with a mirror file, as verifyAsConfigured reads it. */
function auditConfig(mirror: string): Config['audit'] {
  return { checkpointEvery: 5, checkpointMirror: { file: mirror } } as unknown as Config['audit'];
}

describe('F6: a configured checkpoint mirror that is missing', () => {
  it('fails verify, saying the mirror is missing; with the file there it verifies', async () => {
    const dir = tempDir('mandate-mirror-missing-');
    const mirror = join(dir, 'checkpoints.jsonl');
    const { store, publicKeys } = await seedLog(20, 5);
    writeFileSync(mirror, (await store.listCheckpoints()).map((cp) => checkpointLine(cp) + '\n').join(''));
    expect(await verifyAsConfigured(store, auditConfig(mirror), { publicKeys })).toMatchObject({ ok: true });

    // Cut back to record 10 with the store's later checkpoints, and the mirror file removed.
    const cut = await tampered(store, (records, cps) => {
      records.splice(10);
      cps.splice(0, cps.length, ...cps.filter((cp: AuditCheckpoint) => cp.seq <= 10));
    });
    rmSync(mirror);
    const r = await verifyAsConfigured(cut, auditConfig(mirror), { publicKeys });
    expect(r).toMatchObject({
      ok: false,
      firstBad: { problem: 'checkpoint_missing', message: expect.stringMatching(/mirror .* is missing/) },
    });
  });

  it('a store with no checkpoints yet (nothing the mirror would hold) is not failed for it', async () => {
    const mirror = join(tempDir('mandate-mirror-missing-'), 'checkpoints.jsonl');
    const r = await verifyAsConfigured(createMemoryStore(), auditConfig(mirror), { publicKeys: {} });
    expect(r).toMatchObject({ ok: true, records: 0 });
  });
});

describe('F1: the newest mirror checkpoint of a key the node does not hold', () => {
  it('a chain rewritten at rest under it fails the first check; the true chain passes', async () => {
    const { store, keys } = await seedLog(20, 5);
    const old = await store.listCheckpoints();
    const fresh = createEphemeralKeys();
    const freshKeys = { [fresh.signer.keyId]: fresh.publicKeyPem };
    const mirror = async () => ({ checkpoints: old, findings: [] });
    // The fresh key (a takeover) over the untouched chain: the old key's checkpoints agree.
    const good = quietTailVerifier({ source: store, publicKeys: freshKeys, trustedCheckpoints: mirror });
    expect((await good.check()).ok).toBe(true);

    // Record 12 rewritten, relinked to the head, and one checkpoint row of the fresh key over it.
    const forged = await tampered(store, (records, cps) => {
      const r = records[11]!;
      r.eventText = canonicalize({ ...(JSON.parse(r.eventText) as object), effect: 'allow' });
      r.columns = { ...r.columns, effect: 'allow' };
      rechain(records, 11);
      const head = records.at(-1)!;
      const body = {
        seq: head.seq,
        hash: head.hash,
        time: '2026-01-05T12:00:00.000Z',
        keyId: fresh.signer.keyId,
      };
      cps.splice(0, cps.length, { ...body, signature: fresh.signer.sign(canonicalize(body)) });
    });
    const bad = quietTailVerifier({ source: forged, publicKeys: freshKeys, trustedCheckpoints: mirror });
    expect(await bad.check()).toMatchObject({
      ok: false,
      failure: {
        seq: 20,
        problem: 'checkpoint_mismatch',
        message: expect.stringContaining(keys.signer.keyId),
      },
    });
  });
});
