import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mandate } from '../../src/app/index.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/port.js';
import { POSTGRES_URL, dropSchemas, freshSchema } from '../storage/helpers.js';
import { USAGE, activateBudgets, admin, deployment, read, refund, tempDir } from './helpers.js';

type Deployment = ReturnType<typeof deployment>;
let current: Deployment | null = null;
afterEach(async () => {
  await current?.close();
  current = null;
  if (POSTGRES_URL) await dropSchemas(POSTGRES_URL);
});

const HOUR = 3600_000;

async function counter(m: Mandate, name: string): Promise<number> {
  const now = new Date(m.clock.now()).toISOString();
  const rows = await m.store.listUsage({ name, activeAt: now });
  return rows.reduce((s, r) => s + r.value, 0);
}

/** The same suite on every store: `open` gives two nodes of one deployment on one store. */
function suite(open: () => Promise<{ dep: Deployment; a: Mandate; b: Mandate }>) {
  it('20 concurrent refunds of 300 from two nodes against a 2,000 daily budget: exactly 6 allowed', async () => {
    const { a, b } = await open();
    const calls = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).decisions.decide(refund(300), admin));
    const outcomes = await Promise.all(calls);
    const allowed = outcomes.filter((o) => o.decision.effect === 'allow');
    const denied = outcomes.filter((o) => o.decision.effect === 'deny');
    console.log(`race: ${allowed.length} allowed, ${denied.length} denied`);
    expect(allowed).toHaveLength(6);
    expect(denied).toHaveLength(14);
    for (const d of denied)
      expect(d.decision.reasons.map((r) => r.policyId)).toContain('refund-daily-budget');
    // Exactly the allowed calls stay charged; every denied reservation was given back.
    expect(await counter(a, 'refundTotalToday')).toBe(1800);
    expect(await counter(b, 'refundTotalToday')).toBe(1800);
  });

  it('a denied or approval_required call charges nothing; the approved retry is charged at its allow', async () => {
    const { dep, a, b } = await open();
    for (const [node, amount] of [
      [a, 500],
      [b, 500],
      [a, 500],
      [b, 400],
    ] as const)
      expect((await node.decisions.decide(refund(amount), admin)).decision.effect).toBe('allow');
    expect(await counter(a, 'refundTotalToday')).toBe(1900);
    // Over the budget: denied, and the counter stays where it was.
    const denied = await a.decisions.decide(refund(200), admin);
    expect(denied.decision.effect).toBe('deny');
    expect(denied.decision.reasons.map((r) => r.policyId)).toContain('refund-daily-budget');
    expect(await counter(b, 'refundTotalToday')).toBe(1900);
    // Denied for another reason (no grant covers bob's refunds): charges nothing either.
    const noGrant = await a.decisions.decide({ ...refund(10), onBehalfOf: 'bob' }, admin);
    expect(noGrant.decision.effect).toBe('deny');
    expect(await counter(a, 'refundTotalToday')).toBe(1900);
    // The next day, a refund over 500 needs approval: asking charges nothing, the approved retry does.
    dep.clock.advance(24 * HOUR);
    const asked = await a.decisions.decide(refund(600), admin);
    expect(asked.decision.effect).toBe('approval_required');
    expect(await counter(a, 'refundTotalToday')).toBe(0);
    const id = asked.decision.approval!.id;
    await a.approvals.vote(id, { id: 'frank', roles: ['finance-manager'] }, 'approve', null, null);
    const retried = await b.decisions.decide({ ...refund(600), approvalId: id }, admin);
    expect(retried.decision.effect).toBe('allow');
    expect(await counter(a, 'refundTotalToday')).toBe(600);
  });

  it('windows roll over on the clock: the next UTC day starts from 0; the decision event records the values', async () => {
    const { dep, a, b } = await open();
    for (const node of [a, b, a, b])
      expect((await node.decisions.decide(refund(500), admin)).decision.effect).toBe('allow');
    const full = await b.decisions.decide(refund(1), admin);
    expect(full.decision.effect).toBe('deny');
    // 2026-03-02T15:00Z + 8 h 59 min is still 2026-03-02 (UTC): still full.
    dep.clock.advance(8 * HOUR + 59 * 60_000);
    expect((await b.decisions.decide(refund(1), admin)).decision.effect).toBe('deny');
    dep.clock.advance(60_000);
    const fresh = await b.decisions.decide(refund(500), admin);
    expect(fresh.decision.effect).toBe('allow');
    expect(await counter(a, 'refundTotalToday')).toBe(500);
    const [event] = await a.store.queryAudit({ decisionId: fresh.decision.decisionId, limit: 1 });
    const data = (JSON.parse(event!.eventText) as { data: { usage: unknown } }).data;
    expect(data.usage).toEqual({
      refundTotalToday: { value: 0, after: 500, windowStart: '2026-03-03T00:00:00.000Z' },
    });
    const [deniedEvent] = await a.store.queryAudit({ decisionId: full.decision.decisionId, limit: 1 });
    expect(JSON.parse(deniedEvent!.eventText).data.usage).toEqual({
      refundTotalToday: { value: 2000, after: 2001, windowStart: '2026-03-02T00:00:00.000Z' },
    });
  });

  it('60 reads a minute per agent: the 61st is denied, the next minute allows again', async () => {
    const { dep, a, b } = await open();
    dep.clock.set(Date.parse('2026-03-02T15:00:00Z'));
    for (let i = 0; i < 60; i++) {
      const d = await (i % 2 ? a : b).decisions.decide(read, admin);
      expect(d.decision.effect).toBe('allow');
    }
    dep.clock.advance(59_000);
    const sixtyFirst = await a.decisions.decide(read, admin);
    expect(sixtyFirst.decision.effect).toBe('deny');
    expect(sixtyFirst.decision.reasons.map((r) => r.policyId)).toContain('reads-per-minute');
    expect(await counter(a, 'readsPerMinute')).toBe(60);
    dep.clock.advance(1000);
    expect((await b.decisions.decide(read, admin)).decision.effect).toBe('allow');
    expect(await counter(a, 'readsPerMinute')).toBe(1);
  });

  it('a dry run reads the counters and charges nothing', async () => {
    const { a } = await open();
    const dry = await a.decisions.decide(refund(300), admin, { dryRun: true });
    expect(dry.decision.effect).toBe('allow');
    expect(await counter(a, 'refundTotalToday')).toBe(0);
  });
}

describe('usage counters on one SQLite file, two nodes', () => {
  suite(async () => {
    const dir = tempDir();
    const dep = deployment(join(dir, 'keys'));
    current = dep;
    const store = `sqlite:${join(dir, 'm.db')}`;
    const a = await dep.node(store);
    const b = await dep.node(store);
    await activateBudgets(a, [a, b]);
    return { dep, a, b };
  });
});

describe('usage counters when the decision cannot be recorded', () => {
  it('an allow whose audit append fails answers audit_unavailable and charges nothing', async () => {
    const dir = tempDir();
    const dep = deployment(join(dir, 'keys'));
    current = dep;
    const inner = createSqliteStore(join(dir, 'm.db'));
    let failing = false;
    const store: Store = {
      ...inner,
      appendAudit: (events, seal) =>
        failing ? Promise.reject(new Error('disk on fire')) : inner.appendAudit(events, seal),
    };
    const a = await dep.node('memory', store);
    await activateBudgets(a, [a]);
    expect((await a.decisions.decide(refund(300), admin)).decision.effect).toBe('allow');
    failing = true;
    await expect(a.decisions.decide(refund(400), admin)).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(await counter(a, 'refundTotalToday')).toBe(300);
    failing = false;
    expect((await a.decisions.decide(refund(400), admin)).decision.effect).toBe('allow');
    expect(await counter(a, 'refundTotalToday')).toBe(700);
  });
});

describe('usage counters under the compiled policy engine', () => {
  it('reads context.usage like cedar-wasm: the budget holds, a call that fits is allowed', async () => {
    const dir = tempDir();
    const dep = deployment(join(dir, 'keys'), undefined, 'compiled');
    current = dep;
    const a = await dep.node(`sqlite:${join(dir, 'm.db')}`);
    await activateBudgets(a, [a]);
    for (let i = 0; i < 4; i++)
      expect((await a.decisions.decide(refund(500), admin)).decision.effect).toBe('allow');
    const over = await a.decisions.decide(refund(1), admin);
    expect(over.decision.effect).toBe('deny');
    expect(over.decision.reasons.map((r) => r.policyId)).toContain('refund-daily-budget');
    expect(await counter(a, 'refundTotalToday')).toBe(2000);
  });
});

describe.skipIf(!POSTGRES_URL)('usage counters on one PostgreSQL schema, two nodes', () => {
  suite(async () => {
    const dir = tempDir();
    const dep = deployment(join(dir, 'keys'));
    current = dep;
    const schema = freshSchema();
    const a = await dep.node('memory', createPostgresStore(POSTGRES_URL!, { schema }));
    const b = await dep.node('memory', createPostgresStore(POSTGRES_URL!, { schema }));
    await activateBudgets(a, [a, b]);
    return { dep, a, b };
  });
});

/** The parts of a decision event's data these tests read. */
interface RecordedData {
  args: Record<string, unknown>;
  usage: Record<string, Record<string, unknown>>;
  policyInputs: { context: { usage: unknown } };
}

describe('usage readings of a counter that sums a hidden arg', () => {
  it('are left off the record: two readings differ by the arg, which redaction hides', async () => {
    // A second-round probe read a redacted (and erased) refund amount as after - value.
    const dep = deployment(tempDir(), USAGE, 'cedar', (c) => {
      c.audit.redact = ['amount'];
    });
    current = dep;
    const a = await dep.node('memory');
    await activateBudgets(a, []);
    const d = await a.decisions.decide(refund(437), admin);
    expect(d.decision.effect).toBe('allow');
    const [event] = await a.store.queryAudit({ decisionId: d.decision.decisionId, limit: 1 });
    const data = (JSON.parse(event!.eventText) as { data: RecordedData }).data;
    expect(data.args.amount).toBe('[REDACTED]');
    expect(data.usage).toEqual({
      refundTotalToday: { windowStart: '2026-03-02T00:00:00.000Z', hidden: true },
    });
    expect(data.policyInputs.context.usage).toBe('[REDACTED]');
    // As a value, not inside a keyed digest or an id (random hex held such runs of digits).
    expect(event!.eventText).not.toMatch(/\b437\b/);
  });

  it('are recorded when the arg is not hidden', async () => {
    const dep = deployment(tempDir(), USAGE, 'cedar');
    current = dep;
    const a = await dep.node('memory');
    await activateBudgets(a, []);
    const d = await a.decisions.decide(refund(437), admin);
    const [event] = await a.store.queryAudit({ decisionId: d.decision.decisionId, limit: 1 });
    const data = (JSON.parse(event!.eventText) as { data: RecordedData }).data;
    expect(data.usage.refundTotalToday).toMatchObject({ value: 0, after: 437 });
    expect(data.policyInputs.context.usage).toMatchObject({
      refundTotalToday: 0,
      refundTotalTodayAfter: 437,
    });
  });
});
