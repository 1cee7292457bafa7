/**
 * `@mandate/sdk/langchain`: guards every tool call of a LangChain.js agent (`langchain` 1.x) with
 * one middleware.
 *
 * ```ts
 * const agent = createAgent({ model, tools, middleware: [mandateMiddleware({ client, agent: 'support-bot' })] });
 * ```
 * `wrapToolCall` sees every call — declared tools and tools registered at run time alike — and runs
 * the tool (the rest of the middleware chain) only on `allow`, with the decided args. A deny or an
 * approval that is not given becomes a `ToolMessage` the model reads; a human-in-the-loop
 * interrupt resumed as "approve" still has to pass this check.
 */
import { ToolMessage, createMiddleware } from 'langchain';
import { createGuard, type GuardOptions } from '../guard/guard.js';
import { actionFor, type ActionMapping } from './actions.js';

export interface LangChainGuardOptions extends GuardOptions {
  /** Tool name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
}

/**
 * The middleware; put it LAST in `createAgent({ middleware: [...] })` (innermost): middleware after
 * it (a `toolRetryMiddleware`, say) runs inside one decision and could run an allowed or approved
 * call several times; before it, every retry is decided again.
 */
export function mandateMiddleware(options: LangChainGuardOptions) {
  const guard = createGuard(options);
  return createMiddleware({
    name: 'MandateGuard',
    wrapToolCall: async (request, handler) => {
      const { toolCall } = request;
      const id = toolCall.id ?? '';
      const refuse = (message: string) =>
        new ToolMessage({ content: message, tool_call_id: id, name: toolCall.name, status: 'error' });
      let action: string;
      try {
        action = actionFor(toolCall.name, options.actions);
      } catch (err) {
        return refuse((err as Error).message);
      }
      const r = await guard.call(
        action,
        toolCall.args,
        // SECURITY: the rest of the chain (and the tool) sees the decided args only.
        (args) => handler({ ...request, toolCall: { ...toolCall, args } }),
        id ? { toolCallId: id } : {},
      );
      return r.status === 'ok' ? r.value : refuse(r.message);
    },
  });
}
