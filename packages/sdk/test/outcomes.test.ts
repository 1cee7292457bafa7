import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generateText, jsonSchema, stepCountIs, tool } from 'ai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { MandateClient } from '../src/index.js';
import { guardAiTools } from '../src/adapters/ai.js';
import { guardMcpClient } from '../src/adapters/mcp.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';
import { scriptedAiModel } from './models.js';

afterAll(disposeAll);

const options = (client: MandateClient) => ({
  client,
  agent: 'support-bot',
  onBehalfOf: 'alice',
  outcome: 'await' as const,
});

/**
 * What the audit trail says ran. Found by a black-box probe: an MCP tool's `isError` result was
 * recorded `ok`, and an AI SDK streaming tool (an async-generator `execute`) failed to run at all
 * when guarded while `ok` was recorded.
 */
describe('outcomes record what ran', () => {
  let client: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('remote');
  });
  /** The outcome recorded for each decision on `action`, oldest first. */
  const outcomes = async (action: string) =>
    (
      await client.withApiKey(KEYS.admin).audit.query({ action, type: 'decision.outcome', limit: 1000 })
    ).items.map((r) => ({ status: r.event.data.status, errorType: r.event.data.errorType }));

  it('MCP client: an isError result is recorded as a tool_error, not ok', async () => {
    const server = new McpServer({ name: 'fintech', version: '1.0.0' });
    server.registerTool(
      'refund',
      { description: 'Refund a customer', inputSchema: { customerId: z.string(), amount: z.number() } },
      async (args) =>
        args.amount === 120
          ? { content: [{ type: 'text', text: 'bank down' }], isError: true }
          : { content: [{ type: 'text', text: 'refunded' }] },
    );
    const [a, b] = InMemoryTransport.createLinkedPair();
    const mcp = new Client({ name: 'agent', version: '1.0.0' });
    await Promise.all([server.connect(a), mcp.connect(b)]);
    guardMcpClient(mcp, { ...options(client), actions: { refund: 'payments.refund' } });
    const failed = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 120 } });
    expect(failed.isError).toBe(true);
    const ok = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 121 } });
    expect(ok.isError).toBeFalsy();
    expect(await outcomes('payments.refund')).toEqual([
      { status: 'error', errorType: 'tool_error' },
      { status: 'ok', errorType: undefined },
    ]);
    await mcp.close();
  });

  it('AI SDK: a streaming tool runs guarded; its outcome is reported when it ends or throws', async () => {
    const ran = spy(() => undefined);
    const tools = guardAiTools(
      {
        crm__read_customer: tool({
          description: 'Read a customer',
          inputSchema: jsonSchema<{ customerId: string }>({
            type: 'object',
            properties: { customerId: { type: 'string' } },
            required: ['customerId'],
          }),
          async *execute(input) {
            yield 'looking up';
            ran.body(input);
            if (ran.calls.length === 2) throw new RangeError('crm down');
            yield `customer ${input.customerId}`;
          },
        }),
      },
      options(client),
    );
    const call = (id: string, customerId: string) => ({
      calls: [{ name: 'crm__read_customer', id, args: { customerId } }],
    });
    const r = await generateText({
      model: scriptedAiModel([call('st-ok', 'c-42'), call('st-deny', 'c-77'), call('st-err', 'c-42')]),
      tools,
      prompt: 'read',
      stopWhen: stepCountIs(4),
    });
    const results = r.steps
      .flatMap((s) => s.content)
      .filter((p) => p.type === 'tool-result' || p.type === 'tool-error');
    expect(results.map((p) => (p.type === 'tool-result' ? p.output : 'error'))).toEqual([
      'customer c-42',
      expect.stringMatching(/^Mandate refused crm\.read_customer/),
      'error',
    ]);
    expect(ran.calls).toEqual([{ customerId: 'c-42' }, { customerId: 'c-42' }]);
    expect(await outcomes('crm.read_customer')).toEqual([
      { status: 'ok', errorType: undefined },
      { status: 'error', errorType: 'RangeError' },
    ]);
  });
});
