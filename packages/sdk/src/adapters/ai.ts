/**
 * `@mandate/sdk/ai`: guards the tools of the Vercel AI SDK (`ai` 6.x; `ai` 7 needs Node 22).
 *
 * ```ts
 * const tools = guardAiTools({ payments__refund: refundTool }, { client, agent: 'support-bot', onBehalfOf: 'alice' });
 * await generateText({ model, tools, prompt });
 * ```
 * The check runs inside each tool's `execute`, right before the body. `needsApproval` raises
 * Mandate's `approval_required` in the AI SDK's approval flow — for the UI only: an approval given
 * there does not run the body; Mandate's approval, bound to this exact call, does.
 */
import type { Tool, ToolExecutionOptions, ToolSet } from 'ai';
import { MandateApiError } from '../errors.js';
import { createGuard, type Guard, type GuardOptions } from '../guard/guard.js';
import { actionFor, type ActionMapping } from './actions.js';
import { alreadyGuarded, markGuarded } from './guarded.js';

export interface AiGuardOptions extends GuardOptions {
  /** Tool name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
  /** Raise `approval_required` through each tool's `needsApproval` (the AI SDK's approval UI); default true. */
  frameworkApproval?: boolean;
}

/** Guards every tool of an AI SDK tool set in one call; the keys and types stay the same. */
export function guardAiTools<T extends ToolSet>(tools: T, options: AiGuardOptions): T {
  const guard = createGuard(options);
  const out: Record<string, unknown> = {};
  for (const [name, tool] of Object.entries(tools)) out[name] = wrap(name, tool as Tool, guard, options);
  return out as T;
}

/** Guards one AI SDK tool (also a `dynamicTool`, e.g. one an MCP client loaded at run time). */
export function guardAiTool<T extends Tool>(name: string, tool: T, options: AiGuardOptions): T {
  return wrap(name, tool, createGuard(options), options);
}

function wrap<T extends Tool>(name: string, tool: T, guard: Guard, options: AiGuardOptions): T {
  const execute = tool.execute as ((input: unknown, o: ToolExecutionOptions) => unknown) | undefined;
  // SECURITY: fail closed — a tool whose body does not run here (client-side, provider-executed)
  // cannot be checked before its side effect, so it is refused rather than passed through.
  if (typeof execute !== 'function' || (tool as { type?: string }).type === 'provider') {
    throw new MandateApiError(
      'bad_request',
      `tool "${name}" has no execute function here: Mandate cannot guard it`,
    );
  }
  const action = actionFor(name, options.actions);
  const mark = { options, extra: { action, frameworkApproval: options.frameworkApproval ?? true } };
  if (alreadyGuarded(tool, mark, `tool "${name}"`)) return tool;
  const own = tool.needsApproval;
  /** The tool's outputs in order (the last is its result), or the refusal the model reads. */
  const outputs = async (input: unknown, o: ToolExecutionOptions): Promise<unknown[]> => {
    const r = await guard.call(
      action,
      input as Record<string, unknown>,
      async (args) => {
        const out: unknown = execute.call(tool, args, o);
        if (!isAsyncIterable(out)) return [await out];
        // A streaming body runs to its end inside the decision, so its outcome is reported when it
        // finishes or throws (reporting when the generator was made recorded ok for a body that
        // had not started); its outputs are handed on after that.
        const chunks: unknown[] = [];
        for await (const chunk of out) chunks.push(chunk);
        return chunks;
      },
      { toolCallId: o.toolCallId, ...(o.abortSignal ? { signal: o.abortSignal } : {}) },
    );
    return r.status === 'ok' ? r.value : [r.message];
  };
  const streaming = Object.prototype.toString.call(execute) === '[object AsyncGeneratorFunction]';
  const guarded = {
    ...tool,
    // The AI SDK tells a streaming tool by what execute returns: an async generator stays one.
    execute: streaming
      ? async function* (input: unknown, o: ToolExecutionOptions) {
          yield* await outputs(input, o);
        }
      : async (input: unknown, o: ToolExecutionOptions) => (await outputs(input, o)).at(-1),
    ...(options.frameworkApproval === false
      ? {}
      : {
          async needsApproval(
            input: unknown,
            o: { toolCallId: string; messages: unknown[]; experimental_context?: unknown },
          ) {
            // SECURITY: as the AI SDK reads it — a function's answer asks a human when truthy (1,
            // 'large', {} too), not only when `true`: read strictly, the tool's own human gate was
            // dropped and the body ran on Mandate's allow alone (a probe).
            const mine =
              typeof own === 'function'
                ? Boolean(await (own as (i: unknown, o: unknown) => unknown)(input, o))
                : own === true;
            const d = await guard.precheck(action, input as Record<string, unknown>, {
              toolCallId: o.toolCallId,
              humanWaits: mine,
            });
            return mine || d.effect === 'approval_required';
          },
        }),
  };
  return markGuarded(guarded, mark) as unknown as T;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof (v as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}
