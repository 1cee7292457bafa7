// The writer remembers what it committed: a record it wrote, rewritten (every later hash
// recomputed) or deleted after it wrote it, is found before it signs — also when another node has
// appended since, so the record is no longer the head (a probe rewrote the newest allow within the
// tail check's interval and the node signed the forged chain).
import type { AuditCheckpoint } from '@mandate/protocol';
import { describe, expect, it, vi } from 'vitest';
import { createAuditLog, type AuditLog, type AuditLogOptions } from '../../src/audit/log.js';
import { createEphemeralKeys, type AuditSigner } from '../../src/audit/keys.js';
import type { Finding } from '../../src/audit/verify-checkpoints.js';
import { createRecordSealer } from '../../src/audit/seal.js';

/** The deployment's seal key: every writer of one chain holds it. */
const SEAL_KEY = createEphemeralKeys().sealKey;
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import type { Store, StoredAuditRecord } from '../../src/storage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { at, decisionEvent, rechain, tampered } from './helpers.js';

/** A log on `store` for node `nodeId`, a cadence that never fires, its findings pushed to `findings`. */
function logOn(
  store: Store,
  nodeId: string,
  signer: AuditSigner,
  findings: Finding[],
  more: Partial<AuditLogOptions> = {},
): AuditLog {
  return createAuditLog({
    store,
    clock: createManualClock(),
    logger: silentLogger,
    nodeId,
    signer,
    sealer: createRecordSealer(SEAL_KEY),
    checkpointEvery: 1000,
    checkpointIntervalMs: 3_600_000,
    onTampered: async (f) => findings.push(f),
    ...more,
  });
}

/** Two logs on one chain; node a's reads go through `view` once it is set (a DB admin's edit). */
/** A store whose chain reads go through `view` once it is set (a DB admin's edit of `inner`). */
function viewed(inner: Store): { seen: Store; set(view: Store): void } {
  let view: Store | null = null;
  const seen: Store = {
    ...inner,
    readAudit: (after, limit) => (view ?? inner).readAudit(after, limit),
    auditHead: () => (view ?? inner).auditHead(),
  };
  return { seen, set: (v) => void (view = v) };
}

function twoNodes() {
  const inner = createMemoryStore();
  const { seen, set } = viewed(inner);
  const keys = createEphemeralKeys();
  const findings: Finding[] = [];
  const log = (nodeId: string, store: Store) => logOn(store, nodeId, keys.signer, findings);
  return {
    inner,
    a: log('a', seen),
    b: log('b', inner),
    findings,
    async edit(fn: (rs: StoredAuditRecord[], cps: AuditCheckpoint[]) => void) {
      set(await tampered(inner, fn));
    },
  };
}

describe('the writer signs only a chain whose own records are what it wrote', () => {
  it("node a's record 3 rewritten and relinked to the head node b wrote: a signs nothing, its finding names 3", async () => {
    const n = twoNodes();
    for (let i = 1; i <= 5; i++) await n.a.append(decisionEvent(i));
    for (let i = 6; i <= 8; i++) await n.b.append(decisionEvent(i));
    await n.edit((rs) => {
      const r = rs[at(rs, 3)]!;
      r.eventText = r.eventText.replace('"payments.refund"', '"payments.refun"');
      rechain(rs, at(rs, 3));
    });
    await expect(n.a.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(n.findings).toMatchObject([{ seq: 3, problem: 'hash_mismatch' }]);
    expect(await n.inner.listCheckpoints()).toEqual([]);
  });

  it('node b may sign the same chain untouched; node a too', async () => {
    const n = twoNodes();
    for (let i = 1; i <= 5; i++) await n.a.append(decisionEvent(i));
    for (let i = 6; i <= 8; i++) await n.b.append(decisionEvent(i));
    await expect(n.a.checkpoint()).resolves.toMatchObject({ seq: 8 });
    await expect(n.b.checkpoint()).resolves.toMatchObject({ seq: 8 });
    expect(n.findings).toEqual([]);
  });

  it('the tail check already past the head read for the checkpoint (another node appended since): no false finding', async () => {
    const inner = createMemoryStore();
    const keys = createEphemeralKeys();
    const findings: Finding[] = [];
    let stale: { seq: number; hash: string } | null = null;
    let verified: { seq: number; hash: string } | null = null;
    const mk = (nodeId: string, store: Store, more: Partial<AuditLogOptions> = {}) =>
      logOn(store, nodeId, keys.signer, findings, more);
    const a = mk(
      'a',
      { ...inner, auditHead: async () => stale ?? inner.auditHead() },
      { verifiedHead: () => verified },
    );
    const b = mk('b', inner);
    for (let i = 1; i <= 3; i++) await a.append(decisionEvent(i));
    stale = await inner.auditHead();
    for (let i = 4; i <= 5; i++) await b.append(decisionEvent(i));
    const [r5] = await inner.readAudit(4, 1);
    verified = { seq: r5!.seq, hash: r5!.hash };
    await expect(a.checkpoint()).resolves.toMatchObject({ seq: 3 });
    expect(findings).toEqual([]);
  });

  it('a record deleted between the last checkpoint and what the tail check verified: found before signing', async () => {
    // A probe deleted (or swapped, or relinked) records below the last record the tail check had
    // verified but above the node's last checkpoint: the walk before signing started at the
    // verified record, so the node signed checkpoints over the broken chain and /readyz said ok.
    const inner = createMemoryStore();
    const { seen, set } = viewed(inner);
    let verified: { seq: number; hash: string } | null = null;
    const findings: Finding[] = [];
    const a = logOn(seen, 'a', createEphemeralKeys().signer, findings, { verifiedHead: () => verified });
    for (let i = 1; i <= 3; i++) await a.append(decisionEvent(i));
    await expect(a.checkpoint()).resolves.toMatchObject({ seq: 3 });
    for (let i = 4; i <= 8; i++) await a.append(decisionEvent(i));
    const [r7] = await inner.readAudit(6, 1);
    verified = { seq: r7!.seq, hash: r7!.hash };
    // The allow-path twin: untouched, the same node signs the head.
    await expect(a.checkpoint()).resolves.toMatchObject({ seq: 8 });
    for (let i = 9; i <= 12; i++) await a.append(decisionEvent(i));
    const [r11] = await inner.readAudit(10, 1);
    verified = { seq: r11!.seq, hash: r11!.hash };
    set(
      await tampered(inner, (rs) => {
        rs.splice(at(rs, 10), 1);
      }),
    );
    await expect(a.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(findings).toMatchObject([{ seq: 10, problem: 'sequence_gap' }]);
    expect((await inner.listCheckpoints()).map((c) => c.seq)).toEqual([3, 8]);
  });

  it("node a's records deleted down to one below them: truncated", async () => {
    const n = twoNodes();
    for (let i = 1; i <= 5; i++) await n.a.append(decisionEvent(i));
    await n.edit((rs) => {
      rs.splice(at(rs, 4));
    });
    await expect(n.a.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(n.findings).toMatchObject([{ seq: 4, problem: 'truncated' }]);
  });

  it('checkpointFirstBatch: the first batch is signed at once, whatever the cadence (without it, not)', async () => {
    // A start takes up a chain only with a key that signed some of it: records of a node whose key
    // had signed nothing yet kept a CLI run against the same store waiting, then refused.
    for (const first of [true, false]) {
      const store = createMemoryStore();
      const log = logOn(store, 'n', createEphemeralKeys().signer, [], { checkpointFirstBatch: first });
      await log.append(decisionEvent(1));
      await log.append(decisionEvent(2));
      if (first) await vi.waitFor(async () => expect(await store.listCheckpoints()).toHaveLength(1));
      else expect(await store.listCheckpoints()).toEqual([]);
      expect((await store.listCheckpoints()).map((c) => c.seq)).toEqual(first ? [1] : []);
    }
  });
});
