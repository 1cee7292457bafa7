import { expect } from 'vitest';
import { Agent, tool } from '@openai/agents';
import type { z } from 'zod';
import { guardAgent, type AgentsGuardOptions } from '../src/adapters/openai-agents.js';
import { spy } from './fixtures.js';
import { scriptedAgentsModel } from './models.js';

/** The refund tool's parameters as a strict JSON schema. */
export const refundParams = {
  type: 'object' as const,
  properties: { customerId: { type: 'string' as const }, amount: { type: 'number' as const } },
  required: ['customerId', 'amount'],
  additionalProperties: false as const,
};

/** A `payments__refund` function tool of the OpenAI Agents SDK whose body is `refund`. */
export const refundTool = (
  refund: ReturnType<typeof spy>,
  options: { parameters?: z.ZodObject; needsApproval?: boolean } = {},
) =>
  tool({
    name: 'payments__refund',
    description: 'Refund a customer',
    parameters: (options.parameters ?? refundParams) as typeof refundParams,
    strict: true,
    needsApproval: options.needsApproval ?? false,
    execute: async (input) => refund.body(input as Record<string, unknown>),
  });

/** The tool outputs of a run, as text. */
export const outputs = (r: { newItems: { type: string; output?: unknown }[] }) =>
  JSON.stringify(r.newItems.filter((i) => i.type === 'tool_call_output_item').map((i) => i.output));

/** A run that asked for a denied refund, then an allowed one: refused, and ran once with the decided args. */
export const expectGuarded = (
  r: { newItems: { type: string; output?: unknown }[] },
  refund: { calls: unknown[] },
) => {
  expect(outputs(r)).toMatch(/Mandate refused payments\.refund \(decision dec_/);
  expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
};

/** A guarded agent whose model asks for one refund with `args` (tool call `id`); `refund` is its body. */
export function guardedRefundAgent(
  options: AgentsGuardOptions,
  call: { id: string; args: Record<string, unknown> },
  toolOptions: Parameters<typeof refundTool>[1] = {},
) {
  const refund = spy(() => 'refunded');
  const model = scriptedAgentsModel([
    { calls: [{ name: 'payments__refund', id: call.id, args: JSON.stringify(call.args) }] },
  ]);
  const agent = guardAgent(
    new Agent({ name: 'support', instructions: 'help', model, tools: [refundTool(refund, toolOptions)] }),
    options,
  );
  return { refund, agent };
}
