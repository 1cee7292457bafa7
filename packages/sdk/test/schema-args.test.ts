import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AIMessage, HumanMessage, ToolMessage, createAgent, fakeModel, tool as lcTool } from 'langchain';
import { run, setTracingDisabled } from '@openai/agents';
import type { MandateClient } from '../src/index.js';
import { mandateMiddleware } from '../src/adapters/langchain.js';
import { disposeAll, exampleClient, spy } from './fixtures.js';
import { guardedRefundAgent } from './agents.js';

afterAll(disposeAll);
setTracingDisabled(true);

/** Whole units from the model, cents to the payment system: a transform that is not idempotent. */
const inCents = z.number().overwrite((units) => units * 100);

/**
 * Found by a black-box probe: the SDK decided on the model's raw args, and the framework's own zod
 * parse then ran inside the body (trim, lower-case, defaults, transforms) — a refund of 120 was
 * decided and 12000 was paid. Now the args are decided as the tool's schema parses them (where
 * the adapter sees it), and the body runs only if the tool parses the decided args into exactly
 * those.
 */
describe('the tool’s schema: decided as parsed, run as decided', () => {
  let client: MandateClient;
  const options = () => ({ client, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' as const });
  beforeAll(async () => {
    client = await exampleClient('embedded');
  });

  describe('LangChain', () => {
    function agentWith(schema: z.ZodObject, args: Record<string, unknown>, id: string) {
      const refund = spy(() => 'refunded');
      const model = fakeModel()
        .respondWithTools([{ name: 'payments__refund', args, id }])
        .respond(new AIMessage('done'));
      const agent = createAgent({
        model,
        tools: [
          lcTool(async (input) => refund.body(input as unknown as Record<string, unknown>), {
            name: 'payments__refund',
            description: 'Refund',
            schema,
          }),
        ],
        middleware: [mandateMiddleware(options())],
      });
      return { refund, agent };
    }
    const toolText = (r: { messages: unknown[] }) =>
      JSON.stringify(
        r.messages.filter((m) => ToolMessage.isInstance(m)).map((m) => (m as ToolMessage).content),
      );

    it('a normalising schema: decided on what the tool gets (the model’s " c-42 " is decided as "c-42")', async () => {
      const { refund, agent } = agentWith(
        z.object({ customerId: z.string().trim(), amount: z.number() }),
        { customerId: ' c-42 ', amount: 120 },
        'sa-trim',
      );
      await agent.invoke({ messages: [new HumanMessage('refund')] });
      expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    });

    it('a transform: decided on the parsed amount (12000, beyond alice’s grant), never on the model’s 120', async () => {
      const { refund, agent } = agentWith(
        z.object({ customerId: z.string(), amount: inCents }),
        { customerId: 'c-42', amount: 120 },
        'sa-cents',
      );
      const r = await agent.invoke({ messages: [new HumanMessage('refund')] });
      expect(refund.calls).toEqual([]);
      expect(toolText(r)).toMatch(/Mandate refused payments\.refund .*grant_exceeded/);
    });

    it('a transform to something JSON cannot carry is refused before anything is decided', async () => {
      const { refund, agent } = agentWith(
        z.object({
          customerId: z.string().transform((id) => new URL(`https://crm.example/${id}`)),
          amount: z.number(),
        }),
        { customerId: 'c-42', amount: 120 },
        'sa-url',
      );
      const r = await agent.invoke({ messages: [new HumanMessage('refund')] });
      expect(refund.calls).toEqual([]);
      expect(toolText(r)).toMatch(/cannot carry/);
    });
  });

  describe('OpenAI Agents', () => {
    const agentWith = (parameters: z.ZodObject, args: Record<string, unknown>, id: string) =>
      guardedRefundAgent(options(), { id, args }, { parameters });

    it('the body runs only with args the schema leaves as they are; otherwise invalid_args, nothing ran', async () => {
      const args = { customerId: 'c-42', amount: 120 };
      const plain = agentWith(z.object({ customerId: z.string(), amount: z.number() }), args, 'sa-oa-plain');
      await run(plain.agent, 'refund');
      expect(plain.refund.calls).toEqual([args]);
      const cents = agentWith(z.object({ customerId: z.string(), amount: inCents }), args, 'sa-oa-cents');
      await expect(run(cents.agent, 'refund')).rejects.toMatchObject({ error: { code: 'invalid_args' } });
      expect(cents.refund.calls).toEqual([]);
    });
  });
});
