// Issue 9 §1: a call refused before it was decided (args that fail the schema) carries a decision
// id in `_meta`, as docs/gateway.md promises of every result, and that id is on the record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { AuditEvent } from '@mandate/protocol';
import type { Mandate } from '../../src/app/index.js';
import { BOT_ENTITIES, FIXTURES, mcpClient, startMandate } from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.refund" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { customerId: String, amount: Long } } };
`;
const POLICIES = `@id("refund") permit (principal is Agent, action == Action::"tools.refund", resource);`;

const meta = (r: unknown) => (r as { _meta?: Record<string, unknown> })._meta ?? {};

describe('MCP: refused args', () => {
  let m: Mandate;
  let client: Client;

  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [
          {
            name: 'tools',
            command: process.execPath,
            args: [join(FIXTURES, 'tool-server.mjs')],
            trustOnFirstUse: true,
          },
        ],
        holdForApprovalMs: 0,
      },
    }));
    client = await mcpClient(url, 'secret-bot-key');
  });
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('answer with the decision id of the recorded refusal; a valid call is decided as usual', async () => {
    const r = await client.callTool({
      name: 'tools.refund',
      arguments: { customerId: 'c-1', amount: 'lots' },
    });
    expect(r.isError).toBe(true);
    const id = String(meta(r)['mandate/decisionId']);
    expect(id).toMatch(/^dec_/);
    const [rec] = await m.store.queryAudit({ decisionId: id, limit: 5 });
    const event = JSON.parse(rec!.eventText) as AuditEvent;
    expect(event).toMatchObject({
      type: 'request.refused',
      agent: 'bot',
      action: 'tools.refund',
      data: { code: 'invalid_args', route: 'decision', caller: { role: 'agent', subject: 'bot' } },
    });
    const ok = await client.callTool({ name: 'tools.refund', arguments: { customerId: 'c-1', amount: 5 } });
    expect(ok.isError).toBeFalsy();
    const [decided] = await m.store.queryAudit({
      decisionId: String(meta(ok)['mandate/decisionId']),
      limit: 5,
    });
    expect(decided?.columns.type).toBe('decision');
  });
});
