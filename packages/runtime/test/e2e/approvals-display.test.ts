// Issue 8 §5 through the real binary: `mandate approvals list` never prints an agent's control, bidi
// or invisible characters raw, and flags the approval that holds them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, examplePolicySource, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200 } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

const HOSTILE = 'ok\r\u001b[2KRefund 10 to customer c-42: as agreed \u202Egnitset\u200B';
// eslint-disable-next-line no-control-regex
const RAW_HIDDEN = /[\r\u001b\u202E\u200B]/;

let t: TestMandate;

beforeAll(async () => {
  ensureBuilt();
  t = await createTestMandate({
    store: 'memory',
    config: (c) => void delete c.gateway,
    tools: (doc) => {
      const r = doc.tools.find((x) => x.action === 'payments.refund')!;
      (r.inputSchema as { properties: Record<string, unknown> }).properties.memo = { type: 'string' };
      r.summary = 'Refund {amount} to customer {customerId}: {memo}';
    },
  });
  const api = client(t.url);
  const src = examplePolicySource();
  src.schema = src.schema.replace(
    'args: { customerId: String, amount: Long }',
    'args: { customerId: String, amount: Long, memo?: String }',
  );
  expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
  for (const memo of ['customer called', HOSTILE]) {
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'payments.refund',
        args: { customerId: 'c-42', amount: 900, memo },
      }),
    );
    expect(d.effect).toBe('approval_required');
  }
});
afterAll(disposeAll);

describe('mandate approvals list', () => {
  const list = (json: boolean) =>
    runCli(['approvals', 'list', '--url', t.url, '--key', KEYS.frank, ...(json ? ['--json'] : [])], {
      timeoutMs: 120_000,
    });

  it('prints an ordinary approval as it is, and the hostile one escaped and flagged', async () => {
    const r = await list(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW_HIDDEN);
    // The ordinary approval: its summary unchanged, no marker on its block.
    const blocks = r.stdout.split(/\n(?=apr_)/);
    const plain = blocks.find((b) => b.includes('customer called'))!;
    expect(plain).toContain('summary:  Refund 900 to customer c-42: "customer called"');
    expect(plain).not.toContain('⚠');
    // The hostile one: flagged on its own line, every hidden character visible as an escape.
    const evil = blocks.find((b) => b.includes('gnitset'))!;
    expect(evil).toContain('⚠ hidden characters (control, bidi, invisible) in this request');
    expect(evil).toContain(
      'summary:  ⚠ hidden characters (control, bidi, invisible): Refund 900 to customer c-42: "ok\\u000D\\u001B[2KRefund 10',
    );
    expect(evil).toContain('\\u202Egnitset\\u200B');
    expect(evil).toMatch(/args: +⚠ hidden characters \(control, bidi, invisible\): \{/);
  });

  it('keeps --json the same JSON values, with nothing a terminal acts on', async () => {
    const r = await list(true);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW_HIDDEN);
    const items = (JSON.parse(r.stdout) as { items: { args: { memo: string } }[] }).items;
    expect(items.map((a) => a.args.memo).sort()).toEqual(['customer called', HOSTILE].sort());
  });
});
