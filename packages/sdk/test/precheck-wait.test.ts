import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { generateText, jsonSchema, stepCountIs, tool as aiTool, type ModelMessage } from 'ai';
import { run, setTracingDisabled } from '@openai/agents';
import type { MandateClient } from '../src/index.js';
import { guardAiTools } from '../src/adapters/ai.js';
import { KEYS, disposeAll, exampleClient, spy, type Mode } from './fixtures.js';
import { scriptedAiModel } from './models.js';
import { guardedRefundAgent, refundParams } from './agents.js';

afterAll(disposeAll);
setTracingDisabled(true);

const args = { customerId: 'c-42', amount: 120 };

/**
 * Found by a black-box probe: a tool whose own `needsApproval` asks a human got Mandate's allow in
 * the pre-check; the admin revoked the user's grants while the human looked (a fresh decision now
 * denies); the framework resumed and the body ran on the pre-check's allow. A pre-check followed
 * by a human's wait is not kept: the body is decided again.
 */
describe.each<Mode>(['remote', 'embedded'])(
  'a pre-check does not outlive a framework approval, %s Mandate',
  (mode) => {
    let client: MandateClient;
    const options = () => ({ client, agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' as const });
    const revokeAlice = async () => {
      const admin = client.withApiKey(KEYS.admin);
      for (const g of await admin.grants.list({ user: 'alice' })) await admin.grants.revoke(g.id);
      const now = await client.decide({
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'payments.refund',
        args,
      });
      expect(now.effect).toBe('deny');
    };
    // Each case revokes alice's grants: each has a Mandate of its own.
    beforeEach(async () => {
      client = await exampleClient(mode);
    });

    it('AI SDK: a tool with needsApproval: true, approved in the framework after the grant was revoked', async () => {
      const refund = spy(() => 'refunded');
      const tools = guardAiTools(
        {
          payments__refund: aiTool({
            description: 'Refund a customer',
            inputSchema: jsonSchema<{ customerId: string; amount: number }>(refundParams),
            needsApproval: true,
            execute: refund.body,
          }),
        },
        options(),
      );
      const model = scriptedAiModel([{ calls: [{ name: 'payments__refund', id: `w-ai-${mode}`, args }] }]);
      const first = await generateText({ model, tools, prompt: 'refund', stopWhen: stepCountIs(3) });
      const asked = first.content.filter((p) => p.type === 'tool-approval-request');
      expect(asked).toHaveLength(1);
      await revokeAlice();
      const messages: ModelMessage[] = [
        { role: 'user', content: 'refund' },
        ...first.response.messages,
        {
          role: 'tool',
          content: [{ type: 'tool-approval-response', approvalId: asked[0]!.approvalId, approved: true }],
        },
      ];
      const second = await generateText({ model, tools, messages, stopWhen: stepCountIs(3) });
      expect(refund.calls).toEqual([]);
      expect(JSON.stringify(second.response.messages)).toMatch(/Mandate refused payments\.refund/);
    });

    it('AI SDK: a needsApproval answering a truthy non-boolean still asks the human; nothing runs before', async () => {
      // A probe: `mine === true` read 1, 'large' or {} as no approval, so the body ran unasked.
      for (const answer of [1, 'large', {}]) {
        const refund = spy(() => 'refunded');
        const tools = guardAiTools(
          {
            payments__refund: aiTool({
              description: 'Refund a customer',
              inputSchema: jsonSchema<{ customerId: string; amount: number }>(refundParams),
              needsApproval: async () => answer as unknown as boolean,
              execute: refund.body,
            }),
          },
          options(),
        );
        const id = `t-ai-${mode}-${JSON.stringify(answer)}`;
        const model = scriptedAiModel([{ calls: [{ name: 'payments__refund', id, args }] }]);
        const first = await generateText({ model, tools, prompt: 'refund', stopWhen: stepCountIs(3) });
        expect(
          first.content.filter((p) => p.type === 'tool-approval-request'),
          String(answer),
        ).toHaveLength(1);
        expect(refund.calls, String(answer)).toEqual([]);
      }
    });

    it('OpenAI Agents: a tool with needsApproval: true, approved in the run after the grant was revoked', async () => {
      const { refund, agent } = guardedRefundAgent(
        options(),
        { id: `w-oa-${mode}`, args },
        { needsApproval: true },
      );
      const first = await run(agent, 'refund');
      expect(first.interruptions).toHaveLength(1);
      await revokeAlice();
      first.state.approve(first.interruptions[0]!);
      const second = await run(agent, first.state);
      expect(refund.calls).toEqual([]);
      expect(JSON.stringify(second.newItems)).toMatch(/Mandate refused payments\.refund/);
    });
  },
);
