// A chain rewritten at or below a sink's cursor (a database admin deletes the tail, a backup is
// restored while the node runs): the records then written at re-used seqs — the node's own
// `audit.verify_failed` finding first — must still reach every sink and the alert evaluator.
// Before the cursor held the hash of its record, the runner read `afterSeq = cursor` and skipped
// them for good, lag 0 and no error (a black-box probe: 0 of 12 records delivered).
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredAuditRecord } from '../../src/storage/port.js';
import {
  POSTGRES_URL,
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  type TestMandate,
} from '../fixtures/mandate.js';
import { withDb } from '../fixtures/audit-db.js';
import { KEYS, client, refund, type Json } from '../fixtures/http.js';
import { until } from './receivers.js';

afterAll(disposeAll);

/** A webhook receiver keeping every (seq, hash) it was sent, duplicates included. */
async function webhookReceiver(): Promise<{
  url: string;
  got: { seq: number; hash: string }[];
  server: Server;
}> {
  const got: { seq: number; hash: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      for (const r of (JSON.parse(body) as { records: { seq: number; hash: string }[] }).records)
        got.push({ seq: r.seq, hash: r.hash });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got, server };
}

/** What a database admin does: `DELETE FROM audit_events WHERE seq > n`, behind the node's back. */
async function deleteTail(t: TestMandate, n: number): Promise<void> {
  if (t.kind === 'sqlite') {
    withDb(t, (db) => db.prepare('DELETE FROM audit_events WHERE seq > ?').run(n));
    return;
  }
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query(`DELETE FROM "${t.schema}".audit_events WHERE seq > $1`, [n]);
  } finally {
    await c.end();
  }
}

/** The tail after `n` deleted with the checkpoints over it: what a stop before they were signed leaves. */
async function deleteUnsignedTail(t: TestMandate, n: number): Promise<void> {
  await deleteTail(t, n);
  if (t.kind === 'sqlite') {
    withDb(t, (db) => db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(n));
    return;
  }
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query(`DELETE FROM "${t.schema}".audit_checkpoints WHERE seq > $1`, [n]);
  } finally {
    await c.end();
  }
}

async function wholeChain(t: TestMandate): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for (;;) {
    const page = await t.m.store.readAudit(out.at(-1)?.seq ?? 0, 500);
    if (page.length === 0) return out;
    out.push(...page);
  }
}

async function decide(t: TestMandate, n: number, from: number): Promise<void> {
  const api = client(t.url);
  // Small refunds: allowed, one decision record each.
  for (let i = 0; i < n; i++) await api.decide(KEYS.supportBot, refund(10 + from + i));
}

/** Every record of the chain as it is now was received, by seq and hash. */
async function missing(t: TestMandate, got: { seq: number; hash: string }[]): Promise<number[]> {
  const have = new Set(got.map((r) => `${r.seq}:${r.hash}`));
  return (await wholeChain(t)).filter((r) => !have.has(`${r.seq}:${r.hash}`)).map((r) => r.seq);
}

describe.each(durableStoreKinds())('a chain rewritten below the cursors (%s)', (kind) => {
  /**
   * A node with the sink `siem` (and `rules`), 12 decisions delivered, then the newest 8 records
   * deleted in the database and 12 more decisions: returns the old head, the cut and the finding.
   */
  async function cutBelowTheCursors(url: string, rules: Json[]) {
    const t = await createTestMandate({
      store: kind,
      config: (c) => {
        c.sinks = [{ name: 'siem', type: 'webhook', url, batchSize: 5 }];
        if (rules.length > 0) c.alerts = { rules };
      },
    });
    const store = t.m.store;
    await decide(t, 12, 0);
    const before = (await store.auditHead()).seq;
    await until(
      async () => (await store.getSinkCursor('siem'))?.seq === before,
      'the sink to catch up',
      1000,
    );
    if (rules.length > 0)
      await until(async () => (await store.getSinkCursor('~alerts'))?.seq === before, 'the evaluator', 1000);
    // The admin deletes the newest 8 records; the node goes on (and records what it found).
    const n = before - 8;
    await deleteTail(t, n);
    await decide(t, 12, 100);
    const finding = (await wholeChain(t)).find((r) => JSON.parse(r.eventText).type === 'audit.verify_failed');
    expect(finding, 'the node records the cut').toBeDefined();
    // The finding and the decisions after it sit at seqs the sink had acknowledged already.
    expect(finding!.seq).toBeGreaterThan(n);
    expect(finding!.seq).toBeLessThanOrEqual(before);
    return { t, store, before, n, finding: finding! };
  }

  it('the records at re-used seqs reach the sink, the status says so and the lag returns to 0', async () => {
    const rx = await webhookReceiver();
    try {
      const { t, store } = await cutBelowTheCursors(rx.url, []);
      await until(
        async () => (await missing(t, rx.got)).length === 0,
        'every record of the rewritten chain at the receiver',
        1000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: seqs never delivered ${JSON.stringify(await missing(t, rx.got))}`);
      });
      const head = await store.auditHead();
      await until(() => t.m.sinkStatus()[0]?.cursor === head.seq, 'the cursor at the head', 1000);
      const s = t.m.sinkStatus()[0]!;
      expect(s.rewinds).toBeGreaterThanOrEqual(1);
      expect(s.lastError).toMatch(
        /^the audit chain was rewritten at or before seq \d+ \(.*\); re-delivering from /,
      );
      expect(s.lag).toBe(0);
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      expect(metrics).toMatch(/^mandate_audit_sink_rewinds_total\{sink="siem",type="webhook"\} [1-9]/m);
      // The stored cursor stands on the head's record, by seq and hash.
      await until(async () => (await store.getSinkCursor('siem'))?.seq === head.seq, 'the stored cursor');
      expect(await store.getSinkCursor('siem')).toMatchObject({ seq: head.seq, hash: head.hash });
      const view = await client(t.url).get('/v1/audit/sinks', KEYS.admin);
      expect(view.body.sinks[0]).toMatchObject({ name: 'siem', cursor: head.seq, lag: 0 });
    } finally {
      rx.server.close();
    }
  });

  it('the alert evaluator sees the finding at its re-used seq: audit_verification_failed fires once', async () => {
    const rx = await webhookReceiver();
    try {
      const { store, finding } = await cutBelowTheCursors(rx.url, [
        { name: 'tamper', type: 'audit_verification_failed' },
      ]);
      const fired = async () =>
        (await store.queryAudit({ type: 'alert.fired', limit: 100 })).map(
          (r) => (JSON.parse(r.eventText) as Json).data,
        );
      await until(
        async () => (await fired()).some((a: Json) => a.triggerSeq === finding.seq),
        `the audit_verification_failed alert for seq ${finding.seq}`,
        500,
      );
      expect((await fired()).filter((a: Json) => a.ruleType === 'audit_verification_failed')).toHaveLength(1);
    } finally {
      rx.server.close();
    }
  });

  it('a node restarted on a chain cut below the stored cursor finds it from the cursor’s hash and re-delivers', async () => {
    const rx = await webhookReceiver();
    try {
      const opts = {
        store: kind,
        config: (c: Json) => {
          c.sinks = [{ name: 'siem', type: 'webhook', url: rx.url, batchSize: 5 }];
        },
      };
      const t = await createTestMandate(opts);
      await decide(t, 10, 0);
      const before = (await t.m.store.auditHead()).seq;
      await until(async () => (await t.m.store.getSinkCursor('siem'))?.seq === before, 'the sink', 1000);
      await t.close();
      // Offline: the tail goes, and (a restore from an older backup) other records take its seqs.
      await deleteTail(t, before - 6);
      const t2 = await createTestMandate({ ...opts, reuse: t });
      await decide(t2, 3, 50);
      expect((await t2.m.store.auditHead()).seq).toBeLessThan(before);
      await until(
        async () => (await missing(t2, rx.got)).length === 0,
        'every record of the rewritten chain at the receiver',
        1000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: seqs never delivered ${JSON.stringify(await missing(t2, rx.got))}`);
      });
      const head = await t2.m.store.auditHead();
      await until(
        () => t2.m.sinkStatus()[0]?.lag === 0 && t2.m.sinkStatus()[0]?.cursor === head.seq,
        'lag 0',
      );
      expect(t2.m.sinkStatus()[0]).toMatchObject({ rewinds: 1, lag: 0 });
      expect(t2.m.sinkStatus()[0]!.lastError).toMatch(/rewritten at or before seq \d+/);
      await until(
        async () => (await t2.m.store.getSinkCursor('siem'))?.seq === head.seq,
        'the stored cursor',
      );
      expect(await t2.m.store.getSinkCursor('siem')).toMatchObject({ seq: head.seq, hash: head.hash });
    } finally {
      rx.server.close();
    }
  });
  it('an unsigned tail deleted under a stopped node: the sink that delivered it makes it the node’s finding', async () => {
    // A probe stopped a node hard before its tail was signed, deleted that tail in the database
    // and started it again: no checkpoint covered the records, so only the sink's status said they
    // were gone, while /readyz and verify said ok.
    const rx = await webhookReceiver();
    try {
      const opts = {
        store: kind,
        config: (c: Json) => {
          c.sinks = [{ name: 'siem', type: 'webhook', url: rx.url, batchSize: 5 }];
          // The key directory's mirror (on by default) finds this cut at start by itself
          // (integration/audit-evidence.test.ts); here the sink is the only evidence outside the database.
          c.audit = { ...(c.audit as Json), checkpointMirror: { file: null } };
        },
      };
      const t = await createTestMandate(opts);
      await decide(t, 10, 0);
      const before = (await t.m.store.auditHead()).seq;
      await until(async () => (await t.m.store.getSinkCursor('siem'))?.seq === before, 'the sink', 1000);
      await t.close();
      await deleteUnsignedTail(t, before - 6);
      const t2 = await createTestMandate({ ...opts, reuse: t });
      await decide(t2, 3, 50);
      await until(() => t2.m.sinkStatus()[0]?.rewinds === 1, 'the sink finding the rewrite');
      expect(t2.m.evidence.tail.status()).toMatchObject({
        ok: false,
        failure: { seq: before, message: expect.stringMatching(/delivered to sink siem/) },
      });
      const readyz = await client(t2.url).get('/readyz');
      expect(readyz.body).toMatchObject({ audit: 'tampered', auditProblem: { seq: before } });
    } finally {
      rx.server.close();
    }
  });
});
