// F4, the other lookups: every route that finds audit records by their query columns (an outcome's
// decision, the live feed, an approval's history, a filtered export, the overview's counts) holds
// what it found to the hashed event. A DB admin edits a column (never the hashed text, so the chain
// still links): the record is not used as what its column says, and the node reports it once.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund, type Json } from '../fixtures/http.js';
import { withDb } from '../fixtures/audit-db.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { browserRequest, openStream, signIn, type SseStream } from '../dashboard/helpers.js';
import { examplePolicySource } from '../fixtures/mandate.js';
import { refundThreshold, writePolicyDir } from '../policy-lifecycle/helpers.js';

afterAll(disposeAll);

const streams: SseStream[] = [];
afterAll(() => streams.forEach((s) => s.close()));

/** A SQLite node whose tail check runs only when asked: a finding on /readyz is the route's report. */
const node = () =>
  createTestMandate({
    store: 'sqlite',
    config: (raw) => (raw.audit = { ...raw.audit, verifyIntervalMs: 0 }),
  });

/** The seq of a decision's record, by its hashed event. */
const seqOf = (t: TestMandate, decisionId: string): number =>
  withDb(
    t,
    (db) =>
      (
        db
          .prepare(`SELECT seq FROM audit_events WHERE type = 'decision' AND event_text LIKE ?`)
          .get(`%"decisionId":"${decisionId}"%`) as { seq: number }
      ).seq,
  );

/** One edit of the admin's: `set` (SQL assignments) on the record at `seq`. */
const edit = (t: TestMandate, seq: number, set: string, ...values: unknown[]) =>
  withDb(t, (db) => db.prepare(`UPDATE audit_events SET ${set} WHERE seq = ?`).run(...values, seq));

const readyz = async (t: TestMandate): Promise<Json> => (await fetch(`${t.url}/readyz`)).json();

/** The node reported the record at `seq` as its finding (an edited column). */
const expectReported = async (t: TestMandate, seq: number) =>
  expect(await readyz(t)).toMatchObject({
    audit: 'tampered',
    auditProblem: { seq, problem: 'index_mismatch' },
  });

/** The decision ids of a JSONL export, in order. */
const exportedIds = (jsonl: string) =>
  jsonl
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event: { decisionId?: string } }).event.decisionId);

/** A trading order of `agent`'s for alice (support-bot is denied it). */
const order = (t: TestMandate, key: string, agent: string) =>
  client(t.url).decide(key, {
    agent,
    onBehalfOf: 'alice',
    action: 'trading.place_order',
    args: { symbol: 'ACME', qty: 1, side: 'buy' },
  });

const outcome = (t: TestMandate, id: string, key = KEYS.supportBot) =>
  client(t.url).post(`/v1/decisions/${encodeURIComponent(id)}/outcome`, key, { status: 'ok', durationMs: 3 });

describe('lookups by an edited query column', () => {
  it('POST /v1/decisions/X/outcome is not recorded against X through Y pointed at X; X itself and an untouched decision still are', async () => {
    const t = await node();
    const api = client(t.url);
    const y = ok200(await api.decide(KEYS.supportBot, refund(120)));
    const x = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
    expect([y.effect, x.effect]).toEqual(['allow', 'deny']);
    const ySeq = seqOf(t, y.decisionId);
    // Y (an allow, found first: it is older) indexed as X (a deny: nothing ran).
    edit(t, ySeq, 'decision_id = ?', x.decisionId);
    expectError(await outcome(t, x.decisionId), 409, 'conflict');
    const outcomes = (await api.get(`/v1/audit?type=decision.outcome`, KEYS.admin)).body.items;
    expect(outcomes, 'an outcome was recorded against the deny').toEqual([]);
    await expectReported(t, ySeq);
    // The untouched path: a decision whose columns were left alone takes its outcome.
    const z = ok200(await api.decide(KEYS.supportBot, refund(130)));
    const res = await outcome(t, z.decisionId);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ decisionId: z.decisionId, status: 'ok' });
  });

  it("POST /v1/decisions/X/outcome: who may report is X's hashed event's agent, not that of a record pointed at X", async () => {
    const t = await node();
    const api = client(t.url);
    const own = ok200(await api.decide(KEYS.supportBot, refund(120)));
    const x = ok200(await order(t, KEYS.tradeBot, 'trade-bot'));
    const ownSeq = seqOf(t, own.decisionId);
    // support-bot's own allow indexed as trade-bot's decision X.
    edit(t, ownSeq, 'decision_id = ?', x.decisionId);
    const res = await outcome(t, x.decisionId);
    expect(res.status, `support-bot reported trade-bot's decision: ${res.text}`).toBe(404);
    expectError(res, 404, 'not_found');
    await expectReported(t, ownSeq);
  });

  it('the decision stream does not send a record edited into its filter as matching; genuine matches still arrive', async () => {
    const t = await node();
    const api = client(t.url);
    const allow = ok200(await api.decide(KEYS.supportBot, refund(50)));
    const allowSeq = seqOf(t, allow.decisionId);
    // An allow of support-bot indexed as a deny of trade-bot.
    edit(t, allowSeq, `effect = 'deny', agent = 'trade-bot'`);
    const deny = ok200(await order(t, KEYS.supportBot, 'support-bot'));
    expect(deny.effect).toBe('deny');
    const open = async (q: string) => {
      const s = await openStream(`${t.url}/v1/decisions/stream?after=0&${q}`, {
        authorization: `Bearer ${KEYS.admin}`,
      });
      streams.push(s);
      return s;
    };
    const denies = await open('effect=deny');
    const tradeBot = await open('agent=trade-bot');
    await denies.next((e) => e.data.decisionId === deny.decisionId, 2000);
    expect(denies.events.map((e) => e.data.decisionId)).toEqual([deny.decisionId]);
    // A marker after the edited record: once it is in, the edited record was read and left out.
    const marker = ok200(await api.decide(KEYS.supportBot, refund(60)));
    const all = await open('agent=support-bot');
    await all.next((e) => e.data.decisionId === marker.decisionId, 2000);
    expect(all.events.map((e) => e.data.decisionId)).toEqual([deny.decisionId, marker.decisionId]);
    expect(tradeBot.events).toEqual([]);
    await expectReported(t, allowSeq);
  });

  it("an approval's history does not show another user's decision indexed as this user's", async () => {
    const t = await node();
    const api = client(t.url);
    const small = ok200(await api.decide(KEYS.supportBot, refund(120)));
    const forBob = ok200(await api.decide(KEYS.supportBot, refund(130, { onBehalfOf: 'bob' })));
    const big = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(big.effect).toBe('approval_required');
    const bobSeq = seqOf(t, forBob.decisionId);
    edit(t, bobSeq, `user_id = 'alice'`);
    const frank = await signIn(t.url, KEYS.frank);
    const history = await browserRequest(t.url, frank, 'GET', `/v1/approvals/${big.approval!.id}/history`);
    expect(history.status, history.text).toBe(200);
    const ids = history.body.items.map((h: { decisionId: string }) => h.decisionId);
    expect(ids, "bob's decision in alice's history").not.toContain(forBob.decisionId);
    // The untouched records of alice's are still there, newest first.
    expect(ids).toEqual([big.decisionId, small.decisionId]);
    await expectReported(t, bobSeq);
  });

  it('a filtered GET /v1/audit/export leaves out a record edited into the filter and reports it; the whole export keeps it', async () => {
    const t = await node();
    const api = client(t.url);
    const allow = ok200(await api.decide(KEYS.supportBot, refund(30)));
    const deny = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
    expect(deny.effect).toBe('deny');
    const allowSeq = seqOf(t, allow.decisionId);
    edit(t, allowSeq, `effect = 'deny'`);
    const denies = await fetch(`${t.url}/v1/audit/export?effect=deny`, {
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });
    expect(denies.status).toBe(200);
    expect(exportedIds(await denies.text()), 'an allow exported as a deny').toEqual([deny.decisionId]);
    await expectReported(t, allowSeq);
    // The whole trail is exported as stored (verify names the edited column there).
    const whole = await fetch(`${t.url}/v1/audit/export`, {
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });
    expect(exportedIds(await whole.text())).toEqual(
      expect.arrayContaining([allow.decisionId, deny.decisionId]),
    );
  });

  it('mandate audit export --effect deny leaves out a record edited into the filter, says so and exits 1; untouched, it exits 0', async () => {
    ensureBuilt();
    const t = await node();
    const api = client(t.url);
    const allow = ok200(await api.decide(KEYS.supportBot, refund(30)));
    const deny = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
    await t.close();
    const exportDenies = async (file: string) => {
      const out = join(t.dir, file);
      const r = await runCli(['audit', 'export', '--config', t.configFile, '--effect', 'deny', '-o', out], {
        timeoutMs: 60_000,
      });
      return { ...r, ids: exportedIds(readFileSync(out, 'utf8')) };
    };
    const clean = await exportDenies('clean.jsonl');
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.ids).toEqual([deny.decisionId]);
    const allowSeq = seqOf(t, allow.decisionId);
    edit(t, allowSeq, `effect = 'deny'`);
    const edited = await exportDenies('edited.jsonl');
    expect(edited.ids, 'an allow exported as a deny').toEqual([deny.decisionId]);
    expect(edited.stderr).toContain(`record ${allowSeq}: column "effect" does not match the hashed event`);
    expect(edited.stderr).toContain('left out of the export');
    expect(edited.code).toBe(1);
  }, 120_000);

  it('GET /v1/overview counts decisions by their hashed events, not by edited columns', async () => {
    const t = await node();
    const api = client(t.url);
    const allow = ok200(await api.decide(KEYS.supportBot, refund(30)));
    ok200(await api.decide(KEYS.supportBot, refund(40)));
    const allowSeq = seqOf(t, allow.decisionId);
    edit(t, allowSeq, `effect = 'deny'`);
    const o = (await api.get('/v1/overview', KEYS.admin)).body;
    const total = (e: string) =>
      (o.decisionsPerMinute as Record<string, number>[]).reduce((n, m) => n + (m[e] ?? 0), 0);
    expect({ allow: total('allow'), deny: total('deny') }, 'an allow counted as a deny').toEqual({
      allow: 1,
      deny: 0,
    });
    await expectReported(t, allowSeq);
  });

  it('POST /v1/policies/replay and mandate policy replay leave out a decision whose time column was edited into the window, and report it', async () => {
    ensureBuilt();
    const t = await node();
    const api = client(t.url);
    const d = ok200(await api.decide(KEYS.supportBot, refund(30)));
    ok200(await api.decide(KEYS.supportBot, refund(40)));
    const replay = async () =>
      ok200(
        await api.post('/v1/policies/replay', KEYS.admin, {
          policies: examplePolicySource(),
          from: '1999-01-01T00:00:00Z',
          to: '2001-01-01T00:00:00Z',
        }),
      );
    expect((await replay()).decisions).toBe(0);
    const seq = seqOf(t, d.decisionId);
    // Made on 2000-06-01, by its column: the hashed event says today.
    edit(t, seq, 'time = ?', '2000-06-01T00:00:00.000Z');
    expect((await replay()).decisions, 'a decision replayed in a window it is not in').toBe(0);
    await expectReported(t, seq);
    // Today's window replays the untouched one (the edited one's column keeps it out of that lookup).
    const now = ok200(
      await api.post('/v1/policies/replay', KEYS.admin, {
        policies: examplePolicySource(),
        from: new Date(Date.now() - 3_600_000).toISOString(),
      }),
    );
    expect(now.decisions, 'the untouched decision').toBe(1);
    await t.close();
    const dir = writePolicyDir(examplePolicySource());
    const cli = await runCli(
      [
        'policy',
        'replay',
        dir,
        '--config',
        t.configFile,
        '--from',
        '1999-01-01T00:00:00Z',
        '--to',
        '2001-01-01T00:00:00Z',
        '--json',
      ],
      { timeoutMs: 60_000 },
    );
    expect((JSON.parse(cli.stdout) as { decisions: number }).decisions).toBe(0);
    expect(cli.stderr).toContain(`record ${seq}: column "time" does not match the hashed event`);
    expect(cli.stderr).toContain('left out of the replay');
    expect(cli.code).toBe(1);
  }, 120_000);

  it("GET /v1/policies/shadow/report does not count a divergence whose time column was edited into 'since'", async () => {
    const t = await node();
    const api = client(t.url);
    ok200(await api.put('/v1/policies/shadow', KEYS.admin, refundThreshold(100)));
    const big = ok200(await api.decide(KEYS.supportBot, refund(300)));
    await t.m.shadow.evaluator.drain();
    const since = `/v1/policies/shadow/report?since=${encodeURIComponent('2999-01-01T00:00:00Z')}`;
    expect(ok200(await api.get(since, KEYS.admin)).divergences).toBe(0);
    const seq = withDb(
      t,
      (db) =>
        (
          db
            .prepare(
              `SELECT seq FROM audit_events WHERE type = 'policy.shadow_divergence' AND decision_id = ?`,
            )
            .get(big.decisionId) as { seq: number }
        ).seq,
    );
    edit(t, seq, 'time = ?', '2999-06-01T00:00:00.000Z');
    expect(
      ok200(await api.get(since, KEYS.admin)).divergences,
      'a divergence reported as recorded in 2999',
    ).toBe(0);
    await expectReported(t, seq);
    // An untouched divergence is still counted.
    const next = ok200(await api.decide(KEYS.supportBot, refund(310)));
    await t.m.shadow.evaluator.drain();
    const hour = `/v1/policies/shadow/report?since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`;
    const r = ok200(await api.get(hour, KEYS.admin));
    expect(r.divergences).toBe(1);
    expect(r.groups[0].examples).toEqual([next.decisionId]);
  });

  it('GET /v1/alerts does not list a record edited into an alert; a genuine alert is still listed and acknowledged', async () => {
    const t = await createTestMandate({
      store: 'sqlite',
      config: (raw) => {
        raw.audit = { ...raw.audit, verifyIntervalMs: 0 };
        raw.alerts = {
          rules: [{ name: 'flood', type: 'approval_flood', windowSeconds: 3600, max: 1, cooldownSeconds: 0 }],
        };
      },
    });
    const api = client(t.url);
    const d = ok200(await api.decide(KEYS.supportBot, refund(30)));
    for (const amount of [900, 901]) ok200(await api.decide(KEYS.supportBot, refund(amount)));
    let alerts: Json[] = [];
    for (let i = 0; i < 100 && alerts.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      alerts = ok200(await api.get('/v1/alerts', KEYS.admin)).items as Json[];
    }
    expect(alerts.map((a) => a.rule)).toEqual(['flood']);
    const seq = seqOf(t, d.decisionId);
    edit(t, seq, `type = 'alert.fired'`);
    const listed = ok200(await api.get('/v1/alerts', KEYS.admin)).items as Json[];
    expect(
      listed.map((a) => a.rule),
      'a decision listed as an alert',
    ).toEqual(['flood']);
    await expectReported(t, seq);
    const ack = await api.post(`/v1/alerts/${alerts[0]!.alertId}/acknowledge`, KEYS.admin, {});
    expect(ack.status).toBe(200);
  });
});
