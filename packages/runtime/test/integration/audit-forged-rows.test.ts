// Over HTTP on SQLite and PostgreSQL. F2: a row numbered 0 or below, put in `audit_events` by a
// database admin, was invisible to every verifier but listed first by `GET /v1/audit?effect=allow`
// and shown in place of a real decision by `GET /v1/decisions/:id` (a probe). F1: a fresh key put in
// the key directory, with one checkpoint row of it in the store, took up a chain the mirror's
// checkpoints say was rewritten (a probe).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/audit/chain.js';
import { generateSigningKey, keyIdOf, createSigner } from '../../src/audit/keys.js';
import { canonicalize } from '../../src/kernel/index.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import {
  POSTGRES_URL,
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  tempDir,
  type StoreKind,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

/** Runs one statement as a database admin would, on the test's own database. */
async function sql(t: TestMandate, text: string, params: unknown[]): Promise<void> {
  if (t.kind === 'sqlite') {
    const db = new Database(t.dbFile!);
    try {
      db.prepare(text.replace(/\$\d+/g, '?')).run(...params);
    } finally {
      db.close();
    }
    return;
  }
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query(`SET search_path TO "${t.schema}"`);
    await c.query(text, params);
  } finally {
    await c.end();
  }
}

interface Item {
  seq: number;
  event: { decisionId?: string; effect?: string };
}

describe.each(durableStoreKinds())('F2: a row numbered 0 or below (%s)', (kind: StoreKind) => {
  it('is served by no lookup and fails verify and the tail check; untouched, all is ok', async () => {
    const t = await createTestMandate({
      store: kind,
      config: (c) => {
        c.audit = { ...c.audit, verifyIntervalMs: 0 };
      },
    });
    const api = client(t.url);
    // A refund too large for the agent alone: denied (or held for approval), not an allow.
    const denied = ok200(await api.decide(KEYS.supportBot, refund(45_000)));
    expect(denied.effect).not.toBe('allow');
    ok200(await api.decide(KEYS.supportBot, refund(100)));
    expect(ok200(await api.get('/v1/audit/verify', KEYS.admin))).toMatchObject({ ok: true });
    expect((await t.m.evidence.tail.check()).ok).toBe(true);

    const seq = kind === 'sqlite' ? 0 : -1;
    const [real] = await t.m.store.queryAudit({ decisionId: denied.decisionId, limit: 1 });
    const event = { ...(JSON.parse(real!.eventText) as Record<string, unknown>), effect: 'allow' };
    const text = canonicalize(event);
    const c = real!.columns;
    await sql(
      t,
      `INSERT INTO audit_events (seq, prev_hash, hash, event_text, type, time, agent, user_id, action, effect, decision_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        seq,
        GENESIS_HASH,
        recordHash(seq, GENESIS_HASH, text),
        text,
        c.type,
        c.time,
        c.agent,
        c.user,
        c.action,
        'allow',
        c.decisionId,
      ],
    );

    const allows = ok200(await api.get('/v1/audit?effect=allow&limit=50', KEYS.admin)).items as Item[];
    expect(allows.length).toBeGreaterThan(0);
    expect(allows.every((i) => i.seq >= 1)).toBe(true);
    const view = ok200(await api.get(`/v1/decisions/${denied.decisionId}`, KEYS.admin));
    expect(view).toMatchObject({ effect: denied.effect });
    expect(ok200(await api.get('/v1/audit/verify', KEYS.admin))).toMatchObject({
      ok: false,
      firstBad: { seq, problem: 'out_of_order' },
    });
    expect(await t.m.evidence.tail.check()).toMatchObject({
      ok: false,
      failure: { seq, problem: 'out_of_order' },
    });
  });
});

/** Rewrites record `seq`'s effect and every hash from it to the head, as a DB admin who knows the algorithm would. */
function rewriteFrom(dbFile: string, seq: number): { seq: number; hash: string } {
  const db = new Database(dbFile);
  try {
    const rows = db.prepare('SELECT seq, prev_hash, event_text FROM audit_events ORDER BY seq').all() as {
      seq: number;
      prev_hash: string;
      event_text: string;
    }[];
    let prev = GENESIS_HASH;
    const update = db.prepare(
      'UPDATE audit_events SET event_text = ?, prev_hash = ?, hash = ? WHERE seq = ?',
    );
    for (const r of rows) {
      const text =
        r.seq === seq
          ? canonicalize({ ...(JSON.parse(r.event_text) as Record<string, unknown>), intent: 'rewritten' })
          : r.event_text;
      const hash = recordHash(r.seq, prev, text);
      update.run(text, prev, hash, r.seq);
      prev = hash;
    }
    return { seq: rows.at(-1)!.seq, hash: prev };
  } finally {
    db.close();
  }
}

describe('F1: a fresh key with one checkpoint row of it in the store, the mirror holding the old key’s', () => {
  async function start(mirror: string) {
    const t = await createTestMandate({
      store: 'sqlite',
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, verifyIntervalMs: 0, checkpointMirror: { file: mirror } };
      },
    });
    const api = client(t.url);
    for (let i = 0; i < 8; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
    await t.m.audit.checkpoint();
    await t.close();
    return t;
  }

  /** Puts a fresh key pair in the key directory and one checkpoint row of it over the head. */
  async function takeOver(t: TestMandate, head: { seq: number; hash: string }): Promise<string> {
    const fresh = generateSigningKey();
    writeFileSync(join(t.dir, 'keys', 'audit-signing.pem'), fresh.privateKeyPem);
    writeFileSync(join(t.dir, 'keys', 'audit-signing.pub.pem'), fresh.publicKeyPem);
    const signer = createSigner(fresh.privateKeyPem);
    const body = {
      seq: head.seq,
      hash: head.hash,
      time: new Date().toISOString(),
      keyId: keyIdOf(fresh.publicKeyPem),
    };
    await sql(
      t,
      'INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)',
      [body.seq, body.hash, body.time, body.keyId, signer.sign(canonicalize(body))],
    );
    return body.keyId;
  }

  const reopen = (t: TestMandate, mirror: string, newSigningKey = false) =>
    createTestMandate({
      reuse: t,
      ...(newSigningKey ? { newSigningKey: true } : {}),
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, verifyIntervalMs: 0, checkpointMirror: { file: mirror } };
      },
    });

  it('over a chain rewritten at rest: refused at start (conflict); with --new-signing-key the first check finds it', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const t = await start(mirror);
    const head = rewriteFrom(t.dbFile!, 3);
    await sql(t, 'DELETE FROM audit_checkpoints', []);
    await takeOver(t, head);
    const err = await reopen(t, mirror).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/signed none of this chain/),
    });
    const forced = await reopen(t, mirror, true);
    const status = await forced.m.evidence.tail.check();
    expect(status).toMatchObject({ ok: false, failure: { problem: 'checkpoint_mismatch' } });
  });

  it('the key the mirror holds restarts as before; a key taken up deliberately over the true chain checks ok', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const t = await start(mirror);
    const again = await reopen(t, mirror);
    expect((await again.m.evidence.tail.check()).ok).toBe(true);
    await again.close();
    rmSync(join(t.dir, 'keys', 'audit-signing.pem'));
    rmSync(join(t.dir, 'keys', 'audit-signing.pub.pem'));
    const rotated = await reopen(t, mirror, true);
    expect((await rotated.m.evidence.tail.check()).ok).toBe(true);
    await expect(rotated.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
  });
});
