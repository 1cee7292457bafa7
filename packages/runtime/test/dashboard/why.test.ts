// Issue 11: the "why" panel of a decision, the overview, and the policy source by version — all
// through the v1 API, each role seeing only what it may.
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import { recordHash } from '../../src/audit/chain.js';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';

afterAll(disposeAll);

describe('GET /v1/decisions/:id (why)', () => {
  it('shows the determining policies per principal, the grant chain, the approval with its votes, the redacted args, latency, node and chain place', async () => {
    const t = await createTestMandate({
      config: (raw) => (raw.audit = { ...raw.audit, redact: ['customerId'], verifyIntervalMs: 0 }),
    });
    const api = client(t.url);
    const asked = await api.decide(KEYS.supportBot, refund(900));
    expect(asked.body.effect).toBe('approval_required');
    const approvalId = asked.body.approval!.id;
    expect((await api.approve(approvalId, KEYS.frank, { comment: 'customer is right' })).status).toBe(200);
    const retry = await api.decide(KEYS.supportBot, refund(900, { approvalId }));
    expect(retry.body.effect).toBe('allow');

    const why = await api.get(`/v1/decisions/${retry.body.decisionId}`, KEYS.admin);
    expect(why.status, why.text).toBe(200);
    const w = why.body;
    // The fields the route always had are still there.
    for (const k of [
      'decisionId',
      'effect',
      'reasons',
      'errors',
      'policyVersion',
      'agent',
      'user',
      'action',
      'resource',
      'time',
      'approvalId',
      'grantId',
    ])
      expect(Object.keys(w)).toContain(k);
    expect(w.determining.agent).toEqual([
      {
        policyId: 'refund-large-needs-finance',
        reason: "refunds over 500 need a finance manager's approval",
      },
    ]);
    expect(w.determining.user.map((p: { policyId: string }) => p.policyId)).toEqual([
      'user-support-customers',
    ]);
    expect(w.grantChain).toHaveLength(1);
    expect(w.grantChain[0]).toMatchObject({
      id: w.grantId,
      user: 'alice',
      agent: 'support-bot',
      revokedAt: null,
    });
    expect(typeof w.grantChain[0].expiresAt).toBe('string');
    expect(Array.isArray(w.grantChain[0].limits)).toBe(true);
    expect(w.approval).toMatchObject({ id: approvalId, role: 'finance-manager', quorum: 1 });
    expect(['approved', 'consumed']).toContain(w.approval.status);
    expect(w.approval.votes).toEqual([
      expect.objectContaining({ approver: 'frank', verdict: 'approve', comment: 'customer is right' }),
    ]);
    // The stored redacted copy: the configured path is masked, the amount is shown.
    expect(w.args.amount).toBe(900);
    expect(w.args.customerId).not.toBe('c-42');
    expect(why.text.includes('"c-42"')).toBe(false);
    expect(typeof w.latencyMs).toBe('number');
    expect(w.nodeId).toBe(t.m.nodeId);
    expect(w.audit).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(['verified', 'pending']).toContain(w.audit.chain);
    // What the chain status does not cover is said (a probe edited the votes and the grant's limit
    // in the store; the view showed them beside "verified").
    expect(w.notCoveredByChain).toEqual(['grantChain', 'approval']);

    // The approval_required decision itself: no approval yet bound to it, the agent's policy asked.
    const first = (await api.get(`/v1/decisions/${asked.body.decisionId}`, KEYS.admin)).body;
    expect(first.effect).toBe('approval_required');
    expect(first.determining.agent[0].policyId).toBe('refund-large-needs-finance');
  });

  it('a record edited in the database is shown as tampered, never as verified, and the node says so', async () => {
    // A probe edited a refund of 400 to 40 after the tail check had passed it: "verified", showing 40.
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    const d = (await api.decide(KEYS.supportBot, refund(400))).body;
    expect(d.effect).toBe('allow');
    const before = (await api.get(`/v1/decisions/${d.decisionId}`, KEYS.admin)).body;
    expect(['verified', 'pending']).toContain(before.audit.chain);
    const db = new Database(t.dbFile!);
    try {
      const edited = db
        .prepare(
          `UPDATE audit_events SET event_text = replace(event_text, '"amount":400', '"amount":40') WHERE seq = ?`,
        )
        .run(before.audit.seq).changes;
      expect(edited).toBe(1);
    } finally {
      db.close();
    }
    const after = (await api.get(`/v1/decisions/${d.decisionId}`, KEYS.admin)).body;
    expect(after.args.amount).toBe(40);
    expect(after.audit.chain).toBe('tampered');
    // The finding is the node's: /readyz and the trail say so.
    const ready = await fetch(`${t.url}/readyz`);
    expect(await ready.json()).toMatchObject({ audit: 'tampered', auditProblem: { seq: before.audit.seq } });
    const failed = (await api.get('/v1/audit?type=audit.verify_failed', KEYS.admin)).body.items;
    expect(failed).toHaveLength(1);
  });

  it('a record edited and the next one relinked to it is still tampered: the view walks to a hash the node trusts', async () => {
    // A second-round probe: rewrite record k and its hash, relink k+1 and rehash it, leave the break
    // at k+2 — below the tail check's cursor, never looked at again — and k read "verified".
    const t = await createTestMandate({
      store: 'sqlite',
      config: (raw) => (raw.audit = { ...raw.audit, verifyIntervalMs: 0 }),
    });
    const api = client(t.url);
    const d = (await api.decide(KEYS.supportBot, refund(400))).body;
    for (let i = 0; i < 3; i++) await api.decide(KEYS.supportBot, refund(101 + i));
    expect((await t.m.evidence.tail.check()).ok).toBe(true);
    const before = (await api.get(`/v1/decisions/${d.decisionId}`, KEYS.admin)).body;
    expect(before.audit.chain).toBe('verified');
    const k = before.audit.seq as number;
    const db = new Database(t.dbFile!);
    try {
      const row = (seq: number) =>
        db.prepare('SELECT prev_hash, event_text FROM audit_events WHERE seq = ?').get(seq) as {
          prev_hash: string;
          event_text: string;
        };
      const set = db.prepare('UPDATE audit_events SET event_text = ?, prev_hash = ?, hash = ? WHERE seq = ?');
      const edited = row(k).event_text.replace('"amount":400', '"amount":40');
      const kHash = recordHash(k, row(k).prev_hash, edited);
      set.run(edited, row(k).prev_hash, kHash, k);
      const next = row(k + 1);
      set.run(next.event_text, kHash, recordHash(k + 1, kHash, next.event_text), k + 1);
    } finally {
      db.close();
    }
    const after = (await api.get(`/v1/decisions/${d.decisionId}`, KEYS.admin)).body;
    expect(after.args.amount).toBe(40);
    expect(after.audit.chain).toBe('tampered');
    expect(await (await fetch(`${t.url}/readyz`)).json()).toMatchObject({ audit: 'tampered' });
  });

  it('a failed full verify is the finding of the node too: /readyz and an audit.verify_failed record', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('allow');
    const db = new Database(t.dbFile!);
    try {
      db.prepare(
        `UPDATE audit_events SET event_text = replace(event_text, '"amount":120', '"amount":12') WHERE type = 'decision'`,
      ).run();
    } finally {
      db.close();
    }
    expect((await api.get('/v1/audit/verify', KEYS.admin)).body).toMatchObject({
      ok: false,
      firstBad: { problem: 'hash_mismatch' },
    });
    expect(await (await fetch(`${t.url}/readyz`)).json()).toMatchObject({ audit: 'tampered' });
    expect((await api.get('/v1/audit?type=audit.verify_failed', KEYS.admin)).body.items).toHaveLength(1);
  });

  it('the user it was made for and the agent that asked see it; another user, another agent and an approver do not', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const d = await api.decide(KEYS.supportBot, refund(30));
    const path = `/v1/decisions/${d.body.decisionId}`;
    expect((await api.get(path, KEYS.alice)).status).toBe(200);
    expect((await api.get(path, KEYS.supportBot)).status).toBe(200);
    const bob = await api.post('/v1/keys', KEYS.admin, { role: 'user', subject: 'bob' });
    expectError(await api.get(path, bob.body.secret), 404, 'not_found');
    expectError(await api.get(path, KEYS.tradeBot), 404, 'not_found');
    expectError(await api.get(path, KEYS.frank), 403, 'forbidden');
    expectError(await api.get('/v1/decisions/dec_nope', KEYS.admin), 404, 'not_found');
  });
});

describe('GET /v1/overview', () => {
  it('counts decisions per minute by effect, pending approvals, policy errors; admin only', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const empty = (await api.get('/v1/overview', KEYS.admin)).body;
    expect(empty.decisionsPerMinute).toHaveLength(60);
    const sum = (o: { decisionsPerMinute: Record<string, number>[] }, k: string) =>
      o.decisionsPerMinute.reduce((n, b) => n + b[k]!, 0);
    const before = {
      allow: sum(empty, 'allow'),
      deny: sum(empty, 'deny'),
      ar: sum(empty, 'approval_required'),
    };

    await api.decide(KEYS.supportBot, refund(10));
    await api.decide(KEYS.supportBot, refund(20));
    await api.decide(KEYS.supportBot, refund(900));
    await api.decide(KEYS.supportBot, { ...refund(10), action: 'trade.place_order' });
    // A policy that fails to evaluate (Long overflow) for refunds.
    const source = examplePolicySource();
    source.policies['overflow.cedar'] =
      '@id("overflow")\nforbid (principal, action == Action::"payments.refund", resource)\nwhen { context.args.amount * 4611686018427387904 > 0 };\n';
    expect((await api.put('/v1/policies', KEYS.admin, source)).status).toBe(200);
    await api.decide(KEYS.supportBot, refund(7));

    const minuteOf = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000).toISOString();
    const asked = Date.now();
    const o = (await api.get('/v1/overview', KEYS.admin)).body;
    // The last bucket is the minute the server answered in: between the ask and the answer (a
    // minute can turn while the request is under way).
    expect([minuteOf(asked), minuteOf(Date.now())]).toContain(o.decisionsPerMinute[59].minute);
    expect(sum(o, 'allow') - before.allow).toBeGreaterThanOrEqual(2);
    expect(sum(o, 'approval_required') - before.ar).toBe(1);
    expect(sum(o, 'deny') - before.deny).toBeGreaterThanOrEqual(1);
    expect(o.pendingApprovals).toBe(1);
    expect(o.quarantinedTools).toBe(0);
    expect(o.policyErrors).toBe(1);
    expect(empty.policyErrors).toBe(0);
    expect(o.activePolicyVersion).toMatch(/^sha256:/);
    expect(o.audit.headSeq).toBeGreaterThan(empty.audit.headSeq);
    expect(o.window).toMatchObject({ minutes: 60, truncated: false });
    expectError(await api.get('/v1/overview', KEYS.frank), 403, 'forbidden');
    expectError(await api.get('/v1/overview', KEYS.alice), 403, 'forbidden');
  });
});

describe('GET /v1/overview on a busy node', () => {
  it('past 20,000 decisions in the hour the oldest minutes are cut off, never the newest', async () => {
    const clock = createManualClock(Date.parse('2026-01-05T10:00:10Z'));
    const t = await createTestMandate({ clock });
    const api = client(t.url);
    const event = (effect: 'allow' | 'deny', i: number): AuditEvent => ({
      type: 'decision',
      time: new Date(clock.now()).toISOString(),
      nodeId: t.m.nodeId,
      decisionId: `dec_busy_${effect}_${i}`,
      agent: 'support-bot',
      user: 'alice',
      action: 'payments.refund',
      effect,
      data: {},
    });
    // 20,500 allows in one minute, then, five minutes later, three denies.
    for (let n = 0; n < 20_500; n += 500)
      await Promise.all(Array.from({ length: 500 }, (_, i) => t.m.audit.append(event('allow', n + i))));
    clock.advance(5 * 60_000);
    for (let i = 0; i < 3; i++) await t.m.audit.append(event('deny', i));
    const o = (await api.get('/v1/overview', KEYS.admin)).body;
    const last = o.decisionsPerMinute[59];
    expect(last.minute).toBe('2026-01-05T10:05:00.000Z');
    expect(last.deny).toBe(3);
    expect(o.window.truncated).toBe(true);
    // Counts are complete from inside the busy minute on; the busy minute itself is partial.
    expect(o.window.completeFrom >= '2026-01-05T10:00:00.000Z').toBe(true);
    expect(o.window.completeFrom < '2026-01-05T10:01:00.000Z').toBe(true);
    const busy = o.decisionsPerMinute.find(
      (b: { minute: string }) => b.minute === '2026-01-05T10:00:00.000Z',
    );
    expect(busy.allow).toBe(20_000 - 3);
    // The newest checkpoint is read on its own, not the whole table.
    expect(o.audit.lastCheckpoint).toMatchObject({ seq: expect.any(Number) });
  }, 60_000);
});

describe('GET /v1/policies/versions/:version', () => {
  it('returns the source of a stored version, active or not; admin only', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const v1 = (await api.get('/v1/policies', KEYS.admin)).body.version as string;
    const source = examplePolicySource();
    source.policies['extra.cedar'] =
      '@id("extra")\nforbid (principal, action == Action::"payments.refund", resource)\nwhen { context.args.amount > 100000 };\n';
    const v2 = (await api.put('/v1/policies', KEYS.admin, source)).body.version as string;
    expect(v2).not.toBe(v1);
    const old = await api.get(`/v1/policies/versions/${encodeURIComponent(v1)}`, KEYS.admin);
    expect(old.status, old.text).toBe(200);
    expect(old.body).toMatchObject({ version: v1, active: false });
    expect(Object.keys(old.body.policies).sort()).toEqual([
      'agents.cedar',
      'guardrails.cedar',
      'users.cedar',
    ]);
    expect(old.body.schema).toContain('payments.refund');
    const cur = (await api.get(`/v1/policies/versions/${encodeURIComponent(v2)}`, KEYS.admin)).body;
    expect(cur).toMatchObject({ version: v2, active: true });
    expect(cur.policies['extra.cedar']).toContain('@id("extra")');
    expectError(await api.get('/v1/policies/versions/sha256%3Anope', KEYS.admin), 404, 'not_found');
    expectError(
      await api.get(`/v1/policies/versions/${encodeURIComponent(v1)}`, KEYS.frank),
      403,
      'forbidden',
    );
  });
});
