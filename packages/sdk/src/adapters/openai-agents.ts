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
import type { Agent, FunctionTool, Handoff, RunContext, Tool } from '@openai/agents';
import { MandateApiError } from '../errors.js';
import { createGuard, type Guard, type GuardOptions } from '../guard/guard.js';
import { refusalMessage } from '../guard/messages.js';
import { actionFor, mappingKey, type ActionMapping } from './actions.js';
import { alreadyGuarded, markGuarded } from './guarded.js';

export interface AgentsGuardOptions extends GuardOptions {
  /** Tool name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
  /** Raise `approval_required` as a run interruption through `needsApproval`; default true. */
  frameworkApproval?: boolean;
}

type AnyAgent = Agent<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyHandoff = Handoff<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyTool = Tool<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyFunctionTool = FunctionTool<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Guards a list of tools in one call. Every tool must be a function tool: others cannot be checked here. */
export function guardAgentTools<T extends AnyTool>(tools: readonly T[], options: AgentsGuardOptions): T[] {
  const guard = createGuard(options);
  return tools.map((t) => wrapTool(t, guard, options));
}

/**
 * Guards an agent: its tools, every tool it resolves at run time (MCP servers, tools added to
 * `agent.tools` later), and every agent it can hand off to — `Agent`s and `Handoff`s in
 * `handoffs`, their own handoffs in turn, and whatever agent a handoff returns when it runs — all
 * with these options. Returns a clone; the original agents are left as they were.
 */
export function guardAgent<A extends AnyAgent>(agent: A, options: AgentsGuardOptions): A {
  return guardGraph(createGuard(options), options)(agent) as A;
}

/**
 * The guard of one `guardAgent` call over the agent graph: each agent is cloned once (a cycle of
 * handoffs ends at the clone already made), so a run and a `RunState` see one guarded agent per name.
 */
function guardGraph(guard: Guard, options: AgentsGuardOptions): (agent: AnyAgent) => AnyAgent {
  const mark = {
    options,
    extra: { actions: mappingKey(options.actions), frameworkApproval: options.frameworkApproval ?? true },
  };
  const clones = new WeakMap<AnyAgent, AnyAgent>();
  const handoffs = new WeakMap<AnyHandoff, AnyHandoff>();

  const guardAgentNode = (agent: AnyAgent): AnyAgent => {
    const made = clones.get(agent);
    if (made) return made;
    if (alreadyGuarded(agent, mark, `agent "${agent.name}"`)) return agent;
    const clone = agent.clone({ tools: agent.tools.map((t) => wrapTool(t, guard, options)), handoffs: [] });
    markGuarded(clone, mark);
    // Known before its handoffs are guarded: a handoff back to this agent finds this clone.
    clones.set(agent, clone);
    clones.set(clone, clone);
    clone.handoffs = agent.handoffs.map(guardHandoff);
    const getAllTools = clone.getAllTools.bind(clone);
    // SECURITY: whatever tool list the run asks for — including tools loaded dynamically — is guarded.
    clone.getAllTools = async (runContext, tracingParent) =>
      (await getAllTools(runContext, tracingParent)).map((t) => wrapTool(t, guard, options));
    const getEnabledHandoffs = clone.getEnabledHandoffs.bind(clone);
    // SECURITY: a handoff added to the guarded agent after guardAgent ran is guarded before the
    // run sees it; in place, so a RunState of this agent names the guarded agents too.
    clone.getEnabledHandoffs = async (runContext) => {
      clone.handoffs.forEach((h, i) => (clone.handoffs[i] = guardHandoff(h)));
      return getEnabledHandoffs(runContext);
    };
    return clone;
  };

  function guardHandoff(h: AnyAgent | AnyHandoff): AnyAgent | AnyHandoff {
    if (isAgent(h)) return guardAgentNode(h);
    // SECURITY: fail closed — a handoff this adapter does not know could run an unguarded agent.
    if (!isHandoff(h)) {
      throw new MandateApiError(
        'bad_request',
        'a handoff that is neither an Agent nor a Handoff cannot be guarded',
      );
    }
    const made = handoffs.get(h);
    if (made) return made;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(h) as object) as AnyHandoff, h, {
      agent: guardAgentNode(h.agent),
      // SECURITY: the run continues with the agent the handoff returns, whichever it is (one
      // picked at run time too): that agent is guarded, never the one returned as it was.
      onInvokeHandoff: async (context: RunContext, args: string) =>
        guardAgentNode(await h.onInvokeHandoff(context, args)),
    });
    handoffs.set(h, copy);
    handoffs.set(copy, copy);
    return copy;
  }

  return guardAgentNode;
}

function isAgent(h: unknown): h is AnyAgent {
  const a = h as Partial<AnyAgent> | null;
  return (
    typeof a?.clone === 'function' &&
    typeof a.getAllTools === 'function' &&
    Array.isArray(a.tools) &&
    Array.isArray(a.handoffs)
  );
}

function isHandoff(h: unknown): h is AnyHandoff {
  const x = h as Partial<AnyHandoff> | null;
  return typeof x?.onInvokeHandoff === 'function' && typeof x.toolName === 'string' && isAgent(x.agent);
}

function wrapTool<T extends AnyTool>(tool: T, guard: Guard, options: AgentsGuardOptions): T {
  // SECURITY: fail closed — a hosted or computer tool runs elsewhere; it cannot be checked before its side effect.
  if (tool.type !== 'function') {
    throw new MandateApiError(
      'bad_request',
      `tool "${tool.name}" of type ${tool.type} cannot be guarded: only function tools run here`,
    );
  }
  const fn = tool as unknown as AnyFunctionTool;
  const action = actionFor(fn.name, options.actions);
  const mark = { options, extra: { action, frameworkApproval: options.frameworkApproval ?? true } };
  if (alreadyGuarded(tool, mark, `tool "${fn.name}"`)) return tool;
  const parse = (text: string): Record<string, unknown> => {
    const v: unknown = JSON.parse(text || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  };
  const guarded: AnyFunctionTool = {
    ...fn,
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
  return markGuarded(guarded, mark) as unknown as T;
}
