import type { LanguageModelV3GenerateResult } from '@ai-sdk/provider';
import { MockLanguageModelV3 } from 'ai/test';
import { Usage, type Model, type ModelResponse } from '@openai/agents';

/** One scripted model turn: tool calls (name, args, id) or a final text. */
export type Turn =
  { calls: { name: string; args: Record<string, unknown> | string; id: string }[] } | { text: string };

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/**
 * The AI SDK's own test model, scripted: each generate call takes the next turn; when the script
 * is used up it answers "done". No network, no API key.
 */
export function scriptedAiModel(turns: Turn[]): MockLanguageModelV3 {
  const queue = [...turns];
  return new MockLanguageModelV3({
    doGenerate: async (): Promise<LanguageModelV3GenerateResult> => {
      const turn = queue.shift() ?? { text: 'done' };
      if ('text' in turn) {
        return {
          content: [{ type: 'text', text: turn.text }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage,
          warnings: [],
        };
      }
      return {
        content: turn.calls.map((c) => ({
          type: 'tool-call' as const,
          toolCallId: c.id,
          toolName: c.name,
          input: typeof c.args === 'string' ? c.args : JSON.stringify(c.args),
        })),
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      };
    },
  });
}

/** One scripted turn for the OpenAI Agents SDK: function calls (raw arguments text) or a final text. */
export type AgentsTurn = { calls: { name: string; args: string; id: string }[] } | { text: string };

/**
 * A custom `Model` for the OpenAI Agents SDK (0.14 ships no scripted model): each model call takes
 * the next turn; when the script is used up it answers "done". No network, no API key.
 */
export function scriptedAgentsModel(turns: AgentsTurn[]): Model {
  const queue = [...turns];
  let n = 0;
  return {
    async getResponse(): Promise<ModelResponse> {
      const turn = queue.shift() ?? { text: 'done' };
      n++;
      const output: ModelResponse['output'] =
        'text' in turn
          ? [
              {
                type: 'message',
                role: 'assistant',
                status: 'completed',
                content: [{ type: 'output_text', text: turn.text }],
              },
            ]
          : turn.calls.map((c) => ({
              type: 'function_call',
              callId: c.id,
              name: c.name,
              arguments: c.args,
              status: 'completed',
            }));
      return { usage: new Usage(), output, responseId: `resp_${n}` };
    },
    getStreamedResponse(): AsyncIterable<never> {
      throw new Error('the scripted model does not stream');
    },
  };
}
