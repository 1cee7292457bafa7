import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, RunState, run, setTracingDisabled, tool, type FunctionTool } from '@openai/agents';
import { memoryPendingStore, type MandateClient, type PendingStore } from '../src/index.js';
import { guardAgent, guardAgentTools } from '../src/adapters/openai-agents.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';
import { scriptedAgentsModel, type AgentsTurn } from './models.js';

afterAll(disposeAll);
setTracingDisabled(true);

const refundParams = {
  type: 'object' as const,
  properties: { customerId: { type: 'string' }, amount: { type: 'number' } },
  required: ['customerId', 'amount'],
  additionalProperties: false as const,
};

/**
 * The OpenAI Agents SDK adapter through the SDK's real run loop (`run`, interruptions, `RunState`),
 * driven by a scripted `Model`, against a real Mandate server: allow, deny (a tool input guardrail
 * rejection), approval (an interruption), and the regression suite.
 */
describe('OpenAI Agents adapter, remote Mandate', () => {
  let client: MandateClient;
  let frank: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('remote');
    frank = client.withApiKey(KEYS.frank);
  });

  function setup(turns: AgentsTurn[], opts: { store?: PendingStore } = {}) {
    const refund = spy((a) => `refunded ${String(a.amount)} to ${String(a.customerId)}`);
    const refundTool = tool({
      name: 'payments__refund',
      description: 'Refund a customer',
      parameters: refundParams,
      strict: true,
      execute: async (input) => refund.body(input as Record<string, unknown>),
    });
    const agent = guardAgent(
      new Agent({
        name: 'support',
        instructions: 'help',
        model: scriptedAgentsModel(turns),
        tools: [refundTool],
      }),
      {
        client,
        agent: 'support-bot',
        onBehalfOf: 'alice',
        outcome: 'await',
        ...(opts.store ? { approval: { store: opts.store } } : {}),
      },
    );
    return { refund, agent };
  }
  const call = (id: string, amount: number, customerId = 'c-42'): AgentsTurn => ({
    calls: [{ name: 'payments__refund', id, args: JSON.stringify({ customerId, amount }) }],
  });
  const pendingApprovalId = async (amount: number) => {
    const a = (await frank.approvals.list({ status: 'pending' })).find((x) => x.args.amount === amount);
    expect(a, `a pending approval for ${amount}`).toBeDefined();
    return a!.id;
  };
  const outputs = (r: { newItems: { type: string; output?: unknown }[] }) =>
    JSON.stringify(r.newItems.filter((i) => i.type === 'tool_call_output_item').map((i) => i.output));

  it('allow: the body runs once with the decided args', async () => {
    const { refund, agent } = setup([call('c-allow', 120)]);
    const r = await run(agent, 'refund please');
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    expect(outputs(r)).toContain('refunded 120 to c-42');
  });

  it('deny: a tool input guardrail rejection the model reads; the body never ran', async () => {
    const { refund, agent } = setup([call('c-deny', 120, 'c-77')]);
    const r = await run(agent, 'refund please');
    expect(refund.calls).toEqual([]);
    expect(outputs(r)).toMatch(/Mandate refused payments\.refund \(decision dec_/);
    expect(r.toolInputGuardrailResults.some((g) => g.output.behavior.type === 'rejectContent')).toBe(true);
  });

  it('duplicate keys in the model’s arguments are refused, never collapsed', async () => {
    const { refund, agent } = setup([
      {
        calls: [
          { name: 'payments__refund', id: 'c-dup', args: '{"customerId":"c-42","amount":1,"amount":120}' },
        ],
      },
    ]);
    await run(agent, 'refund please').catch(() => undefined);
    expect(refund.calls).toEqual([]);
  });

  it('approval: an interruption; approved in Mandate and in the run, the call runs once', async () => {
    const { refund, agent } = setup([call('c-appr', 911)]);
    const first = await run(agent, 'refund please');
    expect(first.interruptions).toHaveLength(1);
    expect(refund.calls).toEqual([]);
    await frank.approvals.approve(await pendingApprovalId(911));
    first.state.approve(first.interruptions[0]!);
    await run(agent, first.state);
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 911 }]);
  });

  describe('regressions: the frameworks’ known approval bugs', () => {
    it('a declined approval never runs the body (the run rejected it, or Mandate’s approver denied)', async () => {
      const a = setup([call('c-decl', 912)]);
      const first = await run(a.agent, 'refund please');
      first.state.reject(first.interruptions[0]!);
      await run(a.agent, first.state);
      expect(a.refund.calls).toEqual([]);
      const b = setup([call('c-decl-2', 913)]);
      const second = await run(b.agent, 'refund please');
      await frank.approvals.deny(await pendingApprovalId(913));
      second.state.approve(second.interruptions[0]!);
      const r = await run(b.agent, second.state);
      expect(b.refund.calls).toEqual([]);
      expect(outputs(r)).toMatch(/was denied/);
    });

    it('an approval given for call A never runs call B (other args, other call id)', async () => {
      const a = setup([call('c-A', 914)]);
      const first = await run(a.agent, 'refund please');
      await frank.approvals.approve(await pendingApprovalId(914));
      // The run is resumed with a different call: other args under A's id, and another id.
      for (const [id, amount] of [
        ['c-A', 9140],
        ['c-B', 914],
      ] as const) {
        const b = setup([call(id, amount)]);
        const r = await run(b.agent, 'refund please');
        for (const i of r.interruptions) r.state.approve(i);
        await run(b.agent, r.state);
        expect(b.refund.calls).toEqual([]);
      }
      first.state.approve(first.interruptions[0]!);
      await run(a.agent, first.state);
      expect(a.refund.calls).toEqual([{ customerId: 'c-42', amount: 914 }]);
    });

    it('a restored RunState cannot skip the check', async () => {
      const shared = memoryPendingStore();
      const before = setup([call('c-restore', 915)], { store: shared });
      const first = await run(before.agent, 'refund please');
      first.state.approve(first.interruptions[0]!);
      const saved = first.state.toString();
      // Another process: a new guarded agent with nothing in memory; approved by the run only.
      const fresh = setup([], { store: memoryPendingStore() });
      await run(fresh.agent, await RunState.fromString(fresh.agent, saved));
      expect(fresh.refund.calls).toEqual([]);
      // Approved in Mandate: restoring with the pending store runs it, once.
      await frank.approvals.approve(await pendingApprovalId(915));
      const again = setup([], { store: shared });
      await run(again.agent, await RunState.fromString(again.agent, saved));
      await run(again.agent, await RunState.fromString(again.agent, saved));
      expect(again.refund.calls).toEqual([{ customerId: 'c-42', amount: 915 }]);
    });

    it('a tool added at run time is guarded too; a tool that runs elsewhere is refused', async () => {
      const read = spy(() => 'read');
      const { agent } = setup([
        { calls: [{ name: 'crm__read_customer', id: 'c-dyn-1', args: '{"customerId":"c-77"}' }] },
        { calls: [{ name: 'crm__read_customer', id: 'c-dyn-2', args: '{"customerId":"c-42"}' }] },
      ]);
      // A loader adds a tool to the guarded agent after guardAgent ran (as MCP servers do per run).
      agent.tools.push(
        tool({
          name: 'crm__read_customer',
          description: 'Read a customer',
          parameters: {
            type: 'object',
            properties: { customerId: { type: 'string' } },
            required: ['customerId'],
            additionalProperties: false,
          },
          strict: true,
          execute: async (input) => read.body(input as Record<string, unknown>),
        }) as FunctionTool,
      );
      await run(agent, 'read them');
      expect(read.calls).toEqual([{ customerId: 'c-42' }]);
      expect(() =>
        guardAgentTools([{ type: 'hosted_tool', name: 'web_search', providerData: {} } as never], {
          client,
          agent: 'support-bot',
        }),
      ).toThrow(/cannot be guarded/);
    });
  });
});
