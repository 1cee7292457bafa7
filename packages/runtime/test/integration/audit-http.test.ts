import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import { createTestMandate, disposeAll, examplePolicySource, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund, type Client } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

const T0 = Date.parse('2026-01-05T10:00:00Z');
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

interface Item {
  seq: number;
  prevHash: string;
  hash: string;
  event: {
    type: string;
    time: string;
    decisionId?: string;
    agent?: string;
    user?: string;
    action?: string;
    effect?: string;
    data: Record<string, unknown>;
  };
}

let t: TestMandate;
let api: Client;
const clock = createManualClock(T0);
/** The decisions of the story, by name. */
const d: Record<string, Decision> = {};

/** Every record matching `query`, following nextCursor with small pages. */
async function walk(query: string, limit: number): Promise<{ items: Item[]; pages: number }> {
  const items: Item[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = query ? '&' : '';
    const page: { items: Item[]; nextCursor: string | null } = ok200(
      await api.get(`/v1/audit?${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, KEYS.admin),
    );
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    if (pages > 1000) throw new Error('cursor does not advance');
  } while (cursor);
  return { items, pages };
}

beforeAll(async () => {
  ensureBuilt();
  t = await createTestMandate({ store: 'sqlite', clock });
  api = client(t.url);
  const at = async (ms: number, name: string, key: string, req: Record<string, unknown>) => {
    clock.set(ms);
    d[name] = ok200(await api.decide(key, req));
  };
  await at(T0 + 1 * HOUR, 'refundAllow', KEYS.supportBot, refund(120));
  await at(T0 + 1 * HOUR + 1000, 'readDeny', KEYS.supportBot, {
    agent: 'support-bot',
    onBehalfOf: 'alice',
    action: 'crm.read_customer',
    args: { customerId: 'c-77' },
  });
  // 07:00 in New York: outside market hours.
  await at(T0 + 2 * HOUR, 'tradeDeny', KEYS.tradeBot, {
    agent: 'trade-bot',
    onBehalfOf: 'bob',
    action: 'trade.place_order',
    args: { symbol: 'ACME', qty: 1, side: 'buy' },
  });
  await at(T0 + 3 * HOUR, 'hrApproval', KEYS.hrBot, {
    agent: 'hr-bot',
    onBehalfOf: 'carol',
    action: 'hr.create_account',
    args: { employeeId: 'e-1001' },
  });
  await at(T0 + 4 * HOUR, 'refundApproval', KEYS.supportBot, refund(900));
  expect(Object.values(d).map((x) => x.effect)).toEqual([
    'allow',
    'deny',
    'deny',
    'approval_required',
    'approval_required',
  ]);
});
afterAll(disposeAll);

describe('GET /v1/audit filters', () => {
  it('filters by agent', async () => {
    const { items } = await walk('agent=support-bot', 100);
    expect(items.length).toBeGreaterThan(0);
    for (const i of items) expect(i.event.agent).toBe('support-bot');
    const ids = items.filter((i) => i.event.type === 'decision').map((i) => i.event.decisionId);
    expect(ids).toEqual([d.refundAllow!.decisionId, d.readDeny!.decisionId, d.refundApproval!.decisionId]);
    // the approval request belongs to the same agent and carries the decision id it came from
    const requested = items.filter((i) => i.event.type === 'approval.requested');
    expect(requested.map((i) => i.event.decisionId)).toEqual([d.refundApproval!.decisionId]);
  });

  it('filters by action', async () => {
    const { items } = await walk('action=payments.refund&type=decision', 100);
    expect(items.map((i) => i.event.decisionId)).toEqual([
      d.refundAllow!.decisionId,
      d.refundApproval!.decisionId,
    ]);
  });

  it('filters by effect', async () => {
    const deny = await walk('effect=deny', 100);
    expect(deny.items.map((i) => i.event.decisionId)).toEqual([
      d.readDeny!.decisionId,
      d.tradeDeny!.decisionId,
    ]);
    const pending = await walk('effect=approval_required', 100);
    expect(pending.items.map((i) => i.event.decisionId)).toEqual([
      d.hrApproval!.decisionId,
      d.refundApproval!.decisionId,
    ]);
    const combined = await walk('agent=support-bot&effect=allow', 100);
    expect(combined.items.map((i) => i.event.decisionId)).toEqual([d.refundAllow!.decisionId]);
  });

  it('refuses a filter given twice (it read the first alone: effect=allow&effect=deny showed no denies)', async () => {
    for (const q of ['effect=allow&effect=deny', 'effect=deny&effect=allow', 'agent=a&limit=5&agent=b']) {
      const res = await api.get(`/v1/audit?${q}`, KEYS.admin);
      expectError(res, 400, 'bad_request');
      expect(res.text, q).toMatch(/given more than once/);
    }
    expectError(await api.get('/v1/audit/export?effect=allow&effect=deny', KEYS.admin), 400, 'bad_request');
  });

  it('filters by time range (from/to inclusive)', async () => {
    const { items } = await walk(`from=${iso(T0 + 1.5 * HOUR)}&to=${iso(T0 + 3 * HOUR)}`, 100);
    for (const i of items) {
      expect(Date.parse(i.event.time)).toBeGreaterThanOrEqual(T0 + 1.5 * HOUR);
      expect(Date.parse(i.event.time)).toBeLessThanOrEqual(T0 + 3 * HOUR);
    }
    expect(items.filter((i) => i.event.type === 'decision').map((i) => i.event.decisionId)).toEqual([
      d.tradeDeny!.decisionId,
      d.hrApproval!.decisionId,
    ]);
    const before = await walk(`to=${iso(T0 + 1 * HOUR)}&type=decision`, 100);
    expect(before.items.map((i) => i.event.decisionId)).toEqual([d.refundAllow!.decisionId]);
  });

  it('rejects a bad time, cursor or caller', async () => {
    expectError(await api.get('/v1/audit?from=yesterday', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/audit?cursor=abc', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/audit', KEYS.supportBot), 403, 'forbidden');
    expectError(await api.get('/v1/audit', KEYS.frank), 403, 'forbidden');
    expectError(await api.get('/v1/audit'), 401, 'unauthenticated');
  });
});

describe('cursor pagination', () => {
  it('walks every record exactly once, in seq order, for any page size', async () => {
    // The first read of this filter in the window is itself recorded (audit.read); its repeats are only counted.
    await walk('', 1000);
    const all = await walk('', 1000);
    expect(all.pages).toBe(1);
    const seqs = all.items.map((i) => i.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    for (const limit of [1, 2, 7]) {
      const paged = await walk('', limit);
      expect(paged.items.map((i) => i.seq)).toEqual(seqs);
      // No empty trailing page: the last page says nextCursor null.
      expect(paged.pages).toBe(Math.ceil(seqs.length / limit));
    }
  });

  it('walks a filtered view exactly once too', async () => {
    const whole = await walk('agent=support-bot', 1000);
    const paged = await walk('agent=support-bot', 1);
    expect(paged.items.map((i) => i.seq)).toEqual(whole.items.map((i) => i.seq));
    expect(new Set(paged.items.map((i) => i.seq)).size).toBe(paged.items.length);
  });
});

describe('export and verify', () => {
  it('exports JSONL that re-links into the chain and matches /v1/audit', async () => {
    const res = await api.get('/v1/audit/export?format=jsonl', KEYS.admin);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Item);
    const all = await walk('', 1000);
    expect(lines).toEqual(all.items);
    let prev = GENESIS_HASH;
    for (const l of lines) {
      expect(l.prevHash).toBe(prev);
      prev = l.hash;
    }
    const verify = ok200(await api.get('/v1/audit/verify', KEYS.admin));
    expect(verify).toMatchObject({
      ok: true,
      records: lines.length,
      head: { seq: lines.at(-1)!.seq, hash: lines.at(-1)!.hash },
    });

    const denies = (await api.get('/v1/audit/export?format=jsonl&effect=deny', KEYS.admin)).text
      .trimEnd()
      .split('\n');
    expect(denies.map((l) => (JSON.parse(l) as Item).event.decisionId)).toEqual([
      d.readDeny!.decisionId,
      d.tradeDeny!.decisionId,
    ]);
  });

  it('exports CEF, one line per record, with the decision id and outcome', async () => {
    const res = await api.get('/v1/audit/export?format=cef', KEYS.admin);
    expect(res.status).toBe(200);
    const lines = res.text.trimEnd().split('\n');
    const all = await walk('', 1000);
    expect(lines).toHaveLength(all.items.length);
    for (const l of lines) expect(l).toMatch(/^CEF:0\|Mandate\|Mandate\|[^|]+\|[^|]+\|[^|]+\|\d+\|/);
    const deny = lines.find((l) => l.includes(`cs1=${d.readDeny!.decisionId}`));
    expect(deny).toContain('outcome=deny');
    expect(deny).toContain('suser=support-bot');
    expect(deny).toContain('act=crm.read_customer');
    expectError(await api.get('/v1/audit/export?format=xml', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/audit/export', KEYS.supportBot), 403, 'forbidden');
  });

  it('finds an edited record, through HTTP and the CLI, and names it', async () => {
    const cli = () => runCli(['audit', 'verify', '--config', t.configFile, '--json']);
    const before = await cli();
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ ok: true });

    const [rec] = ok200(
      await api.get(`/v1/audit?decisionId=${d.refundAllow!.decisionId}&type=decision`, KEYS.admin),
    ).items as Item[];
    const seq = rec!.seq;
    const db = new Database(t.dbFile!);
    try {
      const original = db.prepare('SELECT event_text, effect FROM audit_events WHERE seq = ?').get(seq) as {
        event_text: string;
        effect: string;
      };
      expect(original.effect).toBe('allow');

      // 1. The DB admin flips the hashed event from allow to deny.
      const changed = db
        .prepare(
          `UPDATE audit_events SET event_text = replace(event_text, '"allow"', '"deny"') WHERE seq = ?`,
        )
        .run(seq).changes;
      expect(changed).toBe(1);
      const v1 = ok200(await api.get('/v1/audit/verify', KEYS.admin));
      expect(v1.ok).toBe(false);
      expect(v1.firstBad).toMatchObject({ seq, problem: 'hash_mismatch' });
      const after = await cli();
      expect(after.code).toBe(1);
      expect(JSON.parse(after.stdout).firstBad).toMatchObject({ seq, problem: 'hash_mismatch' });
      const human = await runCli(['audit', 'verify', '--config', t.configFile]);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(`FAILED at record ${seq}: hash_mismatch`);

      // Put it back: the chain is whole again — the CLI, which has no memory of the node, says so —
      // but the node found it edited and says so until it restarts, as /readyz does.
      db.prepare('UPDATE audit_events SET event_text = ? WHERE seq = ?').run(original.event_text, seq);
      expect(ok200(await api.get('/v1/audit/verify', KEYS.admin))).toMatchObject({
        ok: false,
        firstBad: { seq, problem: 'hash_mismatch' },
      });
      expect((await cli()).code).toBe(0);

      // 2. Only the query column is edited: the index no longer agrees with the hashed event.
      db.prepare(`UPDATE audit_events SET effect = 'deny' WHERE seq = ?`).run(seq);
      const v2 = ok200(await api.get('/v1/audit/verify', KEYS.admin));
      expect(v2.ok).toBe(false);
      expect(v2.firstBad).toMatchObject({ seq, problem: 'index_mismatch' });
      const col = await cli();
      expect(col.code).toBe(1);
      expect(JSON.parse(col.stdout).firstBad.seq).toBe(seq);

      db.prepare(`UPDATE audit_events SET effect = 'allow' WHERE seq = ?`).run(seq);
      expect(ok200(await api.get('/v1/audit/verify', KEYS.admin)).ok).toBe(false);
      expect((await cli()).code).toBe(0);
    } finally {
      db.close();
    }
  });
});

describe('secrets in args never reach the stored audit text', () => {
  const PASSWORD = 'hunter2-Sup3rS3cret!';
  const TOKEN = 'Bearer abcDEF0123456789xyzTOKEN';
  const CARD = '4111 1111 1111 1111';

  it('redacts secret-named args, secret-shaped values and configured paths in the decision and the approval', async () => {
    const s = await createTestMandate({
      store: 'sqlite',
      tools: (doc) => {
        doc.tools.push({
          action: 'vault.rotate',
          description: 'Rotate a credential.',
          inputSchema: {
            type: 'object',
            properties: {
              system: { type: 'string' },
              password: { type: 'string' },
              note: { type: 'string' },
              card: { type: 'string' },
            },
            required: ['system', 'password'],
            additionalProperties: false,
          },
          resource: 'System::args.system',
          risk: 'critical',
          summary: 'Rotate a credential',
          redact: [],
        });
      },
      entities: (doc) => {
        doc.resources.push({ type: 'System', id: 'payments-db', attributes: {}, tags: [] });
      },
      config: (c) => {
        c.audit.redact = ['system'];
      },
    });
    const sapi = client(s.url);
    // The example set plus an approval-gated vault action on a System resource.
    const src = examplePolicySource();
    src.policies['vault.cedar'] =
      '@id("vault-needs-finance")\n@approval("finance-manager")\npermit (principal is Agent, action == Action::"vault.rotate", resource);\n';
    src.schema +=
      '\nentity System = { tags: Set<String> };\naction "vault.rotate" appliesTo { principal: [Agent, User], resource: System, ' +
      'context: { args: { system: String, password: String, note?: String, card?: String }, time: Time, intent?: String, onBehalfOf?: User, agent?: Agent, grant?: Grant } };\n';
    expect(ok200(await sapi.put('/v1/policies', KEYS.admin, src)).changed).toBe(true);

    const args = { system: 'payments-db', password: PASSWORD, note: `header was ${TOKEN}`, card: CARD };
    const dec = ok200(
      await sapi.decide(KEYS.supportBot, { agent: 'support-bot', action: 'vault.rotate', args }),
    );
    expect(dec.effect).toBe('approval_required');

    const [rec] = ok200(await sapi.get(`/v1/audit?decisionId=${dec.decisionId}&type=decision`, KEYS.admin))
      .items as Item[];
    expect(rec!.event.data.args).toEqual({
      system: '[REDACTED]',
      password: '[REDACTED:secret]',
      // Only the secret-shaped piece of a string goes (probe f1: a piece hid the whole value).
      note: 'header was [REDACTED:secret]',
      card: '[REDACTED:secret]',
    });
    expect(rec!.event.data.argsDigest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const approval = ok200(await sapi.get(`/v1/approvals/${dec.approval!.id}`, KEYS.admin));
    expect(approval.args).toEqual(rec!.event.data.args);

    // Nothing anywhere in the database, nor in the export, holds the secrets.
    const db = new Database(s.dbFile!, { readonly: true });
    try {
      const tables = (
        db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
      ).map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(['audit_events', 'approvals']));
      for (const table of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all());
        for (const secret of [PASSWORD, 'abcDEF0123456789xyzTOKEN', CARD, '4111111111111111'])
          expect(dump).not.toContain(secret);
      }
    } finally {
      db.close();
    }
    const exported = (await sapi.get('/v1/audit/export?format=jsonl', KEYS.admin)).text;
    expect(exported).toContain(dec.decisionId);
    expect(exported).not.toContain(PASSWORD);
    expect(exported).not.toContain('abcDEF0123456789xyzTOKEN');
  });

  it('keeps ordinary args readable (the redactor does not blank everything)', async () => {
    const [rec] = ok200(
      await api.get(`/v1/audit?decisionId=${d.refundAllow!.decisionId}&type=decision`, KEYS.admin),
    ).items as Item[];
    expect(rec!.event.data.args).toEqual({ customerId: 'c-42', amount: 120 });
  });
});

describe('an export longer than a page', () => {
  it('streams every record once, in order, across the node’s pages of 200', async () => {
    const s = await createTestMandate({ store: 'sqlite' });
    await Promise.all(
      Array.from({ length: 450 }, (_, i) =>
        s.m.audit.append({
          type: 'decision',
          time: new Date().toISOString(),
          nodeId: s.m.nodeId,
          decisionId: `dec_export_${i}`,
          agent: 'support-bot',
          action: 'payments.refund',
          effect: 'allow',
          data: { i },
        }),
      ),
    );
    const res = await client(s.url).get('/v1/audit/export?format=jsonl', KEYS.admin);
    expect(res.status).toBe(200);
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Item);
    const head = await s.m.store.auditHead();
    expect(lines.length).toBe(head.seq);
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: head.seq }, (_, k) => k + 1));
    let prev = GENESIS_HASH;
    for (const l of lines) {
      expect(l.prevHash).toBe(prev);
      prev = l.hash;
    }
    expect(prev).toBe(head.hash);
  });
});
