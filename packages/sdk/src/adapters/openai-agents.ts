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
import { assertAsDecided } from '../guard/schema.js';
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
type FunctionToolDetails = NonNullable<Parameters<AnyFunctionTool['invoke']>[2]>;

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
    const clone = agent.clone({ tools: agent.tools, handoffs: [] });
    // Known before its handoffs are guarded: a handoff back to this agent finds this clone.
    clones.set(agent, clone);
    return protect(clone, agent.handoffs);
  };

  /** Guards `node`, a fresh clone, in place: its tools, its handoffs, and every clone made of it. */
  function protect(node: AnyAgent, handoffsOf: AnyAgent['handoffs']): AnyAgent {
    refuseSelfRunning(node);
    node.tools = node.tools.map((t) => wrapTool(t, guard, options));
    markGuarded(node, mark);
    clones.set(node, node);
    node.handoffs = handoffsOf.map(guardHandoff);
    const getAllTools = node.getAllTools.bind(node);
    // SECURITY: whatever tool list the run asks for — including tools loaded dynamically — is guarded.
    node.getAllTools = async (runContext, tracingParent) =>
      (await getAllTools(runContext, tracingParent)).map((t) => wrapTool(t, guard, options));
    const getEnabledHandoffs = node.getEnabledHandoffs.bind(node);
    // SECURITY: a handoff added to the guarded agent after guardAgent ran is guarded before the
    // run sees it; in place, so a RunState of this agent names the guarded agents too.
    node.getEnabledHandoffs = async (runContext) => {
      node.handoffs.forEach((h, i) => (node.handoffs[i] = guardHandoff(h)));
      return getEnabledHandoffs(runContext);
    };
    const clone = node.clone.bind(node);
    // SECURITY: the guard is on the instance, and `clone` builds a fresh, unguarded one: the
    // sandbox runtime runs a SandboxAgent as `agent.clone({ tools: [...agent.tools,
    // ...capability tools] })`, so its shell ran with no decision. Every clone of a guarded agent
    // is guarded in turn, with the tools and handoffs it was given.
    node.clone = (config) => {
      const made = clone(config);
      return protect(made, made.handoffs);
    };
    return node;
  }

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

/**
 * SECURITY: fail closed — a SandboxAgent with memory generation runs agents of its own after the
 * run (`new SandboxAgent` with the default shell and filesystem, in the same sandbox session):
 * they are not clones of the guarded agent, so nothing of theirs would be decided.
 */
function refuseSelfRunning(agent: AnyAgent): void {
  const capabilities = (agent as { capabilities?: unknown }).capabilities;
  if (!Array.isArray(capabilities)) return;
  for (const c of capabilities as { type?: unknown; generate?: unknown }[]) {
    if (c.type === 'memory' && c.generate !== null) {
      throw new MandateApiError(
        'bad_request',
        `agent "${agent.name}" has a memory capability that generates memories: it runs agents of its own that Mandate cannot guard; use memory({ generate: null })`,
      );
    }
  }
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

/**
 * The key under which the agents runner hands a function tool's `invoke` a callback that the
 * tool's own parser calls with the parsed args, right before its `execute` (`tool()` in
 * `@openai/agents-core`; the symbol itself is not exported).
 */
const PARSED_INPUT = 'openai.agents.functionToolParsedInputCallback';

/**
 * A copy of the run's tool call details whose parsed-args callback runs `check` first: a throw
 * there stops the tool before its `execute`. A function tool that does not parse through `tool()`
 * never calls it (its schema is not visible here, as with an MCP server's).
 */
function withParsedInput(
  details: FunctionToolDetails | undefined,
  name: string,
  check: (parsed: unknown) => void,
): FunctionToolDetails {
  const key = details && Object.getOwnPropertySymbols(details).find((k) => k.description === PARSED_INPUT);
  // SECURITY: fail closed — without the callback, what the tool's schema makes of the decided
  // args (trimming, defaults, transforms) cannot be checked before its body runs.
  if (!details || !key) {
    throw new MandateApiError(
      'bad_request',
      `tool "${name}" was invoked outside the agents runner (or by a version that does not show its parsed args): Mandate cannot check what its schema makes of the args`,
    );
  }
  const copy = Object.create(
    Object.getPrototypeOf(details) as object,
    Object.getOwnPropertyDescriptors(details),
  ) as FunctionToolDetails & Record<symbol, unknown>;
  const theirs = (details as Record<symbol, unknown>)[key];
  Object.defineProperty(copy, key, {
    enumerable: true,
    value: (parsed: unknown) => {
      check(parsed);
      if (typeof theirs === 'function') (theirs as (p: unknown) => void)(parsed);
    },
  });
  return copy;
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
      const d = await guard.precheck(action, input as Record<string, unknown>, {
        toolCallId: callId,
        humanWaits: own,
      });
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
        // SECURITY: the body parses the decided args, not the model's text, and must parse them
        // into exactly these (checked as the tool's parser hands them to its execute).
        async (args) => {
          let changed: unknown;
          const checked = withParsedInput(details, fn.name, (parsed) => {
            try {
              assertAsDecided(action, args, parsed);
            } catch (err) {
              changed = err;
              throw err;
            }
          });
          const value: unknown = await fn.invoke(ctx, JSON.stringify(args), checked);
          // The tool's errorFunction may have turned the refusal into text: its execute never ran.
          if (changed) throw changed;
          return value;
        },
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
