import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Agent,
  Handoff,
  RunState,
  handoff,
  run,
  setTracingDisabled,
  tool,
  type FunctionTool,
} from '@openai/agents';
import { memoryPendingStore, type MandateClient, type PendingStore } from '../src/index.js';
import { guardAgent, guardAgentTools } from '../src/adapters/openai-agents.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';
import { scriptedAgentsModel, type AgentsTurn } from './models.js';
import { expectGuarded, outputs, refundTool } from './agents.js';

afterAll(disposeAll);
setTracingDisabled(true);

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
    const agent = guardAgent(
      new Agent({
        name: 'support',
        instructions: 'help',
        model: scriptedAgentsModel(turns),
        tools: [refundTool(refund)],
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

  describe('handoffs: every agent a run can hand off to is guarded', () => {
    // Found by a black-box probe: only the first agent's tools were guarded, so after
    // `transfer_to_billing` a refund of 99999 for another tenant's customer ran with no decision.
    const options = () => ({ client, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' as const });
    const transfer = (to: string, id: string): AgentsTurn => ({
      calls: [{ name: `transfer_to_${to}`, id, args: '{}' }],
    });
    /** An agent with a refund tool; its model asks for a denied refund, then an allowed one. */
    const specialist = (name: string, prefix: string) => {
      const refund = spy((a) => `refunded ${String(a.amount)} to ${String(a.customerId)}`);
      const agent = new Agent({
        name,
        instructions: 'refund',
        model: scriptedAgentsModel([call(`${prefix}-deny`, 99999, 'c-77'), call(`${prefix}-allow`, 120)]),
        tools: [refundTool(refund)],
      });
      return { refund, agent };
    };
    const triage = (first: string, handoffs: Agent['handoffs']) =>
      new Agent({
        name: 'triage',
        instructions: 'route',
        model: scriptedAgentsModel([transfer(first, 'h-0')]),
        handoffs,
      });
    it('an Agent in handoffs, with a handoff back to the first (a cycle)', async () => {
      const billing = specialist('billing', 'h-a');
      const first = triage('billing', [billing.agent]);
      billing.agent.handoffs.push(first);
      const guarded = guardAgent(first, options());
      const r = await run(guarded, 'refund 99999 to c-77');
      expectGuarded(r, billing.refund);
      expect(r.lastAgent?.name).toBe('billing');
      expect(r.lastAgent).not.toBe(billing.agent);
      // The originals are left as they were.
      expect(first.handoffs[0]).toBe(billing.agent);
      expect(billing.agent.handoffs[0]).toBe(first);
    });

    it('a Handoff object, and the agents it hands off to in turn', async () => {
      const refunds = specialist('refunds', 'h-b');
      const onHandoff = spy(() => undefined);
      const billing = new Agent({
        name: 'billing',
        instructions: 'route',
        model: scriptedAgentsModel([transfer('refunds', 'h-1')]),
        handoffs: [handoff(refunds.agent)],
      });
      const guarded = guardAgent(
        triage('billing', [handoff(billing, { onHandoff: () => onHandoff.body({}) })]),
        options(),
      );
      const r = await run(guarded, 'refund 99999 to c-77');
      expect(r.lastAgent?.name).toBe('refunds');
      expect(onHandoff.calls).toHaveLength(1);
      expectGuarded(r, refunds.refund);
    });

    it('a handoff added after guardAgent ran, and a Handoff that picks its agent at run time', async () => {
      const late = specialist('late', 'h-c');
      const guarded = guardAgent(triage('late', []), options());
      guarded.handoffs.push(late.agent);
      expectGuarded(await run(guarded, 'refund'), late.refund);
      const picked = specialist('picked', 'h-d');
      const declared = new Agent({ name: 'declared', instructions: 'x' });
      const dynamic = new Handoff(declared, async () => picked.agent);
      expectGuarded(await run(guardAgent(triage('declared', [dynamic]), options()), 'refund'), picked.refund);
    });

    it('re-guarding: the same options are a no-op; other options are refused (tools, agents, handoff targets)', async () => {
      // Found by a black-box probe: guarding alice's guarded tools again for dave kept alice's wrappers.
      const alice = options();
      const dave = { ...alice, onBehalfOf: 'dave' };
      const tools = guardAgentTools([refundTool(spy())], alice);
      expect(guardAgentTools(tools, alice)[0]).toBe(tools[0]);
      expect(() => guardAgentTools(tools, dave)).toThrow(
        /tool "payments__refund" is already guarded by Mandate as agent support-bot on behalf of alice .* on behalf of dave \(other onBehalfOf\)/,
      );
      expect(() => guardAgentTools(tools, { ...alice, frameworkApproval: false })).toThrow(
        /other frameworkApproval/,
      );
      const billing = specialist('billing', 'h-e');
      const guarded = guardAgent(billing.agent, alice);
      expect(guardAgent(guarded, { ...alice })).toBe(guarded);
      expect(() => guardAgent(guarded, dave)).toThrow(/agent "billing" is already guarded/);
      // A handoff to an agent guarded for alice, in an agent guarded for dave: refused too.
      expect(() => guardAgent(triage('billing', [guarded]), dave)).toThrow(
        /agent "billing" is already guarded/,
      );
      // The same options: the run goes through the guarded target as it is.
      const r = await run(guardAgent(triage('billing', [guarded]), alice), 'refund');
      expectGuarded(r, billing.refund);
    });

    it('a RunState stopped on a handoff target’s approval resumes guarded', async () => {
      const refund = spy((a) => `refunded ${String(a.amount)} to ${String(a.customerId)}`);
      const billing = new Agent({
        name: 'billing',
        instructions: 'refund',
        model: scriptedAgentsModel([call('h-appr', 917)]),
        tools: [refundTool(refund)],
      });
      const guarded = guardAgent(triage('billing', [billing]), options());
      const first = await run(guarded, 'refund 917');
      expect(first.interruptions).toHaveLength(1);
      first.state.approve(first.interruptions[0]!);
      const saved = first.state.toString();
      // Approved by the run only: nothing runs.
      await run(guarded, await RunState.fromString(guarded, saved));
      expect(refund.calls).toEqual([]);
      await frank.approvals.approve(await pendingApprovalId(917));
      await run(guarded, await RunState.fromString(guarded, saved));
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 917 }]);
    });
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
