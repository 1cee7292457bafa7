import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { MandateClient } from '../src/index.js';
import { guardMcpClient } from '../src/adapters/mcp.js';
import { createToolRunner, type FunctionToolCall } from '../src/adapters/openai.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';

afterAll(disposeAll);

/**
 * The MCP client adapter over a real MCP client and server (the MCP SDK's in-memory transport),
 * and plain OpenAI-style function calling, against a real Mandate server.
 */
describe('MCP client and function-calling adapters, remote Mandate', () => {
  let client: MandateClient;
  let frank: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('remote');
    frank = client.withApiKey(KEYS.frank);
  });
  const pendingApprovalId = async (amount: number) =>
    (await frank.approvals.list({ status: 'pending' })).find((x) => x.args.amount === amount)!.id;

  async function mcpPair() {
    const refund = spy((a) => `refunded ${String(a.amount)}`);
    const read = spy((a) => `customer ${String(a.customerId)}`);
    const server = new McpServer({ name: 'fintech', version: '1.0.0' });
    server.registerTool(
      'refund',
      { description: 'Refund a customer', inputSchema: { customerId: z.string(), amount: z.number() } },
      async (args) => ({ content: [{ type: 'text', text: String(refund.body(args)) }] }),
    );
    server.registerTool(
      'read_customer',
      { description: 'Read a customer', inputSchema: { customerId: z.string() } },
      async (args) => ({ content: [{ type: 'text', text: String(read.body(args)) }] }),
    );
    const [a, b] = InMemoryTransport.createLinkedPair();
    const mcp = new Client({ name: 'agent', version: '1.0.0' });
    await Promise.all([server.connect(a), mcp.connect(b)]);
    const options = {
      client,
      agent: 'support-bot',
      onBehalfOf: 'alice',
      outcome: 'await' as const,
      actions: { refund: 'payments.refund', read_customer: 'crm.read_customer' },
    };
    guardMcpClient(mcp, options);
    return { refund, read, mcp, options, close: () => mcp.close() };
  }

  describe('MCP client', () => {
    it('allow reaches the server with the decided args; deny and pending never do', async () => {
      const { refund, mcp, close } = await mcpPair();
      const ok = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 120 } });
      expect(ok.isError).toBeFalsy();
      expect(ok._meta?.['mandate/decisionId']).toMatch(/^dec_/);
      const denied = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-77', amount: 120 } });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toMatch(/Mandate refused payments\.refund/);
      const pending = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 931 } });
      expect(pending._meta?.['mandate/status']).toBe('pending');
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
      // A tool with no action mapping is refused, not passed through.
      await expect(mcp.callTool({ name: 'unmapped', arguments: {} })).rejects.toMatchObject({
        code: 'unknown_action',
      });
      await close();
    });

    it('what was decided is what is sent: a caller changing its params after callTool cannot redirect the call', async () => {
      // Found by a black-box probe: the params object was read again after the decision, so a
      // caller that renamed the tool meanwhile sent the args decided for crm.read_customer to refund.
      const { refund, read, mcp, close } = await mcpPair();
      const params: { name: string; arguments: Record<string, unknown>; _meta?: Record<string, unknown> } = {
        name: 'read_customer',
        arguments: { customerId: 'c-42' },
      };
      const sent = mcp.callTool(params);
      params.name = 'refund';
      params.arguments = { customerId: 'c-42', amount: 99999 };
      params._meta = { 'mandate/token': 'forged' };
      const r = await sent;
      expect(JSON.stringify(r.content)).toContain('customer c-42');
      expect(read.calls).toEqual([{ customerId: 'c-42' }]);
      expect(refund.calls).toEqual([]);
      // The deny next to it: the same call for another tenant's customer reaches neither tool.
      const denied = { name: 'read_customer', arguments: { customerId: 'c-77' } };
      const refused = mcp.callTool(denied);
      denied.arguments = { customerId: 'c-42' };
      expect((await refused).isError).toBe(true);
      expect(read.calls).toHaveLength(1);
      await close();
    });

    it('guarding again: the same options are a no-op; other options are refused', async () => {
      // Found by a black-box probe: guarding a guarded client for dave kept alice's guard.
      const { read, mcp, options, close } = await mcpPair();
      expect(guardMcpClient(mcp, options)).toBe(mcp);
      expect(guardMcpClient(mcp, { ...options, actions: { ...options.actions } })).toBe(mcp);
      expect(() => guardMcpClient(mcp, { ...options, onBehalfOf: 'dave' })).toThrow(
        /this MCP client is already guarded by Mandate as agent support-bot on behalf of alice .* on behalf of dave \(other onBehalfOf\); connect another client/,
      );
      expect(() =>
        guardMcpClient(mcp, { ...options, actions: { read_customer: 'payments.refund' } }),
      ).toThrow(/other actions/);
      expect(
        (await mcp.callTool({ name: 'read_customer', arguments: { customerId: 'c-42' } })).isError,
      ).toBeFalsy();
      expect(read.calls).toEqual([{ customerId: 'c-42' }]);
      await close();
    });

    it('every way the client sends tools/call is guarded: request() and the tasks API too', async () => {
      // Found by a black-box probe: only callTool was guarded, so a raw request or the tasks API's
      // callToolStream ran a call Mandate denies (another tenant's customer), with no record at all.
      const { refund, mcp, close } = await mcpPair();
      const call = (amount: number, customerId = 'c-77') => ({
        method: 'tools/call' as const,
        params: { name: 'refund', arguments: { customerId, amount } },
      });
      const raw = await mcp.request(call(50), CallToolResultSchema);
      expect(raw.isError).toBe(true);
      expect(raw._meta?.['mandate/status']).toBe('denied');
      const streamed: unknown[] = [];
      for await (const m of mcp.experimental.tasks.callToolStream(call(51).params)) streamed.push(m);
      expect(streamed.at(-1)).toMatchObject({ type: 'result', result: { isError: true } });
      expect(refund.calls).toEqual([]);
      // An allowed call through request() runs once, with the decided args, and says its decision.
      const ok = await mcp.request(call(52, 'c-42'), CallToolResultSchema);
      expect(ok.isError).toBeFalsy();
      expect(ok._meta?.['mandate/decisionId']).toMatch(/^dec_/);
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 52 }]);
      // Other requests pass untouched.
      expect((await mcp.listTools()).tools.map((t) => t.name)).toEqual(['refund', 'read_customer']);
      await close();
    });

    it('an approval for call A never runs call B; the declined one never runs; A resumes from its token once', async () => {
      const { refund, mcp, close } = await mcpPair();
      const a = await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 932 } });
      await frank.approvals.approve(await pendingApprovalId(932));
      await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 933 } });
      await frank.approvals.deny(await pendingApprovalId(933));
      await mcp.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 9320 } });
      expect(refund.calls).toEqual([]);
      const resume = {
        name: 'refund',
        arguments: { customerId: 'c-42', amount: 9999 },
        _meta: { 'mandate/token': a._meta!['mandate/token'] },
      };
      const resumed = await mcp.callTool(resume);
      expect(resumed.isError).toBeFalsy();
      // The resumed call ran with the args the approval was for, not the ones sent with the token.
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 932 }]);
      expect((await mcp.callTool(resume)).isError).toBe(true);
      expect(refund.calls).toHaveLength(1);
      await close();
    });
  });

  describe('plain function calling', () => {
    const tc = (id: string, args: string, name = 'payments__refund'): FunctionToolCall => ({
      id,
      type: 'function',
      function: { name, arguments: args },
    });

    it('tool_calls in, tool messages out: allow runs, deny and duplicate keys do not', async () => {
      const admin = client.withApiKey(KEYS.admin);
      const refusedBefore = (await admin.audit.query({ type: 'request.refused', limit: 500 })).items.length;
      const refund = spy((a) => ({ refunded: a.amount }));
      const runner = createToolRunner(
        { payments__refund: refund.body },
        { client, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' },
      );
      const out = await runner.run([
        tc('f-1', '{"customerId":"c-42","amount":120}'),
        tc('f-2', '{"customerId":"c-77","amount":120}'),
        tc('f-3', '{"customerId":"c-42","amount":1,"amount":120}'),
        tc('f-4', '{"customerId":"c-42","amount":'),
      ]);
      expect(out.map((m) => m.tool_call_id)).toEqual(['f-1', 'f-2', 'f-3', 'f-4']);
      expect(out[0]!.content).toBe('{"refunded":120}');
      expect(out[1]!.content).toMatch(/^Mandate refused payments\.refund/);
      expect(out[2]!.content).toMatch(/^The tool did not run: .*(key twice|duplicate key)/);
      // Text that is not JSON did not run either (and is not said to have failed).
      expect(out[3]!.content).toMatch(/^The tool did not run: .*not valid JSON/);
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
      // The duplicated key reached the server's strict parser: the attempt is on the record.
      const refused = (await admin.audit.query({ type: 'request.refused', limit: 500 })).items;
      expect(refused.slice(refusedBefore).map((r) => r.event.data.code)).toEqual(['duplicate_key']);
    });

    it('a pending call resumes from its token in another runner (a restart), once, after the approval', async () => {
      const first = spy(() => 'ran');
      const runner = createToolRunner(
        { payments__refund: first.body },
        { client, agent: 'support-bot', onBehalfOf: 'alice' },
      );
      const r = await runner.call(tc('f-p', '{"customerId":"c-42","amount":934}'));
      expect(r.status).toBe('pending');
      const token = r.status === 'pending' ? r.token : '';
      const restarted = spy(() => 'ran');
      const again = createToolRunner(
        { payments__refund: restarted.body },
        { client, agent: 'support-bot', onBehalfOf: 'alice' },
      );
      expect((await again.resume(token, 'payments__refund')).content).toMatch(/needs a human approval/);
      await frank.approvals.approve(r.status === 'pending' ? r.approvalId : '');
      expect((await again.resume(token, 'payments__refund')).content).toBe('ran');
      expect((await again.resume(token, 'payments__refund')).content).toMatch(
        /approval_consumed|already used/,
      );
      expect(first.calls).toEqual([]);
      expect(restarted.calls).toEqual([{ customerId: 'c-42', amount: 934 }]);
    });
  });
});
