/**
 * `@mandate/sdk/mcp`: guards an MCP client (`@modelcontextprotocol/sdk` 1.x) that talks to MCP
 * servers directly, the way the gateway would — without the gateway.
 *
 * ```ts
 * guardMcpClient(client, { client: mandate, agent: 'support-bot', actions: (name) => `fintech.${name}` });
 * await client.callTool({ name: 'refund', arguments: { customerId: 'c-42', amount: 120 } });
 * ```
 * Every `tools/call` is decided first; only an `allow` reaches the server, with the decided args. A deny
 * or a pending approval is an `isError` result the model reads; `_meta` carries the decision id
 * (and for a pending call `mandate/token`: call again with it in `_meta` once the approval is given).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createGuard, type BodyInfo, type GuardOptions } from '../guard/guard.js';
import { MandateApiError } from '../errors.js';
import { actionFor, mappingKey, type ActionMapping } from './actions.js';
import { alreadyGuarded, markGuarded } from './guarded.js';

export interface McpGuardOptions extends GuardOptions {
  /** MCP tool name → Mandate action; default `payments__refund` → `payments.refund`. */
  actions?: ActionMapping;
}

type Request = Client['request'];
type CallTool = Client['callTool'];
type CallToolResult = Awaited<ReturnType<CallTool>>;

/**
 * Guards every `tools/call` the client sends, in place (the same client object, so code holding it
 * is guarded too), and returns the client. Guarding it again with the same options is a no-op;
 * with other options (another user, agent or client) it throws.
 *
 * SECURITY: the guard sits on `client.request`, which `callTool`, the tasks API
 * (`client.experimental.tasks.callToolStream`) and a raw `client.request({ method: 'tools/call' })`
 * all go through: guarding `callTool` alone let the other two reach the server undecided and
 * unrecorded. Only code that writes to the client's transport itself is beyond it.
 */
export function guardMcpClient<C extends Pick<Client, 'callTool' | 'request'>>(
  client: C,
  options: McpGuardOptions,
): C {
  const mark = { options, extra: { actions: mappingKey(options.actions) } };
  if (alreadyGuarded(client, mark, 'this MCP client', 'connect another client for other options')) {
    return client;
  }
  const guard = createGuard(options);
  const original = client.request.bind(client) as Request;
  const guarded = async (...[request, resultSchema, requestOptions]: Parameters<Request>) => {
    if (request.method !== 'tools/call') return original(request, resultSchema, requestOptions);
    // SECURITY: what is decided is what is sent — the request is copied before the decision and
    // the copy is sent, so a caller changing its params object meanwhile (another tool name, other
    // meta) cannot redirect the decided call.
    const sent = snapshot(request);
    const { arguments: asked, _meta, ...params } = (sent.params ?? {}) as Parameters<CallTool>[0];
    const action = actionFor(params.name, options.actions);
    const ctx = requestOptions?.signal ? { signal: requestOptions.signal } : {};
    const { 'mandate/token': token, ...meta } = _meta ?? {};
    // Forward no Mandate key upstream; a call that carries a pending token resumes it (the server re-checks).
    const send = async (args: Record<string, unknown>, info: BodyInfo) => {
      const result = (await original(
        {
          ...sent,
          params: { ...params, arguments: args, ...(_meta ? { _meta: meta } : {}) },
        } as Parameters<Request>[0],
        resultSchema,
        requestOptions,
      )) as CallToolResult;
      // The tool failed on the server's side: recorded as the gateway records it, not as ok. A
      // task-augmented call answers with the task it created: its outcome is that creation.
      if (result.isError === true) info.failed('tool_error');
      return result;
    };
    const r =
      typeof token === 'string'
        ? await guard.resume(token, action, send, ctx)
        : await guard.call(action, asked ?? {}, send, ctx);
    if (r.status === 'ok') {
      return {
        ...r.value,
        _meta: { ...r.value._meta, 'mandate/decisionId': r.decisionId },
      } as CallToolResult;
    }
    return {
      content: [{ type: 'text', text: r.message }],
      isError: true,
      _meta: {
        'mandate/decisionId': r.decisionId,
        'mandate/status': r.status,
        ...(r.status === 'pending' ? { 'mandate/approvalId': r.approvalId, 'mandate/token': r.token } : {}),
      },
    } as CallToolResult;
  };
  client.request = guarded as C['request'];
  return markGuarded(client, mark);
}

/** A deep copy of the request; one that cannot be copied is refused, and nothing is sent. */
function snapshot<R>(request: R): R {
  try {
    return structuredClone(request);
  } catch (cause) {
    throw new MandateApiError('bad_request', 'the tools/call request cannot be copied: nothing was sent', {
      cause,
    });
  }
}
