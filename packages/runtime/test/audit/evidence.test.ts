// Issue 8 §4: evidence that cannot be forged by deleting checkpoints. A database admin who deletes
// the tail and every checkpoint, or rewrites every record with recomputed hashes and deletes the
// checkpoints, left a chain that verified. Each case below failed before the cadence, the mirror
// file, the expected head, the bundle and the tail check.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditVerifyResult } from '@mandate/protocol';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { exportBundle, readBundle, verifyBundle } from '../../src/audit/bundle.js';
import { createEphemeralKeys } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import { createRecordSealer } from '../../src/audit/seal.js';
import { createFileMirror, readCheckpointFile, readCheckpointFileDetailed } from '../../src/audit/mirror.js';
import { checkpointMirrors, createEvidence } from '../../src/app/evidence.js';
import { loadConfig } from '../../src/config/index.js';
import { verifyAudit, type AuditSource } from '../../src/audit/verify.js';
import { createManualClock, isMandateError, silentLogger } from '../../src/kernel/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { at, decisionEvent, rechain, seedLog, tampered } from './helpers.js';

const dirs: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'mandate-evidence-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function expectBad(result: AuditVerifyResult, seq: number, problem: string, message?: RegExp): void {
  expect(result.ok, JSON.stringify(result.firstBad)).toBe(false);
  expect(result.firstBad).toMatchObject({ seq, problem });
  if (message) expect(result.firstBad!.message).toMatch(message);
}

/** 20 records with a checkpoint every 5, mirrored to a file. */
async function seedMirrored() {
  const file = join(temp(), 'checkpoints.jsonl');
  const seeded = await seedLog(20, 5, [createFileMirror(file)]);
  return { ...seeded, file };
}

describe('verify expects checkpoints at the cadence', () => {
  it('passes a clean log whose checkpoints keep the cadence', async () => {
    const { store, publicKeys } = await seedLog(20);
    expect(await verifyAudit(store, { publicKeys, maxGap: 5 })).toMatchObject({ ok: true, records: 20 });
  });

  it('delete the tail, then every checkpoint: checkpoint_missing (it verified ok before)', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (rs, cps) => {
      rs.splice(at(rs, 14));
      cps.splice(0);
    });
    // Without a cadence this is what verify said on main: nothing left to contradict the chain.
    expect(await verifyAudit(bad, { publicKeys })).toMatchObject({ ok: true, records: 13 });
    expectBad(
      await verifyAudit(bad, { publicKeys, maxGap: 5 }),
      6,
      'checkpoint_missing',
      /^records 1–13: 13 records and no signed checkpoint, at most 5 expected/,
    );
  });

  it('rewrite every record with recomputed hashes, then delete the checkpoints: checkpoint_missing', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (rs, cps) => {
      const r = rs[at(rs, 3)]!;
      r.eventText = r.eventText.replace('"agent:support"', '"agent:mallory"');
      r.columns.agent = 'agent:mallory';
      rechain(rs, 0);
      cps.splice(0);
    });
    expect(await verifyAudit(bad, { publicKeys })).toMatchObject({ ok: true });
    expectBad(await verifyAudit(bad, { publicKeys, maxGap: 5 }), 6, 'checkpoint_missing');
  });

  it('checkpoints deleted in the middle: checkpoint_missing naming the stretch', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (_rs, cps) => {
      cps.splice(0, cps.length, ...cps.filter((cp) => cp.seq === 5 || cp.seq === 20));
    });
    expectBad(
      await verifyAudit(bad, { publicKeys, maxGap: 5 }),
      11,
      'checkpoint_missing',
      /^records 6–20: 15 records without a signed checkpoint after the one at record 5/,
    );
  });

  it('a tail longer than the cadence past the last checkpoint: checkpoint_missing', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (_rs, cps) => {
      cps.splice(0, cps.length, ...cps.filter((cp) => cp.seq <= 10));
    });
    expectBad(
      await verifyAudit(bad, { publicKeys, maxGap: 5 }),
      16,
      'checkpoint_missing',
      /records 11–20: 10 records past the last signed checkpoint \(record 10\)/,
    );
  });

  it('does not count a checkpoint with a bad signature: that one is reported', async () => {
    const { store, publicKeys } = await seedLog(20);
    const bad = await tampered(store, (_rs, cps) => {
      cps[0]!.signature = cps[1]!.signature;
    });
    expectBad(await verifyAudit(bad, { publicKeys, maxGap: 5 }), 5, 'checkpoint_signature');
  });
});

describe('the writer keeps the cadence on the chain, whatever the number of nodes', () => {
  it('two nodes appending to one chain: a checkpoint at each multiple of checkpointEvery', async () => {
    const store = createMemoryStore();
    const keys = createEphemeralKeys();
    const clock = createManualClock();
    const logs = ['a', 'b'].map((nodeId) =>
      createAuditLog({
        store,
        clock,
        logger: silentLogger,
        nodeId,
        signer: keys.signer,
        sealer: createRecordSealer(keys.sealKey),
        checkpointEvery: 10,
        checkpointIntervalMs: 3_600_000,
      }),
    );
    for (let i = 1; i <= 40; i++) await logs[i % 2]!.append(decisionEvent(i));
    await logs[0]!.flush();
    // A per-node count checkpointed every 10 of each node's own events: every 20 on the chain. The
    // checkpoint after the last batch is written after its append resolved (and after the writer
    // checked its own records under it).
    await vi.waitFor(async () => expect((await store.listCheckpoints()).length).toBe(4));
    expect((await store.listCheckpoints()).map((cp) => cp.seq)).toEqual([10, 20, 30, 40]);
    const publicKeys = { [keys.signer.keyId]: keys.publicKeyPem };
    expect(await verifyAudit(store, { publicKeys, maxGap: 10 })).toMatchObject({ ok: true });
    for (const l of logs) await l.close();
  });
});

describe('checkpoints mirrored to an append-only file', () => {
  it('writes each checkpoint to the file as it is made, the same as in the store', async () => {
    const { store, file } = await seedMirrored();
    const mirrored = await readCheckpointFile(file);
    expect(mirrored.map((cp) => cp.seq)).toEqual([5, 10, 15, 20, 20]);
    expect(mirrored).toEqual(await store.listCheckpoints());
  });

  it('rewrite with recomputed hashes + delete the checkpoints: checkpoint_mismatch against the file', async () => {
    const { store, publicKeys, file } = await seedMirrored();
    const bad = await tampered(store, (rs, cps) => {
      const r = rs[at(rs, 3)]!;
      r.eventText = r.eventText.replace('"agent:support"', '"agent:mallory"');
      r.columns.agent = 'agent:mallory';
      rechain(rs, 0);
      cps.splice(0);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys, checkpoints: await readCheckpointFile(file) }),
      5,
      'checkpoint_mismatch',
      /^record 5: does not match the checkpoint signed at/,
    );
  });

  it('delete the tail + the checkpoints: truncated against the file', async () => {
    const { store, publicKeys, file } = await seedMirrored();
    const bad = await tampered(store, (rs, cps) => {
      rs.splice(at(rs, 14));
      cps.splice(0);
    });
    expectBad(
      await verifyAudit(bad, { publicKeys, checkpoints: await readCheckpointFile(file) }),
      14,
      'truncated',
      /^records 14–15: missing, the log ends at record 13/,
    );
  });

  it('skips a last line torn by a crash, and refuses an edited line naming it', async () => {
    const { file } = await seedMirrored();
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text + '{"seq":25,"ha');
    expect(await readCheckpointFile(file)).toHaveLength(5);
    writeFileSync(file, text.replace('"seq":10', '"seq":"10"'));
    const err = await readCheckpointFile(file).catch((e: unknown) => e);
    expect(isMandateError(err) && err.code).toBe('bad_request');
    expect((err as Error).message).toMatch(/line 2: not a checkpoint/);
  });

  it('a line torn by a crash is ended before the next append: the mirror keeps working (probe)', async () => {
    // The next checkpoint joined the torn line; the file no longer parsed, and the mirror was lost
    // for every later check.
    const { file, store } = await seedMirrored();
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text + '{"seq":25,"ha');
    const [cp] = await store.listCheckpoints({ order: 'desc', limit: 1 });
    const mirror = createFileMirror(file);
    await mirror.write({ ...cp!, seq: 30 });
    await mirror.close();
    const read = await readCheckpointFileDetailed(file);
    expect(read.torn).toEqual([6]);
    expect(read.checkpoints.map((c) => c.seq)).toEqual([5, 10, 15, 20, 20, 30]);
    // Torn this early too; but a line that is not the start of a checkpoint line is an edit.
    writeFileSync(file, text + '{"s\n' + readFileSync(file, 'utf8').split('\n').at(-2)! + '\n');
    expect((await readCheckpointFileDetailed(file)).torn).toEqual([6]);
    for (const edit of ['\n', '{"seq":25}\n', 'x{"seq":25,"ha\n']) {
      writeFileSync(file, text + edit + text);
      const err = await readCheckpointFile(file).catch((e: unknown) => e);
      expect((err as Error).message, JSON.stringify(edit)).toMatch(/line 6: not a checkpoint/);
    }
  });

  it("an edited mirror is the tail check's finding at the first check, not an outage (probe)", async () => {
    const { file, store, publicKeys } = await seedMirrored();
    writeFileSync(file, readFileSync(file, 'utf8').replace('"seq":10', '"seq":"10"'));
    const failures: unknown[] = [];
    const { config } = loadConfig({}, {}, temp());
    const evidence = createEvidence({
      audit: { ...config.audit, checkpointMirror: { file }, verifyIntervalMs: 0 },
      store: store as never,
      clock: createManualClock(),
      logger: silentLogger,
      nodeId: 'n',
      publicKeys,
      sealer: createRecordSealer(createEphemeralKeys().sealKey),
      record: async (e) => failures.push(e),
    });
    const status = await evidence.tail.check();
    expect(status.ok).toBe(false);
    expect(failures).toMatchObject([{ type: 'audit.verify_failed', data: { problem: 'malformed' } }]);
    await evidence.close();
  });

  it('a mirror that cannot be written is counted and logged; the log goes on', async () => {
    const dir = temp(); // a directory is not a file: every write fails
    const store = createMemoryStore();
    const keys = createEphemeralKeys();
    const log = createAuditLog({
      store,
      clock: createManualClock(),
      logger: silentLogger,
      nodeId: 'n',
      signer: keys.signer,
      sealer: createRecordSealer(keys.sealKey),
      checkpointEvery: 2,
      checkpointIntervalMs: 3_600_000,
      mirrors: [createFileMirror(dir)],
    });
    for (let i = 1; i <= 4; i++) await log.append(decisionEvent(i));
    await log.checkpoint();
    expect(log.stats().mirrorFailures).toBeGreaterThan(0);
    expect((await store.listCheckpoints()).length).toBeGreaterThan(0);
    await log.close();
  });
});

describe('checkpoints mirrored to a webhook', () => {
  it('POSTs each checkpoint as an audit.checkpoint event, signed', async () => {
    const got: { headers: Record<string, unknown>; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cp`;
      const { config } = loadConfig({}, {}, temp());
      config.audit.checkpointMirror = {
        webhook: { url, secret: 'a-secret-of-16-chars', maxAttempts: 1, backoffMs: 10, timeoutMs: 2000 },
      };
      const mirrors = checkpointMirrors(config.audit, { clock: createManualClock(), logger: silentLogger });
      const { store } = await seedLog(5, 5, mirrors);
      const cps = await store.listCheckpoints();
      expect(got.map((g) => g.headers['x-mandate-event'])).toEqual(cps.map(() => 'audit.checkpoint'));
      expect(got.map((g) => (JSON.parse(g.body) as { data: unknown }).data)).toEqual(cps);
      expect(got[0]!.headers['x-mandate-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    } finally {
      server.close();
    }
  });
});

describe('verify against a head an auditor kept', () => {
  it('passes when the chain still holds it', async () => {
    const { store, publicKeys } = await seedLog(20);
    const [r] = await store.readAudit(11, 1);
    expect(await verifyAudit(store, { publicKeys, expectHeads: [{ seq: 12, hash: r!.hash }] })).toMatchObject(
      {
        ok: true,
      },
    );
  });

  it('a rewrite below it: head_mismatch; a cut tail: truncated', async () => {
    const { store, publicKeys } = await seedLog(20);
    const head = await store.auditHead();
    const rewritten = await tampered(store, (rs, cps) => {
      rs[at(rs, 18)]!.eventText = rs[at(rs, 18)]!.eventText.replace('"node-1"', '"node-2"');
      rechain(rs, 0);
      cps.splice(0);
    });
    expectBad(await verifyAudit(rewritten, { publicKeys, expectHeads: [head] }), 20, 'head_mismatch');
    const cut = await tampered(store, (rs, cps) => {
      rs.splice(at(rs, 19));
      cps.splice(0);
    });
    expectBad(await verifyAudit(cut, { publicKeys, expectHeads: [head] }), 19, 'truncated');
  });
});

/** A bundle of `source`; with `signer`, attesting its last record as verified (or `head`). */
async function bundleWith(
  source: AuditSource,
  publicKeyPem: string,
  signer?: ReturnType<typeof createEphemeralKeys>['signer'],
  head?: { seq: number; hash: string },
): Promise<string> {
  const last = signer && !head ? (await source.readAudit(0, Number.MAX_SAFE_INTEGER)).at(-1)! : null;
  const verifiedHead = head ?? (last ? { seq: last.seq, hash: last.hash } : null);
  let text = '';
  await exportBundle(source, {
    publicKeys: [publicKeyPem],
    maxGap: 5,
    exportedAt: '2026-01-05T11:00:00.000Z',
    write: (c) => {
      text += c;
    },
    ...(signer && verifiedHead ? { attest: { signer, verifiedHead } } : {}),
  });
  return text;
}

// Found by a black-box probe: verify accepted a bundle no trusted key had signed, rewritten or
// wholly made up, as long as the header's own maxGap allowed it; the bundle is handed over by
// the party it is evidence against.
describe('a bundle is evidence as far as a trusted key signed it', () => {
  /** 23 records, the stored checkpoints up to record 20 only: the last 3 unsigned, as between two cadence points. */
  async function withUnsignedTail() {
    const seeded = await seedLog(23);
    const store = await tampered(seeded.store, (_, cps) => {
      const kept = cps.filter((cp) => cp.seq <= 20);
      cps.splice(0, cps.length, ...kept);
    });
    return { ...seeded, store };
  }

  it('made up whole, with no checkpoint and a header allowing any gap: unsigned_tail from record 1', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const bare = await tampered(store, (_, cps) => cps.splice(0));
    const text = (await bundleWith(bare, keys.publicKeyPem)).replace('"maxGap":5', '"maxGap":1000000000');
    expectBad(
      await verifyBundle(text, { publicKeys }),
      1,
      'unsigned_tail',
      /no checkpoint signed by a trusted key/,
    );
  });

  it('a record rewritten, the rest rehashed and their checkpoints dropped: unsigned_tail after the last signed one', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const forged = await tampered(store, (rs, cps) => {
      rs[at(rs, 18)]!.eventText = rs[at(rs, 18)]!.eventText.replace('"effect":"deny"', '"effect":"allow"');
      rechain(rs, at(rs, 18));
      cps.splice(0, cps.length, ...cps.filter((cp) => cp.seq < 18));
    });
    expectBad(
      await verifyBundle(await bundleWith(forged, keys.publicKeyPem), { publicKeys }),
      16,
      'unsigned_tail',
    );
  });

  it('a record appended after the signed head: unsigned_tail at that record', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const lines = (await bundleWith(store, keys.publicKeyPem)).trimEnd().split('\n');
    const forged = await tampered(store, (rs) => {
      rs.push({ ...rs.at(-1)!, seq: 21, eventText: rs.at(-1)!.eventText.replace('"dec_20"', '"dec_21"') });
      rechain(rs, rs.length - 1);
    });
    const record21 = (await bundleWith(forged, keys.publicKeyPem)).split('\n')[21]!;
    const text = [...lines.slice(0, 21), record21, ...lines.slice(21)].join('\n') + '\n';
    expectBad(await verifyBundle(text, { publicKeys }), 21, 'unsigned_tail', /records 21–21 \(1\)/);
  });

  it('an unsigned tail is accepted when asked, and counted', async () => {
    const { store, keys, publicKeys } = await withUnsignedTail();
    const text = await bundleWith(store, keys.publicKeyPem);
    expectBad(await verifyBundle(text, { publicKeys }), 21, 'unsigned_tail');
    expect(await verifyBundle(text, { publicKeys, allowUnsignedTail: true })).toMatchObject({
      ok: true,
      records: 23,
      unsignedRecords: 3,
    });
  });

  it("exported with the node's signer, the bundle ends with a checkpoint of its last record and verifies whole", async () => {
    const { store, keys, publicKeys } = await withUnsignedTail();
    const text = await bundleWith(store, keys.publicKeyPem, keys.signer);
    const last = JSON.parse(text.trimEnd().split('\n').at(-1)!) as {
      checkpoint: { seq: number; keyId: string };
    };
    expect(last.checkpoint).toMatchObject({ seq: 23, keyId: keys.signer.keyId });
    expect(await verifyBundle(text, { publicKeys })).toMatchObject({
      ok: true,
      records: 23,
      unsignedRecords: 0,
    });
    // That checkpoint holds the tail: a record under it rewritten and rehashed fails.
    const forged = await tampered(store, (rs) => {
      rs[at(rs, 22)]!.eventText = rs[at(rs, 22)]!.eventText.replace('"node-1"', '"node-9"');
      rechain(rs, at(rs, 22));
    });
    const records = (await bundleWith(forged, keys.publicKeyPem)).trimEnd().split('\n').slice(0, 24);
    const withHead = [...records, ...text.trimEnd().split('\n').slice(24)].join('\n') + '\n';
    expectBad(await verifyBundle(withHead, { publicKeys }), 23, 'checkpoint_mismatch');
    // Only the head that was verified is attested: the bundle stops there, and a record at that seq
    // with another hash (rewritten since it was verified) gets no signature.
    const upTo20 = await bundleWith(store, keys.publicKeyPem, keys.signer, { seq: 20, hash: 'x' });
    expect(
      upTo20
        .trimEnd()
        .split('\n')
        .filter((l) => l.startsWith('{"seq"')),
    ).toHaveLength(20);
    expect(
      upTo20
        .trimEnd()
        .split('\n')
        .filter((l) => l.includes('"seq":20,') && l.startsWith('{"checkpoint"')),
    ).toHaveLength((await store.listCheckpoints()).filter((cp) => cp.seq === 20).length);
    // A head the node already signed (with this key) is not signed again.
    const other = await seedLog(20);
    const again = await bundleWith(other.store, other.keys.publicKeyPem, other.keys.signer);
    const lines = again
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('{"checkpoint"'));
    expect(lines).toHaveLength((await other.store.listCheckpoints()).length);
  });
});

describe('evidence bundle', () => {
  it('holds a header with the keys, every record and the checkpoints, and verifies on its own', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const text = await bundleWith(store, keys.publicKeyPem);
    const lines = text.trimEnd().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      bundle: 'mandate.audit.bundle.v1',
      maxGap: 5,
      publicKeys: [{ keyId: keys.signer.keyId, pem: keys.publicKeyPem }],
    });
    expect(lines).toHaveLength(1 + 20 + 5);
    expect(await verifyBundle(text, { publicKeys })).toMatchObject({ ok: true, records: 20, checkpoints: 5 });
  });

  it('trusts only the keys given, never the bundle’s own', async () => {
    const { store, keys } = await seedLog(20);
    const other = createEphemeralKeys();
    const text = await bundleWith(store, keys.publicKeyPem);
    expectBad(
      await verifyBundle(text, { publicKeys: { [other.signer.keyId]: other.publicKeyPem } }),
      5,
      'checkpoint_signature',
      /unknown key/,
    );
  });

  it('one byte changed anywhere in a record fails verify, naming that record', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const text = await bundleWith(store, keys.publicKeyPem);
    const lines = text.split('\n');
    const lineNo = 7; // record 7
    const line = lines[lineNo]!;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      const swapped = /[0-8]/.test(c) ? String(Number(c) + 1) : c === '9' ? '0' : c === 'a' ? 'b' : 'a';
      const copy = [...lines];
      copy[lineNo] = line.slice(0, i) + swapped + line.slice(i + 1);
      const result = await verifyBundle(copy.join('\n'), { publicKeys });
      expect(result.ok, `byte ${i} (${c}→${swapped})`).toBe(false);
      expect(result.firstBad!.seq, `byte ${i}: ${result.firstBad!.message}`).toBe(7);
    }
  });

  it('records cut off the end with their checkpoints: checkpoint_missing from the stated cadence', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const lines = (await bundleWith(store, keys.publicKeyPem)).trimEnd().split('\n');
    const cut = [lines[0]!, ...lines.slice(1, 14)].join('\n') + '\n';
    expectBad(await verifyBundle(cut, { publicKeys }), 6, 'checkpoint_missing');
  });

  it('a line that is not a record: malformed, naming the line and the record', async () => {
    const { store, keys, publicKeys } = await seedLog(20);
    const lines = (await bundleWith(store, keys.publicKeyPem)).split('\n');
    lines[4] = '{"seq":4,"note":"hello"}';
    expectBad(
      await verifyBundle(lines.join('\n'), { publicKeys }),
      4,
      'malformed',
      /bundle line 5 \(record 4\)/,
    );
  });

  it('a header whose key does not match its id: malformed', async () => {
    const { store, keys, publicKeys } = await seedLog(5);
    const text = await bundleWith(store, keys.publicKeyPem);
    const bad = text.replace(keys.signer.keyId, '0000000000000000');
    expect(readBundle(bad).malformed).toMatchObject({ problem: 'malformed' });
    expect((await verifyBundle(bad, { publicKeys })).ok).toBe(false);
  });
});
