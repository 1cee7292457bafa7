/**
 * `@mandate/sdk/openai-agents`: guards the tools of the OpenAI Agents SDK (`@openai/agents` 0.14).
 *
 * ```ts
 * const agent = guardAgent(new Agent({ name: 'support', tools: [refund] }), { client, agent: 'support-bot' });
 * await run(agent, 'refund 120 to c-42');
 * ```
 * The enforcing check runs inside each function tool's `invoke`, right before the body, with the
 * model's raw arguments text. A deny also shows up as a tool input guardrail rejection, and an
 * `approval_required` as an SDK interruption through `needsApproval` — both for the run's UI only:
 * approving an interruption (or restoring a `RunState`) does not run the body; Mandate's approval,
 * bound to this exact call, does.
 */
import type { Agent, FunctionTool, RunContext, Tool } from '@openai/agents';
import { MandateApiError } from '../errors.js';
import { createGuard, type Guard, type GuardOptions } from '../guard/guard.js';
import { refusalMessage } from '../guard/messages.js';
import { actionFor, type ActionMapping } from './actions.js';

export interface AgentsGuardOptions extends GuardOptions {
  /** Tool name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
  /** Raise `approval_required` as a run interruption through `needsApproval`; default true. */
  frameworkApproval?: boolean;
}

const GUARDED = Symbol.for('mandate.guarded');
type AnyAgent = Agent<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyTool = Tool<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyFunctionTool = FunctionTool<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Guards a list of tools in one call. Every tool must be a function tool: others cannot be checked here. */
export function guardAgentTools<T extends AnyTool>(tools: readonly T[], options: AgentsGuardOptions): T[] {
  const guard = createGuard(options);
  return tools.map((t) => wrapTool(t, guard, options));
}

/**
 * Guards an agent: its tools, and every tool it resolves at run time (MCP servers, tools added to
 * `agent.tools` later). Returns a clone; the original agent is left as it was.
 */
export function guardAgent<A extends AnyAgent>(agent: A, options: AgentsGuardOptions): A {
  const guard = createGuard(options);
  const clone = agent.clone({ tools: agent.tools.map((t) => wrapTool(t, guard, options)) }) as A;
  const getAllTools = clone.getAllTools.bind(clone);
  // SECURITY: whatever tool list the run asks for — including tools loaded dynamically — is guarded.
  clone.getAllTools = async (runContext, tracingParent) =>
    (await getAllTools(runContext, tracingParent)).map((t) => wrapTool(t, guard, options));
  return clone;
}

function wrapTool<T extends AnyTool>(tool: T, guard: Guard, options: AgentsGuardOptions): T {
  if ((tool as { [GUARDED]?: boolean })[GUARDED]) return tool;
  // SECURITY: fail closed — a hosted or computer tool runs elsewhere; it cannot be checked before its side effect.
  if (tool.type !== 'function') {
    throw new MandateApiError(
      'bad_request',
      `tool "${tool.name}" of type ${tool.type} cannot be guarded: only function tools run here`,
    );
  }
  const fn = tool as unknown as AnyFunctionTool;
  const action = actionFor(fn.name, options.actions);
  const parse = (text: string): Record<string, unknown> => {
    const v: unknown = JSON.parse(text || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  };
  const guarded: AnyFunctionTool & { [GUARDED]: true } = {
    ...fn,
    [GUARDED]: true,
    async needsApproval(ctx: RunContext, input: unknown, callId?: string) {
      const own = await fn.needsApproval(ctx, input as never, callId);
      if (options.frameworkApproval === false || !callId) return own;
      const d = await guard.precheck(action, input as Record<string, unknown>, { toolCallId: callId });
      return own || d.effect === 'approval_required';
    },
    inputGuardrails: [
      ...(fn.inputGuardrails ?? []),
      {
        type: 'tool_input',
        name: 'mandate',
        async run({ toolCall }) {
          const d = await guard.precheck(action, parse(toolCall.arguments), {
            toolCallId: toolCall.callId,
            argsJson: toolCall.arguments || '{}',
          });
          return d.effect === 'deny'
            ? {
                behavior: { type: 'rejectContent', message: refusalMessage(action, d) },
                outputInfo: { decisionId: d.decisionId },
              }
            : { behavior: { type: 'allow' }, outputInfo: { decisionId: d.decisionId } };
        },
      },
    ],
    async invoke(ctx, input, details) {
      const r = await guard.call(
        action,
        undefined,
        // SECURITY: the body parses the decided args, not the model's text.
        (args) => fn.invoke(ctx, JSON.stringify(args), details),
        {
          argsJson: input || '{}',
          ...(details?.toolCall?.callId ? { toolCallId: details.toolCall.callId } : {}),
          ...(details?.signal ? { signal: details.signal } : {}),
        },
      );
      return r.status === 'ok' ? r.value : r.message;
    },
  };
  return guarded as unknown as T;
}
