// Issue 8 §4 and issue 9 (audit items) over HTTP on SQLite: verify with the cadence and the
// checkpoint mirror, the node's continuous tail check in /readyz, /metrics and the trail, admin
// reads of the trail on the trail, and 400 for an unknown effect filter.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/audit/chain.js';
import { generateSigningKey } from '../../src/audit/keys.js';
import { canonicalize, createManualClock } from '../../src/kernel/index.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund, type Client } from '../fixtures/http.js';

afterAll(disposeAll);

interface Item {
  seq: number;
  event: { type: string; data: Record<string, unknown> };
}

async function start(opts: { mirror?: string | null; clock?: ReturnType<typeof createManualClock> } = {}) {
  const t = await createTestMandate({
    store: 'sqlite',
    ...(opts.clock ? { clock: opts.clock } : {}),
    config: (c) => {
      c.audit = {
        ...c.audit,
        checkpointEvery: 5,
        maxCheckpointGap: 10,
        verifyIntervalMs: 0, // the test drives the tail check
        ...(opts.mirror !== undefined ? { checkpointMirror: { file: opts.mirror } } : {}),
      };
    },
  });
  const api = client(t.url);
  for (let i = 0; i < 12; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.m.audit.checkpoint();
  return { t, api };
}

/** What a DB admin with a shell can do to the SQLite file. */
function withDb<T>(t: TestMandate, fn: (db: Database.Database) => T): T {
  const db = new Database(t.dbFile!);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Flips one allow to deny and rewrites every record after it with recomputed hashes. */
function rewriteWithRecomputedHashes(db: Database.Database): number {
  const rows = db.prepare('SELECT seq, event_text FROM audit_events ORDER BY seq').all() as {
    seq: number;
    event_text: string;
  }[];
  // The top-level effect, not the first "effect" in the text (the recorded policy inputs hold one too).
  const victim = rows.find((r) => (JSON.parse(r.event_text) as { effect?: string }).effect === 'allow')!;
  let prev = GENESIS_HASH;
  const update = db.prepare(
    'UPDATE audit_events SET event_text = ?, prev_hash = ?, hash = ?, effect = ? WHERE seq = ?',
  );
  const read = db.prepare('SELECT effect FROM audit_events WHERE seq = ?');
  for (const r of rows) {
    const text =
      r.seq === victim.seq
        ? canonicalize({ ...(JSON.parse(r.event_text) as Record<string, unknown>), effect: 'deny' })
        : r.event_text;
    const hash = recordHash(r.seq, prev, text);
    const effect = r.seq === victim.seq ? 'deny' : (read.get(r.seq) as { effect: string | null }).effect;
    update.run(text, prev, hash, effect, r.seq);
    prev = hash;
  }
  return victim.seq;
}

describe('GET /v1/audit/verify holds the chain to the cadence and the mirror', () => {
  let t: TestMandate;
  let api: Client;
  let mirror: string;
  beforeAll(async () => {
    mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    ({ t, api } = await start({ mirror }));
  });

  it('verifies a whole chain', async () => {
    expect(ok200(await api.get('/v1/audit/verify', KEYS.admin))).toMatchObject({ ok: true });
    expect(ok200(await api.get('/readyz'))).toMatchObject({ audit: 'ok' });
  });

  it('says on /metrics how far behind the head the continuous check ended', async () => {
    const status = await t.m.evidence.tail.check();
    const head = await t.m.store.auditHead();
    expect(status.unverified).toBe(head.seq - status.verifiedSeq);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^mandate_audit_chain_unverified_records ${status.unverified}$`, 'm'));
    expect(metrics).toMatch(
      new RegExp(
        `^mandate_audit_chain_history_unverified_records ${status.anchorSeq - status.historySeq}$`,
        'm',
      ),
    );
    expect(ok200(await api.get('/v1/overview', KEYS.admin)).audit.lastVerified).toEqual({
      seq: status.verifiedSeq,
      status: 'ok',
      historyUnverified: status.anchorSeq - status.historySeq,
    });
  });

  it('every record rewritten with recomputed hashes and every checkpoint deleted: fails against the mirror; the tail check flags it', async () => {
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    withDb(t, (db) => {
      rewriteWithRecomputedHashes(db);
      db.prepare('DELETE FROM audit_checkpoints').run();
    });
    const v = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(v.ok).toBe(false);
    expect(v.firstBad.problem).toBe('checkpoint_mismatch');

    // The full verify found it first: that finding is the node's (kept, recorded once); the tail
    // check finds the rewrite too.
    const status = await t.m.evidence.tail.check();
    expect(status.ok).toBe(false);
    const ready = await api.get('/readyz');
    expect(ready.body).toMatchObject({ audit: 'tampered', auditProblem: { problem: 'checkpoint_mismatch' } });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^mandate_audit_chain_ok 0$/m);
    const failed = ok200(await api.get('/v1/audit?type=audit.verify_failed', KEYS.admin)).items as Item[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.event.data).toMatchObject({ problem: 'checkpoint_mismatch' });
  });
});

describe('a chain rewritten while the node was down', () => {
  it('is found against the mirror at the first check, and the node signs no checkpoint over it', async () => {
    // A probe: restarted on a chain rehashed at rest with the store's checkpoints deleted, the node
    // verified it against the store alone, said ok, and signed the forged head into its mirror.
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t } = await start({ mirror });
    // Checkpoint lines: the node's signed note of its finding is a line of the file too.
    const mirrored = () =>
      readFileSync(mirror, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{"seq":')).length;
    await t.close();
    const before = mirrored();
    withDb(t, (db) => {
      rewriteWithRecomputedHashes(db);
      db.prepare('DELETE FROM audit_checkpoints').run();
    });
    const again = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, verifyIntervalMs: 0, checkpointMirror: { file: mirror } };
      },
    });
    const status = await again.m.evidence.tail.check();
    expect(status.ok).toBe(false);
    expect(status.failure).toMatchObject({ problem: 'checkpoint_mismatch' });
    await expect(again.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(mirrored()).toBe(before);
  });

  it('an untouched chain restarts fine against its mirror and goes on signing', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t } = await start({ mirror });
    await t.close();
    const again = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, verifyIntervalMs: 0, checkpointMirror: { file: mirror } };
      },
    });
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
    await expect(again.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
  });
});

/** Rewrites the amount of the newest decision (the head) and recomputes its hash, as a DB admin would. */
function rewriteNewest(db: Database.Database, amount: number): number {
  const r = db
    .prepare('SELECT seq, prev_hash, event_text FROM audit_events ORDER BY seq DESC LIMIT 1')
    .get() as {
    seq: number;
    prev_hash: string;
    event_text: string;
  };
  const ev = JSON.parse(r.event_text) as { data: { args: { amount: number } } };
  ev.data.args.amount = amount;
  const text = canonicalize(ev);
  db.prepare('UPDATE audit_events SET event_text = ?, hash = ? WHERE seq = ?').run(
    text,
    recordHash(r.seq, r.prev_hash, text),
    r.seq,
  );
  return r.seq;
}

describe('records the node wrote since its last check, changed while it runs', () => {
  // A probe: within the tail check's interval, the newest allow (a refund of 450) was rewritten to
  // 45 with its hash recomputed, or deleted; the node signed the forged head, its tail check took
  // it as the truth, verify and the view said ok/verified, and a deleted record's seq was reused.
  it("a rewrite: the next checkpoint is refused, and it is the node's finding (readyz, the trail)", async () => {
    const { t, api } = await start();
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    ok200(await api.decide(KEYS.supportBot, refund(450)));
    const seq = withDb(t, (db) => rewriteNewest(db, 45));
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    const status = await t.m.evidence.tail.check();
    expect(status.ok).toBe(false);
    expect(status.failure).toMatchObject({ seq, problem: 'hash_mismatch' });
    expect((await api.get('/readyz')).body).toMatchObject({ audit: 'tampered' });
    const failed = ok200(await api.get('/v1/audit?type=audit.verify_failed', KEYS.admin)).items as Item[];
    expect(failed).toHaveLength(1);
  });

  it("a rewrite is the tail check's finding too, before any checkpoint", async () => {
    const { t, api } = await start();
    ok200(await api.decide(KEYS.supportBot, refund(450)));
    const seq = withDb(t, (db) => rewriteNewest(db, 45));
    const status = await t.m.evidence.tail.check();
    expect(status.failure).toMatchObject({
      seq,
      problem: 'hash_mismatch',
      message: expect.stringMatching(/not what this node wrote/),
    });
  });

  it('the newest record deleted: the next decision finds it (its seq is not reused silently), no checkpoint is signed', async () => {
    const { t, api } = await start();
    ok200(await api.decide(KEYS.supportBot, refund(450)));
    const head = withDb(t, (db) => {
      const s = (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
      db.prepare('DELETE FROM audit_events WHERE seq = ?').run(s);
      return s;
    });
    ok200(await api.decide(KEYS.supportBot, refund(20)));
    await t.m.audit.flush();
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(t.m.evidence.tail.status().failure).toMatchObject({ seq: head, problem: 'truncated' });
  });

  it('records below the last checkpoint rewritten, relinked and one appended: no checkpoint over it', async () => {
    // A probe (round 2): the check before a checkpoint walked from the node's own first record
    // after its last checkpoint, never at what linked it to the head it had signed.
    const { t, api } = await start();
    const signed = await t.m.audit.checkpoint();
    withDb(t, (db) => {
      const rows = db.prepare('SELECT seq, prev_hash, event_text FROM audit_events ORDER BY seq').all() as {
        seq: number;
        prev_hash: string;
        event_text: string;
      }[];
      const victim = rows.at(-4)!;
      let prev = victim.prev_hash;
      const update = db.prepare(
        'UPDATE audit_events SET event_text = ?, prev_hash = ?, hash = ? WHERE seq = ?',
      );
      for (const r of rows.filter((x) => x.seq >= victim.seq)) {
        const text = r.seq === victim.seq ? r.event_text.replace('"c-42"', '"c-43"') : r.event_text;
        const hash = recordHash(r.seq, prev, text);
        update.run(text, prev, hash, r.seq);
        prev = hash;
      }
      const last = rows.at(-1)!;
      const seq = last.seq + 1;
      const text = last.event_text.replace(/"dec_[0-9A-Z]+"/g, '"dec_FORGED"');
      db.prepare(
        'INSERT INTO audit_events (seq, prev_hash, hash, event_text, type, time) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(seq, prev, recordHash(seq, prev, text), text, 'decision', new Date().toISOString());
    });
    expect(signed.seq).toBeGreaterThan(0);
    ok200(await api.decide(KEYS.supportBot, refund(20)));
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(t.m.evidence.tail.status().failure).toMatchObject({ seq: signed.seq, problem: 'hash_mismatch' });
  });

  it('the newest records deleted, then the node stopped: the finding is on the chain, not only on stderr', async () => {
    // A probe (round 2): the check before the closing checkpoint found it, but could not record
    // it ("the audit log is closed"); the restart said ok and reused the seqs.
    const { t, api } = await start();
    ok200(await api.decide(KEYS.supportBot, refund(450)));
    withDb(t, (db) => {
      const s = (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
      db.prepare('DELETE FROM audit_events WHERE seq = ?').run(s);
    });
    await t.close();
    const failed = withDb(t, (db) =>
      db.prepare(`SELECT event_text FROM audit_events WHERE type = 'audit.verify_failed'`).all(),
    ) as { event_text: string }[];
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0]!.event_text)).toMatchObject({ data: { problem: 'truncated' } });
  });

  it('untouched, the same steps sign and stay ok', async () => {
    const { t, api } = await start();
    ok200(await api.decide(KEYS.supportBot, refund(450)));
    ok200(await api.decide(KEYS.supportBot, refund(20)));
    await expect(t.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
  });
});

describe("GET /v1/audit/verify answers with the node's standing finding", () => {
  // A probe: the tail the check had verified, deleted while the node ran (after its newest
  // checkpoint, the mirror's too): /readyz said tampered (truncated) while verify, which reads only
  // the store and the mirror, answered ok.
  it('the verified tail deleted: /readyz tampered, and verify fails with the same finding', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t, api } = await start({ mirror });
    for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(300 + i)));
    await t.m.audit.flush();
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    const signed = withDb(t, (db) => {
      const cp = (db.prepare('SELECT max(seq) AS s FROM audit_checkpoints').get() as { s: number }).s;
      expect(db.prepare('DELETE FROM audit_events WHERE seq > ?').run(cp).changes).toBeGreaterThan(0);
      return cp;
    });
    const status = await t.m.evidence.tail.check();
    expect(status.failure).toMatchObject({ problem: 'truncated' });
    const ready = ok200(await api.get('/readyz'));
    expect(ready).toMatchObject({ audit: 'tampered', auditProblem: status.failure });
    const v = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(v).toMatchObject({ ok: false, firstBad: status.failure });
    expect(v.firstBad.seq).toBeGreaterThan(signed);
  });

  it('untouched, the same steps: verify ok and /readyz ok', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t, api } = await start({ mirror });
    for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(300 + i)));
    await t.m.audit.flush();
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    expect(ok200(await api.get('/readyz'))).toMatchObject({ audit: 'ok' });
    const v = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(v).toMatchObject({ ok: true });
    expect(v.firstBad).toBeUndefined();
  });
});

describe('a key directory emptied over a chain', () => {
  // A probe: chain rewritten at rest, checkpoints deleted, key files deleted, node restarted: it
  // made a new key, had no checkpoint of that key to hold the chain to, said ok, and signed it.
  it('is refused at start (conflict), naming the way out; nothing is appended', async () => {
    const { t } = await start();
    await t.close();
    const head = withDb(t, (db) => {
      rewriteWithRecomputedHashes(db);
      db.prepare('DELETE FROM audit_checkpoints').run();
      return (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
    });
    rmSync(join(t.dir, 'keys', 'audit-signing.pem'));
    rmSync(join(t.dir, 'keys', 'audit-signing.pub.pem'));
    const err = await createTestMandate({ reuse: t }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'conflict', message: expect.stringMatching(/--new-signing-key/) });
    expect(
      withDb(t, (db) => (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s),
    ).toBe(head);
    expect(existsSync(join(t.dir, 'keys', 'audit-signing.pem'))).toBe(false);
  });

  it('with --new-signing-key the start goes on, recorded as audit.signing_key_created over the head it found', async () => {
    const { t } = await start();
    await t.close();
    const head = withDb(
      t,
      (db) => (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s,
    );
    rmSync(join(t.dir, 'keys', 'audit-signing.pem'));
    rmSync(join(t.dir, 'keys', 'audit-signing.pub.pem'));
    const again = await createTestMandate({ reuse: t, newSigningKey: true });
    const created = ok200(await client(again.url).get('/v1/audit?type=audit.signing_key_created', KEYS.admin))
      .items as Item[];
    expect(created).toHaveLength(1);
    expect(created[0]!.event.data).toMatchObject({ headSeq: head, keyId: expect.any(String) });
  });

  it('a fresh key pair put in the directory (not deleted) is refused too: it signed none of the chain', async () => {
    // A probe (round 2) got past the first fix this way: it asked only whether a key was there.
    const { t } = await start();
    await t.close();
    const fresh = generateSigningKey();
    writeFileSync(join(t.dir, 'keys', 'audit-signing.pem'), fresh.privateKeyPem);
    writeFileSync(join(t.dir, 'keys', 'audit-signing.pub.pem'), fresh.publicKeyPem);
    const err = await createTestMandate({ reuse: t }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/signed none of this chain/),
    });
  });

  it('every record wiped and the keys deleted, the mirror kept: refused (the mirror is history too)', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t } = await start({ mirror });
    await t.close();
    withDb(t, (db) => {
      db.prepare('DELETE FROM audit_events').run();
      db.prepare('DELETE FROM audit_checkpoints').run();
    });
    rmSync(join(t.dir, 'keys'), { recursive: true });
    const err = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = { ...c.audit, checkpointMirror: { file: mirror } };
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'conflict', message: expect.stringMatching(/checkpoint mirror/) });
  });

  it('a first start signs its first checkpoint at once: a node stopped hard after it is not refused for want of one', async () => {
    const t = await createTestMandate();
    const own = withDb(
      t,
      (db) => db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get() as { n: number },
    );
    expect(own.n).toBeGreaterThan(0);
    await t.close();
    withDb(t, (db) => db.prepare('DELETE FROM audit_checkpoints WHERE ord > 1').run());
    const again = await createTestMandate({ reuse: t });
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
  });

  it('a key directory holding its key restarts as before', async () => {
    const { t } = await start();
    await t.close();
    const again = await createTestMandate({ reuse: t });
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
  });
});

describe('GET /v1/audit/verify without a mirror (turned off): the cadence alone', () => {
  it('the tail deleted and then every checkpoint: checkpoint_missing', async () => {
    const { t, api } = await start({ mirror: null });
    expect(existsSync(join(t.dir, 'keys', 'checkpoints.jsonl'))).toBe(false);
    withDb(t, (db) => {
      const head = (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
      db.prepare('DELETE FROM audit_events WHERE seq > ?').run(head - 3);
      db.prepare('DELETE FROM audit_checkpoints').run();
    });
    const v = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ seq: 11, problem: 'checkpoint_missing' });
  });
});

describe('admin reads of the trail are on the trail, bounded', () => {
  const clock = createManualClock();
  let api: Client;
  beforeAll(async () => {
    ({ api } = await start({ clock }));
  });
  const reads = async () =>
    (ok200(await api.get('/v1/audit?type=audit.read&limit=1000', KEYS.admin)).items as Item[]).map(
      (i) => i.event.data,
    );

  it('records a query with the caller, the filter and the count; paging through it adds nothing more', async () => {
    const before = (await reads()).length;
    const first = ok200(await api.get('/v1/audit?agent=support-bot&limit=2', KEYS.admin));
    let cursor = first.nextCursor as string | null;
    let pages = 1;
    while (cursor && pages < 8) {
      cursor = ok200(
        await api.get(`/v1/audit?agent=support-bot&limit=2&cursor=${cursor}`, KEYS.admin),
      ).nextCursor;
      pages++;
    }
    const after = await reads();
    // The `reads()` query itself opened its own window once; the paging loop added one event.
    expect(after.length).toBe(before + 2);
    expect(after.find((d) => (d.filter as Record<string, unknown>).agent === 'support-bot')).toMatchObject({
      caller: 'key_demo-admin',
      role: 'admin',
      route: 'query',
      filter: { agent: 'support-bot' },
      records: 2,
    });

    // After the window, the next read is recorded with the repeats it stood for.
    clock.advance(61_000);
    ok200(await api.get('/v1/audit?agent=support-bot&limit=2', KEYS.admin));
    const later = (await reads()).filter(
      (d) => (d.filter as Record<string, unknown>).agent === 'support-bot',
    );
    expect(later).toHaveLength(2);
    expect(later[1]).toMatchObject({ repeated: { reads: pages - 1, records: expect.any(Number) } });
  });

  it('records verify and export too', async () => {
    ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect((await api.get('/v1/audit/export?format=cef&effect=deny', KEYS.admin)).status).toBe(200);
    const routes = (await reads()).map((d) => d.route);
    expect(routes).toContain('verify');
    expect(routes).toContain('export');
  });

  it('answers 400 for an unknown effect, as for a bad date, on query and export', async () => {
    expectError(await api.get('/v1/audit?effect=maybe', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/audit/export?effect=maybe', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/audit?from=notadate', KEYS.admin), 400, 'bad_request');
    expect((await api.get('/v1/audit?effect=approval_required', KEYS.admin)).status).toBe(200);
  });
});

describe('the default mirror: checkpoints.jsonl in the key directory', () => {
  // A probe (2026-12-02): with no mirror configured (the example config), the newest 541 records,
  // cut at a batch boundary, and the 10 signed checkpoints over them were deleted with the node
  // stopped; verify, the restarted node and an exported bundle all said ok.
  /** Cuts the chain back to its newest sealed record at or below `head - back`, with the checkpoints over the cut. */
  const cutAtBatch = (t: TestMandate, back: number) =>
    withDb(t, (db) => {
      const head = (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
      const keep = (
        db
          .prepare('SELECT max(seq) AS s FROM audit_events WHERE seal IS NOT NULL AND seq <= ?')
          .get(head - back) as {
          s: number;
        }
      ).s;
      db.prepare('DELETE FROM audit_events WHERE seq > ?').run(keep);
      const gone = db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(keep).changes;
      return { head, keep, gone };
    });

  it('signed records cut with their checkpoints at a batch boundary: truncated, at restart and on verify', async () => {
    const { t } = await start();
    const mirror = join(t.dir, 'keys', 'checkpoints.jsonl');
    expect(readFileSync(mirror, 'utf8')).toMatch(/^\{"seq":/m);
    await t.close();
    const { head, keep, gone } = cutAtBatch(t, 6);
    expect(gone).toBeGreaterThan(0);
    const again = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, maxCheckpointGap: 10, verifyIntervalMs: 0 };
      },
    });
    const status = await again.m.evidence.tail.check();
    expect(status.ok).toBe(false);
    expect(status.failure).toMatchObject({ problem: 'truncated' });
    const v = ok200(await client(again.url).get('/v1/audit/verify', KEYS.admin));
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ problem: 'truncated' });
    expect((v.firstBad as { seq: number }).seq).toBeGreaterThan(keep);
    expect((v.firstBad as { seq: number }).seq).toBeLessThanOrEqual(head);
  });

  it('untouched, the same restart verifies ok against it and goes on signing', async () => {
    const { t } = await start();
    await t.close();
    const again = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, maxCheckpointGap: 10, verifyIntervalMs: 0 };
      },
    });
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
    expect(ok200(await client(again.url).get('/v1/audit/verify', KEYS.admin)).ok).toBe(true);
    await expect(again.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
  });

  it('turned off (file: null) the same cut verifies ok: what the default prevents', async () => {
    const { t } = await start({ mirror: null });
    await t.close();
    cutAtBatch(t, 6);
    const again = await createTestMandate({
      reuse: t,
      config: (c) => {
        c.audit = {
          ...c.audit,
          checkpointEvery: 5,
          maxCheckpointGap: 10,
          verifyIntervalMs: 0,
          checkpointMirror: { file: null },
        };
      },
    });
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
  });
});
