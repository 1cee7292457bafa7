/**
 * `@mandate/sdk/openai`: plain OpenAI-style function calling — a `tool_calls` array in, the `tool`
 * messages out — for loops written by hand against any chat-completions API.
 *
 * ```ts
 * const runner = createToolRunner({ payments__refund: refund }, { client, agent: 'support-bot' });
 * messages.push(...(await runner.run(completion.choices[0].message.tool_calls)));
 * ```
 * Each call's `arguments` text is decided as the model wrote it (a duplicated key is refused, not
 * collapsed); the function runs only on `allow`, with the decided args.
 */
import { isMandateApiError } from '../errors.js';
import { decodePending } from '../guard/pending.js';
import {
  createGuard,
  type CallContext,
  type GuardOptions,
  type GuardResult,
  type ToolBody,
} from '../guard/guard.js';
import { actionFor, type ActionMapping } from './actions.js';

/** One entry of an assistant message's `tool_calls`. */
export interface FunctionToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** The message that answers one tool call. */
export interface ToolResultMessage {
  role: 'tool';
  tool_call_id: string;
  content: string;
}

export interface ToolRunnerOptions extends GuardOptions {
  /** Function name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
}

export interface ToolRunner {
  /** Runs the calls in order and answers each; a denied or pending call's answer says it did not run. */
  run(
    toolCalls: readonly FunctionToolCall[] | null | undefined,
    ctx?: Pick<CallContext, 'signal' | 'intent'>,
  ): Promise<ToolResultMessage[]>;
  /** The full result of one call (for apps that handle pending approvals themselves). */
  call(
    toolCall: FunctionToolCall,
    ctx?: Pick<CallContext, 'signal' | 'intent'>,
  ): Promise<GuardResult<unknown>>;
  /** Resumes a pending call from its token; answers as `run` does. */
  resume(token: string, toolName: string, ctx?: Pick<CallContext, 'signal'>): Promise<ToolResultMessage>;
}

/** Guards a set of functions by name, in one call. */
export function createToolRunner(
  functions: Record<string, ToolBody<Record<string, unknown>, unknown>>,
  options: ToolRunnerOptions,
): ToolRunner {
  const guard = createGuard(options);
  const content = (r: GuardResult<unknown>) =>
    r.status === 'ok' ? (typeof r.value === 'string' ? r.value : JSON.stringify(r.value ?? null)) : r.message;
  const runner: ToolRunner = {
    async call(tc, ctx) {
      const body = functionNamed(functions, tc.function.name);
      if (!body) throw new Error(`no function ${tc.function.name}`);
      const action = actionFor(tc.function.name, options.actions);
      return guard.call(action, undefined, body, {
        ...ctx,
        toolCallId: tc.id,
        argsJson: tc.function.arguments || '{}',
      });
    },
    async run(toolCalls, ctx) {
      const out: ToolResultMessage[] = [];
      for (const tc of toolCalls ?? []) {
        let text: string;
        try {
          text = content(await runner.call(tc, ctx));
        } catch (err) {
          // The model reads what happened; the loop goes on. Mandate's errors come before the body.
          text = isMandateApiError(err)
            ? `The tool did not run: ${err.message}`
            : `The tool failed: ${(err as Error).message}`;
        }
        out.push({ role: 'tool', tool_call_id: tc.id, content: text });
      }
      return out;
    },
    async resume(token, toolName, ctx) {
      const body = functionNamed(functions, toolName);
      if (!body) throw new Error(`no function ${toolName}`);
      const r = await guard.resume(token, actionFor(toolName, options.actions), body, ctx);
      return { role: 'tool', tool_call_id: decodePending(token).toolCallId ?? '', content: content(r) };
    },
  };
  return runner;
}

/**
 * The app's own function of that name, or undefined. SECURITY: the name is the model's (a prompt
 * can choose it): `constructor`, `toString`, `__proto__` found Object.prototype's members, were
 * sent to Mandate as decisions and, allowed, ran them.
 */
function functionNamed<F>(functions: Record<string, F>, name: string): F | undefined {
  const f = Object.hasOwn(functions, name) ? functions[name] : undefined;
  return typeof f === 'function' ? f : undefined;
}
