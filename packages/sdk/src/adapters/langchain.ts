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
import { MandateApiError } from '../errors.js';
import { createGuard, type GuardOptions } from '../guard/guard.js';
import { assertAsDecided, schemaArgs } from '../guard/schema.js';
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
      let parse: ReturnType<typeof schemaParser>;
      let asked: Record<string, unknown>;
      try {
        parse = schemaParser(request.tool, toolCall.name);
        // SECURITY: decided as the tool will parse them (its zod schema's defaults, trimming and
        // transforms applied), not as the model wrote them.
        asked = parse ? schemaArgs(action, await parse(toolCall.args)) : toolCall.args;
      } catch (err) {
        return refuse((err as Error).message);
      }
      const r = await guard.call(
        action,
        asked,
        // SECURITY: the rest of the chain (and the tool) sees the decided args only, and the tool
        // parses them into exactly these.
        async (args) => {
          if (parse) assertAsDecided(action, args, await parse(args));
          return handler({ ...request, toolCall: { ...toolCall, args } });
        },
        id ? { toolCallId: id } : {},
      );
      return r.status === 'ok' ? r.value : refuse(r.message);
    },
  });
}

interface StandardResult {
  value?: unknown;
  issues?: readonly { message: string }[];
}

/**
 * How the tool parses its args before its body: a zod schema, through the Standard Schema
 * interface both zod 3.24+ and 4 implement (the same parse LangChain runs); none for a JSON schema,
 * which LangChain only validates.
 */
function schemaParser(tool: unknown, name: string): ((args: unknown) => Promise<unknown>) | undefined {
  const schema = (tool as { schema?: unknown } | undefined)?.schema;
  if (typeof schema !== 'object' || schema === null) return undefined;
  const standard = (
    schema as { '~standard'?: { validate(v: unknown): StandardResult | Promise<StandardResult> } }
  )['~standard'];
  if (!standard) {
    // SECURITY: fail closed — a zod schema this adapter cannot run could change the decided args.
    if ('_def' in schema || '_zod' in schema) {
      throw new MandateApiError(
        'bad_request',
        `tool "${name}" has a zod schema without the Standard Schema interface (zod < 3.24): Mandate cannot check what it makes of the args`,
      );
    }
    return undefined;
  }
  return async (args) => {
    const r = await standard.validate(args);
    if (r.issues) {
      throw new MandateApiError(
        'invalid_args',
        `the args do not match the schema of tool "${name}": ${r.issues.map((i) => i.message).join('; ')}; the tool did not run`,
      );
    }
    return r.value;
  };
}
