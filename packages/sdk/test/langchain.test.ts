import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AIMessage,
  HumanMessage,
  ToolMessage,
  createAgent,
  createMiddleware,
  fakeModel,
  humanInTheLoopMiddleware,
  tool,
} from 'langchain';
import { Command, MemorySaver } from '@langchain/langgraph';
import type { MandateClient } from '../src/index.js';
import { mandateMiddleware } from '../src/adapters/langchain.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';

afterAll(disposeAll);

/**
 * The LangChain.js adapter through createAgent's real tool loop, driven by LangChain's own
 * `fakeModel()`, against a real (embedded) Mandate: allow, deny, approval (waiting for the
 * approver), and the regression suite — including human-in-the-loop interrupts resumed as
 * "approve" and a tool registered at run time by another middleware.
 */
describe('LangChain adapter, embedded Mandate', () => {
  let client: MandateClient;
  let frank: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('embedded');
    frank = client.withApiKey(KEYS.frank);
  });

  const refundTool = (body: (a: Record<string, unknown>) => string) =>
    tool(async (input) => body(input), {
      name: 'payments__refund',
      description: 'Refund a customer',
      schema: z.object({ customerId: z.string(), amount: z.number() }),
    });
  const refundCall = (id: string, amount: number, customerId = 'c-42') => [
    { name: 'payments__refund', args: { customerId, amount }, id, type: 'tool_call' as const },
  ];
  function setup(
    calls: ReturnType<typeof refundCall>[],
    opts: { waitMs?: number; hitl?: boolean; checkpointer?: MemorySaver } = {},
  ) {
    const refund = spy((a) => `refunded ${String(a.amount)} to ${String(a.customerId)}`);
    let model = fakeModel();
    for (const c of calls) model = model.respondWithTools(c);
    model = model
      .respond(new AIMessage('done'))
      .respond(new AIMessage('done'))
      .respond(new AIMessage('done'));
    const guard = mandateMiddleware({
      client,
      agent: 'support-bot',
      onBehalfOf: 'alice',
      outcome: 'await',
      approval: { waitMs: opts.waitMs ?? 0 },
    });
    const agent = createAgent({
      model,
      tools: [refundTool(refund.body)],
      middleware: opts.hitl
        ? [humanInTheLoopMiddleware({ interruptOn: { payments__refund: true } }), guard]
        : [guard],
      ...(opts.checkpointer ? { checkpointer: opts.checkpointer } : {}),
    });
    return { refund, agent };
  }
  const toolText = (messages: unknown[]) =>
    JSON.stringify(messages.filter((m) => ToolMessage.isInstance(m)).map((m) => (m as ToolMessage).content));
  const pendingApprovalId = async (amount: number) => {
    const a = (await frank.approvals.list({ status: 'pending' })).find((x) => x.args.amount === amount);
    return a?.id;
  };

  it('allow: the tool runs once with the decided args', async () => {
    const { refund, agent } = setup([refundCall('l-allow', 120)]);
    const r = await agent.invoke({ messages: [new HumanMessage('refund')] });
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    expect(toolText(r.messages)).toContain('refunded 120 to c-42');
  });

  it('deny: a ToolMessage with the refusal; the tool never ran', async () => {
    const { refund, agent } = setup([refundCall('l-deny', 120, 'c-77')]);
    const r = await agent.invoke({ messages: [new HumanMessage('refund')] });
    expect(refund.calls).toEqual([]);
    expect(toolText(r.messages)).toMatch(/Mandate refused payments\.refund \(decision dec_/);
  });

  it('approval: the call waits for the finance manager, then runs once', async () => {
    const { refund, agent } = setup([refundCall('l-appr', 921)], { waitMs: 10_000 });
    const running = agent.invoke({ messages: [new HumanMessage('refund')] });
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      id = await pendingApprovalId(921);
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refund.calls).toEqual([]);
    await frank.approvals.approve(id!);
    await running;
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 921 }]);
  });

  describe('regressions: the frameworks’ known approval bugs', () => {
    it('a declined approval never runs the body (HITL rejected, or Mandate’s approver denied while it waited)', async () => {
      const checkpointer = new MemorySaver();
      const a = setup([refundCall('l-decl', 922)], { hitl: true, checkpointer });
      const config = { configurable: { thread_id: 'decl' } };
      await a.agent.invoke({ messages: [new HumanMessage('refund')] }, config);
      await a.agent.invoke(
        new Command({ resume: { decisions: [{ type: 'reject', message: 'no' }] } }),
        config,
      );
      expect(a.refund.calls).toEqual([]);
      const b = setup([refundCall('l-decl-2', 923)], { waitMs: 10_000 });
      const running = b.agent.invoke({ messages: [new HumanMessage('refund')] });
      let id: string | undefined;
      for (let i = 0; i < 100 && !id; i++) {
        id = await pendingApprovalId(923);
        if (!id) await new Promise((r) => setTimeout(r, 50));
      }
      await frank.approvals.deny(id!);
      const r = await running;
      expect(b.refund.calls).toEqual([]);
      expect(toolText(r.messages)).toMatch(/was denied/);
    });

    it('an approval given for call A never runs call B (other args, other tool call id)', async () => {
      const a = setup([refundCall('l-A', 924)]);
      await a.agent.invoke({ messages: [new HumanMessage('refund')] });
      const idA = await pendingApprovalId(924);
      await frank.approvals.approve(idA!);
      for (const [id, amount] of [
        ['l-A', 9240],
        ['l-B', 9241],
      ] as const) {
        const b = setup([refundCall(id, amount)]);
        await b.agent.invoke({ messages: [new HumanMessage('refund')] });
        expect(b.refund.calls).toEqual([]);
      }
      expect((await frank.approvals.get(idA!)).status).toBe('approved');
    });

    it('a run resumed from a checkpoint as "approve" cannot skip the check', async () => {
      const checkpointer = new MemorySaver();
      const config = { configurable: { thread_id: 'restore' } };
      const before = setup([refundCall('l-restore', 925)], { hitl: true, checkpointer });
      const first = await before.agent.invoke({ messages: [new HumanMessage('refund')] }, config);
      expect(JSON.stringify(first)).toContain('__interrupt__');
      // Another process: a new agent and a new middleware on the same checkpointer, resumed as approved.
      const after = setup([], { hitl: true, checkpointer });
      const r = await after.agent.invoke(
        new Command({ resume: { decisions: [{ type: 'approve' }] } }),
        config,
      );
      expect(before.refund.calls).toEqual([]);
      expect(after.refund.calls).toEqual([]);
      expect(toolText(r.messages)).toMatch(/needs a human approval by a finance-manager/);
    });

    it('a tool registered at run time by another middleware is guarded too', async () => {
      const read = spy(() => 'read');
      const dynamic = tool(async (input) => read.body(input), {
        name: 'crm__read_customer',
        description: 'Read a customer',
        schema: z.object({ customerId: z.string() }),
      });
      // A loader middleware: adds the tool to the model request and serves its calls itself.
      const loader = createMiddleware({
        name: 'Loader',
        wrapModelCall: async (request, handler) =>
          handler({ ...request, tools: [...request.tools, dynamic] }),
        wrapToolCall: async (request, handler) =>
          request.toolCall.name === 'crm__read_customer'
            ? handler({ ...request, tool: dynamic })
            : handler(request),
      });
      const model = fakeModel()
        .respondWithTools([{ name: 'crm__read_customer', args: { customerId: 'c-77' }, id: 'l-dyn-1' }])
        .respondWithTools([{ name: 'crm__read_customer', args: { customerId: 'c-42' }, id: 'l-dyn-2' }])
        .respond(new AIMessage('done'));
      const agent = createAgent({
        model,
        tools: [],
        middleware: [mandateMiddleware({ client, agent: 'support-bot', onBehalfOf: 'alice' }), loader],
      });
      await agent.invoke({ messages: [new HumanMessage('read')] });
      expect(read.calls).toEqual([{ customerId: 'c-42' }]);
    });
  });
});
