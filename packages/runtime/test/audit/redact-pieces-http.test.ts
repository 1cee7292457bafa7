// SECURITY (probe f1) through the decision path: an arg holding a secret-shaped piece,
// `"sk-proj-…" <mallory@evil2.example>`, was replaced whole by `[REDACTED:secret]` in the approval
// (args and summary), the decision record and its recorded policy inputs — the approver decided
// blind and the recipient was lost to the audit trail, while the upstream sent to mallory. Only
// the piece goes now; the key itself is still nowhere in the store.
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { REDACTED_SECRET as S } from '../../src/audit/redact.js';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

const KEY = 'sk-proj-AAAAAAAAAAAAAAAAAAAA';
const MEMO = `"${KEY}" <mallory@evil2.example>`;
const SHOWN = `"${S}" <mallory@evil2.example>`;
/** The memo in the summary: a value with spaces is quoted, its own quotes escaped (summarize). */
const SUMMARISED = `"\\"${S}\\" <mallory@evil2.example>"`;

interface Item {
  event: { type: string; decisionId?: string; data: Record<string, unknown> };
}

describe('a secret-shaped piece of an arg is all the redaction takes', () => {
  it('the approver, the approval record and the decision record see the rest; the key is stored nowhere', async () => {
    const t = await createTestMandate({
      store: 'sqlite',
      tools: (doc) => {
        const r = doc.tools.find((x) => x.action === 'payments.refund')!;
        (r.inputSchema as { properties: Record<string, unknown> }).properties.memo = { type: 'string' };
        r.summary = 'Refund {amount} to customer {customerId} ({memo})';
      },
    });
    const api = client(t.url);
    const src = examplePolicySource();
    src.schema = src.schema.replace(
      'args: { customerId: String, amount: Long }',
      'args: { customerId: String, amount: Long, memo?: String }',
    );
    expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        ...refund(900),
        args: { customerId: 'c-42', amount: 900, memo: MEMO },
      }),
    );
    expect(d.effect).toBe('approval_required');

    // What the approver reads (the dashboard and the CLI read this answer).
    const a = ok200(await api.get(`/v1/approvals/${d.approval!.id}`, KEYS.admin));
    expect(a.args.memo).toBe(SHOWN);
    expect(a.summary).toBe(`Refund 900 to customer c-42 (${SUMMARISED})`);

    // The decision record, its recorded policy inputs, and the approval.requested record.
    const items = ok200(await api.get(`/v1/audit?decisionId=${d.decisionId}`, KEYS.admin)).items as Item[];
    const decision = items.find((i) => i.event.type === 'decision')!;
    expect((decision.event.data.args as Record<string, unknown>).memo).toBe(SHOWN);
    const inputs = decision.event.data.policyInputs as {
      context: { args: { memo: string } };
      redacted: string[];
    };
    expect(inputs.context.args.memo).toBe(SHOWN);
    expect(inputs.redacted).toContain('context.args.memo');
    const requested = items.find((i) => i.event.type === 'approval.requested')!;
    expect(requested.event.data.summary).toBe(`Refund 900 to customer c-42 (${SUMMARISED})`);

    // The key itself: in no table, nor in the export.
    const db = new Database(t.dbFile!, { readonly: true });
    try {
      const tables = (
        db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
      ).map((r) => r.name);
      for (const table of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all());
        expect(dump, table).not.toContain('AAAAAAAAAAAAAAAAAAAA');
      }
    } finally {
      db.close();
    }
    const exported = (await api.get('/v1/audit/export?format=jsonl', KEYS.admin)).text;
    expect(exported).toContain('mallory@evil2.example');
    expect(exported).not.toContain('AAAAAAAAAAAAAAAAAAAA');
  });
});
