// F4: records are found by their query columns (a decision by its `decision_id`, `GET /v1/audit`
// filters). A DB admin hid decision X's record from the lookup and pointed Y's `decision_id`
// column at X: the view of X showed Y's genuine record, "verified", and the audit query for X
// answered Y. What is hashed says whose record it is; the columns only find it.
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { vouchFor } from '../../src/audit/vouch.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { at, seedLog, tampered } from './helpers.js';

afterAll(disposeAll);

describe('a record found through an edited query column', () => {
  it('is not vouched for: its columns must say what its hashed event says', async () => {
    const { store, publicKeys } = await seedLog(20, 5);
    const swapped = await tampered(store, (rs) => {
      rs[at(rs, 7)]!.columns.decisionId = 'hidden-dec_7';
      rs[at(rs, 12)]!.columns.decisionId = 'dec_7';
    });
    const [y] = await swapped.readAudit(11, 1);
    expect(await vouchFor(swapped, y!, { publicKeys, hashes: [] })).toMatchObject({
      status: 'tampered',
      finding: { seq: 12, problem: 'index_mismatch' },
    });
    // The untouched neighbour is still verified: the check is of the record shown.
    const [r11] = await swapped.readAudit(10, 1);
    expect(await vouchFor(swapped, r11!, { publicKeys, hashes: [] })).toEqual({ status: 'verified' });
  });

  it('GET /v1/decisions/X never shows Y as X, GET /v1/audit?decisionId=X never answers Y; the node reports it', async () => {
    const t = await createTestMandate({
      store: 'sqlite',
      config: (raw) => (raw.audit = { ...raw.audit, verifyIntervalMs: 0 }),
    });
    const api = client(t.url);
    const x = (await api.decide(KEYS.supportBot, refund(480))).body.decisionId as string;
    const y = (await api.decide(KEYS.supportBot, refund(12))).body.decisionId as string;
    const z = (await api.decide(KEYS.supportBot, refund(13))).body.decisionId as string;
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    const before = await api.get(`/v1/decisions/${x}`, KEYS.admin);
    expect(before.body).toMatchObject({ decisionId: x, args: { amount: 480 } });
    const db = new Database(t.dbFile!);
    try {
      db.prepare(
        `UPDATE audit_events SET decision_id = 'hidden-' || decision_id WHERE decision_id = ? AND type = 'decision'`,
      ).run(x);
      db.prepare(`UPDATE audit_events SET decision_id = ? WHERE decision_id = ? AND type = 'decision'`).run(
        x,
        y,
      );
    } finally {
      db.close();
    }
    const view = await api.get(`/v1/decisions/${x}`, KEYS.admin);
    expect(view.body?.args, 'the view of X shows Y').toBeUndefined();
    expectError(view, 404, 'not_found');
    expect(await (await fetch(`${t.url}/readyz`)).json()).toMatchObject({
      audit: 'tampered',
      auditProblem: { seq: before.body.audit.seq + 1, problem: 'index_mismatch' },
    });
    const query = (await api.get(`/v1/audit?decisionId=${x}`, KEYS.admin)).body;
    expect(query.items.map((i: { event: { decisionId: string } }) => i.event.decisionId)).toEqual([]);
    // A record whose columns were left alone is still answered.
    const own = (await api.get(`/v1/audit?type=decision&agent=support-bot`, KEYS.admin)).body;
    expect(own.items.map((i: { event: { decisionId: string } }) => i.event.decisionId)).toEqual([z]);
  });

  it('GET /v1/audit answers only records whose hashed event matches the filter they were found by', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    await api.decide(KEYS.supportBot, refund(30));
    const db = new Database(t.dbFile!);
    try {
      // An allow indexed as a deny: a query for denies must not count it.
      db.prepare(`UPDATE audit_events SET effect = 'deny' WHERE type = 'decision'`).run();
    } finally {
      db.close();
    }
    const denies = (await api.get('/v1/audit?effect=deny', KEYS.admin)).body;
    expect(denies.items).toEqual([]);
    expect(await (await fetch(`${t.url}/readyz`)).json()).toMatchObject({
      audit: 'tampered',
      auditProblem: { problem: 'index_mismatch' },
    });
  });
});
