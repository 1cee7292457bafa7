// ADR 0038, over HTTP on SQLite: a record a database admin adds after the head — linked and hashed
// like a real one, in another writer's name — is the node's finding (`unsealed`), and the node signs
// no checkpoint over it. A probe had it covered by the node's next checkpoint: verify said ok, the
// view said verified. A second node on the same key directory (a writer of the deployment) is not.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { FORGED_DECISION, insertAtHead, withDb, type AuditRow } from '../fixtures/audit-db.js';

afterAll(disposeAll);

async function start() {
  const t = await createTestMandate({
    store: 'sqlite',
    config: (c) => {
      c.audit = { ...c.audit, checkpointEvery: 1000, verifyIntervalMs: 0 };
    },
  });
  const api = client(t.url);
  for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.m.audit.checkpoint();
  expect((await t.m.evidence.tail.check()).ok).toBe(true);
  return { t, api };
}

describe('a record added after the head by a database admin', () => {
  it('is found by GET /v1/audit/verify and the tail check (unsealed); the next checkpoint is refused', async () => {
    const { t, api } = await start();
    const seq = withDb(t, (db) => insertAtHead(db));
    const verified = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(verified).toMatchObject({ ok: false, firstBad: { seq, problem: 'unsealed' } });
    const status = await t.m.evidence.tail.check();
    expect(status.failure).toMatchObject({ seq, problem: 'unsealed' });
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect((await api.get('/readyz')).body).toMatchObject({ audit: 'tampered' });
    const view = ok200(await api.get(`/v1/decisions/${FORGED_DECISION}`, KEYS.admin));
    expect(view).not.toMatchObject({ chain: { status: 'verified' } });
  });

  it('with the node deciding on top of it before any check: the checkpoint is refused, naming the inserted record', async () => {
    const { t, api } = await start();
    const seq = withDb(t, (db) => insertAtHead(db));
    ok200(await api.decide(KEYS.supportBot, refund(20)));
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(t.m.evidence.tail.status().failure).toMatchObject({ seq, problem: 'unsealed' });
  });

  it("with the previous record's seal copied onto it: the seal does not open, the checkpoint is refused", async () => {
    const { t } = await start();
    const seq = withDb(t, (db) => insertAtHead(db, (head) => head.seal));
    await expect(t.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(t.m.evidence.tail.status().failure).toMatchObject({ seq, problem: 'unsealed' });
  });

  it('a second node on the same store and key directory writes sealed batches: checkpoints go on, both ok', async () => {
    const { t, api } = await start();
    const b = await createTestMandate({ reuse: t });
    const apiB = client(b.url);
    for (let i = 0; i < 3; i++) ok200(await apiB.decide(KEYS.supportBot, refund(200 + i)));
    ok200(await api.decide(KEYS.supportBot, refund(20)));
    await expect(t.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
    await expect(b.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    expect((await b.m.evidence.tail.check()).ok).toBe(true);
    const rows = withDb(t, (db) => db.prepare('SELECT seal FROM audit_events').all() as AuditRow[]);
    // Every batch ends with a seal: at c=1 each record is its own batch.
    expect(rows.filter((r) => r.seal === null).length).toBeLessThan(rows.length);
  });
});
