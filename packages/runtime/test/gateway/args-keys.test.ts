// What the gateway forwards, and what a user confirming through elicitation reads, is the call as
// it was decided and bound. Found by a black-box probe (2026-12-01): the upstream received the
// agent's key order while the approval was bound to the sorted one (a MongoDB-style command ran
// `drop` under an approval for `count`); keys differing only in case passed a forbid on the one
// the policy reads; and the elicitation prompt showed only the summary template, so args it does
// not name ran unseen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { AuditEvent } from '@mandate/protocol';
import type { Mandate } from '../../src/app/index.js';
import {
  ALICE_GRANTS_BOT,
  BOT_ENTITIES,
  mcpClient,
  readLog,
  startMandate,
  toolServerUpstream,
} from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { text: String } } };
action "tools.refund" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { customerId: String, amount: Long } } };
`;
const POLICIES = `
@id("echo") permit (principal is Agent, action == Action::"tools.echo", resource);
@id("no-secret-echo") forbid (principal, action == Action::"tools.echo", resource) when { context.args.text == "forbidden" };
@id("refund-confirmed-by-user") @approval("self")
permit (principal is Agent, action == Action::"tools.refund", resource);
@id("users") permit (principal is User, action in [Action::"tools.echo", Action::"tools.refund"], resource);
`;

describe('MCP gateway: the decided args, in the order bound, with every key one spelling', () => {
  let m: Mandate;
  let url: string;
  let client: Client;
  const callLog = join(tmpdir(), `gw-args-keys-${process.pid}-${Date.now()}-calls.jsonl`);
  let elicited: string[] = [];

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      // A summary template that names two args: the prompt must show the others too.
      tools: [
        {
          action: 'tools.refund',
          inputSchema: {
            type: 'object',
            properties: { customerId: { type: 'string' }, amount: { type: 'integer' } },
            required: ['customerId', 'amount'],
          },
          summary: 'Refund {amount} to customer {customerId}',
        },
      ],
      apiKeys: [{ name: 'bot', secret: 'secret-bot-key', role: 'agent', subject: 'bot' }],
      grants: [ALICE_GRANTS_BOT],
      gateway: {
        upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog })],
        onBehalfOf: { bot: 'alice' },
        callTimeoutMs: 5000,
        holdForApprovalMs: 0,
        confirmByElicitation: true,
      },
    }));
    client = await mcpClient(url, 'secret-bot-key', { elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      elicited.push(req.params.message);
      return { action: 'accept', content: { confirm: true } };
    });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  /** The raw lines the upstream logged for `tool` (its JSON text keeps the order it received). */
  const rawCalls = (tool: string) =>
    readFileSync(callLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes(`"tool":"${tool}"`));

  it('the upstream receives the keys in the order the call hash uses, at every depth', async () => {
    const r = await client.callTool({
      name: 'tools.echo',
      arguments: { text: 'order', zeta: { drop: 'customers', count: 'customers' }, alpha: [{ b: 1, a: 2 }] },
    });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const [line] = rawCalls('echo').filter((l) => l.includes('"order"'));
    expect(line).toContain(
      '"args":{"alpha":[{"a":2,"b":1}],"text":"order","zeta":{"count":"customers","drop":"customers"}}',
    );
  });

  it('the allow and the deny of one arg, and keys differing only in case refused, never forwarded', async () => {
    const echoes = () => readLog(callLog).filter((e) => e.tool === 'echo').length;
    const before = echoes();
    expect((await client.callTool({ name: 'tools.echo', arguments: { text: 'fine' } })).isError).toBeFalsy();
    expect(echoes()).toBe(before + 1);
    const denied = await client.callTool({ name: 'tools.echo', arguments: { text: 'forbidden' } });
    expect((denied.content as { text: string }[])[0]!.text).toMatch(/denied by Mandate/);
    const secret = 'sk_live_GWFOLD77abcdef';
    for (const args of [
      { text: 'fine', TEXT: 'forbidden' },
      { text: 'fine', Text: 'forbidden' },
      { text: 'fine', nested: { [secret]: 1, [secret.toLowerCase()]: 2 } },
    ]) {
      const r = await client.callTool({ name: 'tools.echo', arguments: args });
      expect(r.isError, JSON.stringify(args)).toBe(true);
      expect((r.content as { text: string }[])[0]!.text).toMatch(
        /Mandate could not decide this call: .*differ(s)? .*only in case or Unicode form/,
      );
    }
    expect(echoes()).toBe(before + 1);
    // Each refusal is on the record, without the keys the caller sent.
    const refused = (await m.store.queryAudit({ type: 'request.refused', limit: 100 })).map(
      (rec) => JSON.parse(rec.eventText) as AuditEvent,
    );
    const folds = refused.filter((e) => String(e.data.reason).includes('only in case or Unicode form'));
    expect(folds).toHaveLength(3);
    expect(folds.every((e) => e.data.code === 'invalid_args')).toBe(true);
    expect(JSON.stringify(folds)).not.toContain('GWFOLD77');
  });

  it('a NUL in a value or a key is refused, never forwarded (a C-string tool would act on "forbidden")', async () => {
    const echoes = () => readLog(callLog).filter((e) => e.tool === 'echo').length;
    const before = echoes();
    for (const args of [{ text: 'forbidden\u0000x' }, { text: 'fine', 'text\u0000': 'forbidden' }]) {
      const r = await client.callTool({ name: 'tools.echo', arguments: args });
      expect(r.isError, JSON.stringify(args)).toBe(true);
      expect((r.content as { text: string }[])[0]!.text).toMatch(
        /Mandate could not decide this call: .*U\+0000/,
      );
    }
    expect(echoes()).toBe(before);
    const refused = (await m.store.queryAudit({ type: 'request.refused', limit: 100 })).map(
      (rec) => JSON.parse(rec.eventText) as AuditEvent,
    );
    expect(refused.filter((e) => String(e.data.reason).includes('U+0000 (NUL)'))).toHaveLength(2);
  });

  it('a user confirming by elicitation reads every arg, escaped, redacted ones marked, not only the summary', async () => {
    elicited = [];
    const refunds = () => readLog(callLog).filter((e) => e.tool === 'refund');
    const r = await client.callTool({
      name: 'tools.refund',
      arguments: { customerId: 'c-7', amount: 40, note: 'to \u202Emallory', apiKey: 'sk_live_abc123def456' },
    });
    expect(r.isError).toBeFalsy();
    expect(elicited).toHaveLength(1);
    const text = elicited[0]!;
    expect(text).toContain('bot asks you (alice) to confirm: Refund 40 to customer c-7');
    // The args the template does not name, in the inbox's form: escaped, flagged, redacted marked.
    expect(text).toContain('"note":"to \\u202Emallory"');
    expect(text).toMatch(/^⚠ hidden characters \(bidi\)/);
    expect(text).toContain('"apiKey":"[REDACTED');
    expect(text).not.toContain('sk_live_abc123def456');
    expect(text).toMatch(/\[REDACTED…\] are hidden from this view/);
    expect(refunds().at(-1)).toMatchObject({ args: { note: 'to \u202Emallory', amount: 40 } });
  });
});
