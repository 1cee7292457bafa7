import type { AuditVerifyResult } from '@mandate/protocol';
import { describe, expect, it } from 'vitest';
import { sealEvents, recordHash } from '../../src/audit/chain.js';
import { createEphemeralKeys } from '../../src/audit/keys.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { canonicalize } from '../../src/kernel/index.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { at, decisionEvent, rechain, seedLog, tampered } from './helpers.js';

/** 20 records, checkpoints at 5, 10, 15, 20 and a final one at 20. */
const N = 20;

function expectBad(result: AuditVerifyResult, seq: number, problem: string, message?: RegExp): void {
  expect(result.ok).toBe(false);
  expect(result.firstBad).toMatchObject({ seq, problem });
  if (message) expect(result.firstBad!.message).toMatch(message);
}

describe('verifyAudit: a clean log', () => {
  it('verifies with ok: true, counting records and checkpoints', async () => {
    const { store, publicKeys } = await seedLog(N);
    const progress: number[] = [];
    const result = await verifyAudit(store, {
      publicKeys,
      batchSize: 7,
      onProgress: (n) => progress.push(n),
    });
    expect(result).toEqual({
      ok: true,
      records: N,
      checkpoints: 5,
      head: await store.auditHead(),
    });
    expect(progress).toEqual([7, 14, 20]);
  });

  it('verifies an empty log', async () => {
    expect(await verifyAudit(createMemoryStore(), { publicKeys: {} })).toEqual({
      ok: true,
      records: 0,
      checkpoints: 0,
      head: null,
    });
  });

  it('accepts a checkpoint of the empty log', async () => {
    const store = createMemoryStore();
    const keys = createEphemeralKeys();
    const body = { seq: 0, hash: GENESIS_HASH, time: '2026-01-05T10:00:00.000Z', keyId: keys.signer.keyId };
    await store.appendCheckpoint({ ...body, signature: keys.signer.sign(canonicalize(body)) });
    const result = await verifyAudit(store, { publicKeys: { [keys.signer.keyId]: keys.publicKeyPem } });
    expect(result).toMatchObject({ ok: true, checkpoints: 1 });
  });
});

describe('verifyAudit: tampering is found and located', () => {
  it('an edited event: hash_mismatch at that record', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const r = rs[at(rs, 7)]!;
      r.eventText = r.eventText.replace('"agent:support"', '"agent:mallory"');
    });
    const result = await verifyAudit(bad, { publicKeys });
    expectBad(result, 7, 'hash_mismatch', /^record 7: stored hash does not match its content/);
    expect(result.records).toBe(6);
    expect(result.head).toEqual({ seq: 6, hash: (await store.readAudit(5, 1))[0]!.hash });
  });

  it('an edited column only: index_mismatch at that record', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs[at(rs, 7)]!.columns.effect = 'deny';
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'index_mismatch', /record 7: column "effect"/);
  });

  it('a column nulled out: index_mismatch', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs[at(rs, 12)]!.columns.agent = null;
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 12, 'index_mismatch', /column "agent"/);
  });

  it('event text that is not canonical, even with the hashes recomputed: index_mismatch at that record', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      rs[i]!.eventText = JSON.stringify(JSON.parse(rs[i]!.eventText), null, 1);
      rechain(rs, i);
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'index_mismatch', /not a canonical JSON object/);
  });

  it('an edited event with its hash recomputed: chain_broken at the next record, naming the rewritten one', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const r = rs[at(rs, 7)]!;
      r.eventText = r.eventText.replace('"agent:support"', '"agent:mallory"');
      r.columns.agent = 'agent:mallory';
      r.hash = recordHash(r.seq, r.prevHash, r.eventText);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      8,
      'chain_broken',
      /record 8: does not link to record 7 .*record 7 rewritten/,
    );
  });

  it('a deleted record: sequence_gap naming the missing seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs.splice(at(rs, 7), 1);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      7,
      'sequence_gap',
      /^record 7: missing, the log goes from record 6 to 8 \(deleted\?\)/,
    );
  });

  it('several deleted records: sequence_gap naming the first missing seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs.splice(at(rs, 7), 3);
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'sequence_gap', /^records 7–9: missing/);
  });

  it('a deleted first record: sequence_gap at 1', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs.shift();
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 1, 'sequence_gap');
  });

  it('a deleted record with the later ones renumbered and rehashed: chain_broken at the first renumbered one', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const hashOfDeleted = rs[i]!.hash;
      rs.splice(i, 1);
      for (let j = i; j < rs.length; j++) rs[j]!.seq -= 1;
      rs[i]!.prevHash = hashOfDeleted; // untouched link of the record that followed the deleted one
      for (let j = i; j < rs.length; j++) {
        if (j > i) rs[j]!.prevHash = rs[j - 1]!.hash;
        rs[j]!.hash = recordHash(rs[j]!.seq, rs[j]!.prevHash, rs[j]!.eventText);
      }
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      7,
      'chain_broken',
      /record 7: does not link to record 6/,
    );
  });

  it('an inserted record, valid in itself, with the later ones renumbered: chain_broken naming the inserted seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const [forged] = sealEvents({ seq: 6, hash: rs[i - 1]!.hash }, [
        decisionEvent(99, { effect: 'allow' }),
      ]);
      for (let j = i; j < rs.length; j++) rs[j]!.seq += 1;
      rs.splice(i, 0, forged!);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      7,
      'chain_broken',
      /^record 7: not part of the chain, record 8 links past it to record 6 \(inserted\?\)/,
    );
  });

  it('several inserted records: chain_broken naming the first inserted seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const forged = sealEvents({ seq: 6, hash: rs[i - 1]!.hash }, [decisionEvent(98), decisionEvent(99)]);
      for (let j = i; j < rs.length; j++) rs[j]!.seq += 2;
      rs.splice(i, 0, ...forged);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      7,
      'chain_broken',
      /^records 7–8: not part of the chain/,
    );
  });

  it('an inserted record with a made-up hash: hash_mismatch at the inserted seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const [forged] = sealEvents({ seq: 6, hash: rs[i - 1]!.hash }, [decisionEvent(99)]);
      forged!.hash = 'ab'.repeat(32);
      for (let j = i; j < rs.length; j++) rs[j]!.seq += 1;
      rs.splice(i, 0, forged!);
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'hash_mismatch');
  });

  it('an inserted record that reuses a seq: out_of_order at that seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const [forged] = sealEvents({ seq: 6, hash: rs[i - 1]!.hash }, [decisionEvent(99)]);
      rs.splice(i, 0, forged!);
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'out_of_order', /record 7: comes after record 7/);
  });

  it('two records swapped (contents exchanged between seqs): chain_broken at the first of them', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const a = rs[i]!;
      const b = rs[i + 1]!;
      rs[i] = { ...b, seq: a.seq };
      rs[i + 1] = { ...a, seq: b.seq };
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'chain_broken');
  });

  it('two records swapped in storage order: out_of_order naming the displaced seq', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      [rs[i], rs[i + 1]] = [rs[i + 1]!, rs[i]!];
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 7, 'out_of_order', /record 7: appears after record 8/);
  });

  it('a truncated tail: truncated, naming the first record cut off', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs.splice(at(rs, 18));
    });
    const result = await verifyAudit(bad, { publicKeys });
    expectBad(
      result,
      18,
      'truncated',
      /^records 18–20: missing, the log ends at record 17 but a checkpoint .* covers record 20/,
    );
    expect(result.records).toBe(17);
  });

  it('a log truncated to nothing: truncated at 1', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs.length = 0;
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 1, 'truncated');
  });

  it('a first record that does not start from genesis: chain_broken at 1', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      rs[0]!.prevHash = 'f'.repeat(64);
      rs[0]!.hash = recordHash(1, rs[0]!.prevHash, rs[0]!.eventText);
      rechain(rs, 1);
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 1, 'chain_broken', /genesis/);
  });

  it('a chain rewritten from a record on by someone without the signing key: checkpoint_mismatch', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs) => {
      const i = at(rs, 7);
      const r = rs[i]!;
      r.eventText = r.eventText.replace('"allow"', '"deny"');
      r.columns.effect = 'deny';
      rechain(rs, i);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      10,
      'checkpoint_mismatch',
      /^record 10: does not match the checkpoint signed at .*; records after 5 up to 10 were rewritten/,
    );
  });

  it('a checkpoint edited after signing: checkpoint_signature', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (_rs, cps) => {
      const cp = cps.find((c) => c.seq === 15)!;
      cp.time = '2020-01-01T00:00:00.000Z';
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 15, 'checkpoint_signature', /signature is not valid/);
  });

  it('a checkpoint forged with another key under the real key id: checkpoint_signature', async () => {
    const { store, publicKeys, keys } = await seedLog(N);
    const other = createEphemeralKeys();
    const bad = await tampered(store, (rs, cps) => {
      // Cover up a truncation by re-signing the last checkpoint at the new end.
      rs.splice(at(rs, 18));
      const last = rs.at(-1)!;
      for (const cp of cps.filter((c) => c.seq > 17)) {
        const body = { seq: last.seq, hash: last.hash, time: cp.time, keyId: keys.signer.keyId };
        Object.assign(cp, body, { signature: other.signer.sign(canonicalize(body)) });
      }
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 17, 'checkpoint_signature');
  });

  it('a checkpoint signed by an unknown key: checkpoint_signature naming the key', async () => {
    const { store, publicKeys } = await seedLog(N);
    const other = createEphemeralKeys();
    const bad = await tampered(store, (rs, cps) => {
      const cp = cps.find((c) => c.seq === 10)!;
      const body = { seq: cp.seq, hash: cp.hash, time: cp.time, keyId: other.signer.keyId };
      Object.assign(cp, body, { signature: other.signer.sign(canonicalize(body)) });
    });
    expectBad(
      await verifyAudit(bad, { publicKeys }),
      10,
      'checkpoint_signature',
      new RegExp(`unknown key "${other.signer.keyId}"`),
    );
  });

  it('a checkpoint with a malformed signature: checkpoint_signature, not a crash', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (_rs, cps) => {
      cps[0]!.signature = 'not base64 at all!';
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 5, 'checkpoint_signature');
  });

  it('reports the earliest problem when a record and a checkpoint are both bad', async () => {
    const { store, publicKeys } = await seedLog(N);
    const bad = await tampered(store, (rs, cps) => {
      rs[at(rs, 12)]!.columns.user = 'user:bob';
      cps.find((c) => c.seq === 5)!.time = '2020-01-01T00:00:00.000Z';
    });
    expectBad(await verifyAudit(bad, { publicKeys }), 5, 'checkpoint_signature');
  });
});
