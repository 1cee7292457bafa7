import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dynamicTool,
  generateText,
  jsonSchema,
  stepCountIs,
  tool,
  type ModelMessage,
  type ToolSet,
} from 'ai';
import { memoryPendingStore, type MandateClient } from '../src/index.js';
import { guardAiTools } from '../src/adapters/ai.js';
import { KEYS, disposeAll, exampleClient, spy, type Mode } from './fixtures.js';
import { scriptedAiModel, type Turn } from './models.js';

afterAll(disposeAll);

const refundSchema = jsonSchema<{ customerId: string; amount: number }>({
  type: 'object',
  properties: { customerId: { type: 'string' }, amount: { type: 'number' } },
  required: ['customerId', 'amount'],
});

/**
 * The Vercel AI SDK adapter through the AI SDK's real tool loop (`generateText`, driven by its
 * own `MockLanguageModelV3`), against a real Mandate: allow, deny and approval flows, and the
 * regression suite for the frameworks' known approval bugs.
 */
describe.each<Mode>(['remote', 'embedded'])('AI SDK adapter, %s Mandate', (mode) => {
  let client: MandateClient;
  let frank: MandateClient;
  beforeAll(async () => {
    client = await exampleClient(mode);
    frank = client.withApiKey(KEYS.frank);
  });

  function setup(opts: { store?: ReturnType<typeof memoryPendingStore> } = {}) {
    const refund = spy((a) => `refunded ${String(a.amount)} to ${String(a.customerId)}`);
    const tools = guardAiTools(
      {
        payments__refund: tool({
          description: 'Refund a customer',
          inputSchema: refundSchema,
          execute: refund.body,
        }),
      },
      {
        client,
        agent: 'support-bot',
        onBehalfOf: 'alice',
        outcome: 'await',
        ...(opts.store ? { approval: { store: opts.store } } : {}),
      },
    );
    return { refund, tools };
  }
  const run = (tools: ToolSet, turns: Turn[], messages?: ModelMessage[]) =>
    generateText({
      model: scriptedAiModel(turns),
      tools,
      stopWhen: stepCountIs(4),
      ...(messages ? { messages } : { prompt: 'help the customer' }),
    });
  const call = (id: string, amount: number, customerId = 'c-42') => ({
    calls: [{ name: 'payments__refund', id, args: { customerId, amount } }],
  });
  /** The approval requests a run stopped on, with Mandate's approval id for each (from the pending store). */
  const approvalRequests = (r: Awaited<ReturnType<typeof run>>) =>
    r.content.filter((p) => p.type === 'tool-approval-request');
  const answer = (r: Awaited<ReturnType<typeof run>>, approved: boolean): ModelMessage[] => [
    { role: 'user', content: 'help the customer' },
    ...r.response.messages,
    {
      role: 'tool',
      content: approvalRequests(r).map((p) => ({
        type: 'tool-approval-response' as const,
        approvalId: p.approvalId,
        approved,
      })),
    },
  ];
  const pendingApprovalId = async (amount: number) => {
    const items = await frank.approvals.list({ status: 'pending' });
    const a = items.find((x) => x.args.amount === amount);
    expect(a, `a pending approval for ${amount}`).toBeDefined();
    return a!.id;
  };

  it('allow: the body runs once, with the decided args, and its outcome is recorded', async () => {
    const { refund, tools } = setup();
    const admin = client.withApiKey(KEYS.admin);
    const outcomes = async () =>
      (await admin.audit.query({ type: 'decision.outcome', limit: 1000 })).items.length;
    const before = await outcomes();
    const r = await run(tools, [call('t-allow', 120)]);
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    const result = r.steps[0]!.toolResults[0]!;
    expect(result.output).toBe('refunded 120 to c-42');
    expect(await outcomes()).toBe(before + 1);
  });

  it('deny: the model reads a refusal with the decision id; the body never ran', async () => {
    const { refund, tools } = setup();
    const r = await run(tools, [call('t-deny', 120, 'c-77')]);
    expect(refund.calls).toEqual([]);
    const out = String(r.steps[0]!.toolResults[0]!.output);
    expect(out).toMatch(
      /^Mandate refused payments\.refund \(decision dec_[0-9A-Z]+\): .*The tool did not run\.$/,
    );
  });

  it('approval: Mandate raises it through needsApproval; approved by the finance manager, the call runs once', async () => {
    const { refund, tools } = setup();
    const first = await run(tools, [call('t-appr', 901)]);
    expect(approvalRequests(first)).toHaveLength(1);
    expect(refund.calls).toEqual([]);
    await frank.approvals.approve(await pendingApprovalId(901));
    await run(tools, [], answer(first, true));
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 901 }]);
    // Answering the framework's approval again does not run it again: Mandate's approval was used.
    const again = await run(tools, [], answer(first, true));
    expect(refund.calls).toHaveLength(1);
    expect(JSON.stringify(again.response.messages)).toMatch(/already used|approval_consumed/);
  });

  it('re-guarding a guarded tool set: the same options are a no-op; other options are refused', async () => {
    // Found by a black-box probe: guarding alice's guarded tools again for dave returned alice's
    // wrappers, so dave's calls were decided (and recorded) as alice's.
    const refund = spy(() => 'refunded');
    const alice = { client, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' as const };
    const base = { payments__refund: tool({ inputSchema: refundSchema, execute: refund.body }) };
    const guarded = guardAiTools(base, alice);
    expect(guardAiTools(guarded, alice).payments__refund).toBe(guarded.payments__refund);
    const again = guardAiTools(guarded, { ...alice });
    expect(again.payments__refund).toBe(guarded.payments__refund);
    await run(again, [call('t-reguard', 120)]);
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    expect(() => guardAiTools(guarded, { ...alice, onBehalfOf: 'dave' })).toThrow(
      /tool "payments__refund" is already guarded by Mandate as agent support-bot on behalf of alice and keeps those options: it cannot be guarded again as agent support-bot on behalf of dave \(other onBehalfOf\); guard the original instead/,
    );
    expect(() => guardAiTools(guarded, { ...alice, client: client.withApiKey(KEYS.tradeBot) })).toThrow(
      /other client/,
    );
    expect(() => guardAiTools(guarded, { ...alice, agent: 'trade-bot' })).toThrow(/other agent/);
    expect(() =>
      guardAiTools(guarded, { ...alice, actions: { payments__refund: 'crm.read_customer' } }),
    ).toThrow(/other action/);
    expect(refund.calls).toHaveLength(1);
  });

  describe('regressions: the frameworks’ known approval bugs', () => {
    it('a declined approval never runs the body (framework declined, or Mandate’s approver denied)', async () => {
      const { refund, tools } = setup();
      const first = await run(tools, [call('t-decl', 902)]);
      await run(tools, [], answer(first, false));
      expect(refund.calls).toEqual([]);
      // The framework says yes, the approver said no: still never runs.
      await frank.approvals.deny(await pendingApprovalId(902));
      const r = await run(tools, [], answer(first, true));
      expect(refund.calls).toEqual([]);
      expect(JSON.stringify(r.response.messages)).toMatch(/was denied/);
    });

    it('a framework approval without Mandate’s never runs the body', async () => {
      const { refund, tools } = setup();
      const first = await run(tools, [call('t-fw-only', 903)]);
      const r = await run(tools, [], answer(first, true));
      expect(refund.calls).toEqual([]);
      expect(JSON.stringify(r.response.messages)).toMatch(/needs a human approval by a finance-manager/);
    });

    it('an approval given for call A never runs call B (other args, other toolCallId)', async () => {
      const { refund, tools } = setup();
      const a = await run(tools, [call('t-A', 904)]);
      expect(approvalRequests(a)).toHaveLength(1);
      await frank.approvals.approve(await pendingApprovalId(904));
      // The framework resumes a different call: other args under A's tool call id, and another id.
      for (const [id, amount] of [
        ['t-A', 9040],
        ['t-B', 904],
      ] as const) {
        const b = await run(tools, [call(id, amount)]);
        await run(tools, [], answer(b, true));
      }
      expect(refund.calls).toEqual([]);
      // A itself still runs once its own approval comes back through the framework.
      await run(tools, [], answer(a, true));
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 904 }]);
    });

    it('a resumed or restored run cannot skip the check', async () => {
      const shared = memoryPendingStore();
      const before = setup({ store: shared });
      const first = await run(before.tools, [call('t-restore', 905)]);
      const saved = JSON.stringify(answer(first, true));
      // Another process: a new guard with nothing in memory (the client holds no call state).
      // Approved by the framework only.
      const restored = setup({ store: memoryPendingStore() });
      await run(restored.tools, [], JSON.parse(saved) as ModelMessage[]);
      expect(restored.refund.calls).toEqual([]);
      // Approved in Mandate: a restored run with the pending store runs it, exactly once.
      await frank.approvals.approve(await pendingApprovalId(905));
      const again = setup({ store: shared });
      await run(again.tools, [], JSON.parse(saved) as ModelMessage[]);
      await run(again.tools, [], JSON.parse(saved) as ModelMessage[]);
      expect(again.refund.calls).toEqual([{ customerId: 'c-42', amount: 905 }]);
    });

    it('a tool added through a dynamic loader is guarded too; one that cannot be guarded is refused', async () => {
      const loaded = spy(() => 'read');
      // What an MCP client or a plugin loader hands over at run time: dynamic tools.
      const loader = async (): Promise<ToolSet> => ({
        crm__read_customer: dynamicTool({
          description: 'Read a customer',
          inputSchema: jsonSchema({ type: 'object', properties: { customerId: { type: 'string' } } }),
          execute: async (input) => loaded.body(input as Record<string, unknown>),
        }),
      });
      const tools = guardAiTools(await loader(), { client, agent: 'support-bot', onBehalfOf: 'alice' });
      await run(tools, [
        { calls: [{ name: 'crm__read_customer', id: 't-dyn-1', args: { customerId: 'c-77' } }] },
      ]);
      expect(loaded.calls).toEqual([]);
      await run(tools, [
        { calls: [{ name: 'crm__read_customer', id: 't-dyn-2', args: { customerId: 'c-42' } }] },
      ]);
      expect(loaded.calls).toEqual([{ customerId: 'c-42' }]);
      const clientSide = tool({ inputSchema: refundSchema });
      expect(() => guardAiTools({ payments__refund: clientSide }, { client, agent: 'support-bot' })).toThrow(
        /cannot guard/,
      );
    });
  });
});
