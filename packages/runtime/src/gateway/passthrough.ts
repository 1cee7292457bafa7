import { ErrorCode, McpError, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { DecisionOutcome } from '../decisions/index.js';
import type { ErrorCode as MandateErrorCode } from '@mandate/protocol';
import { governedAction, type GovernedMethod } from './catalog.js';
import { listAll, type Conn } from './upstream-connection.js';
import { createOutcomeRecorder, failureType } from './outcome.js';
import {
  META_APPROVAL,
  META_DECISION,
  describe,
  reasonText,
  upstreamError,
  withDecisionId,
} from './results.js';
import { uriProblem } from './resource-uri.js';
import { activeAgentEntity, type SessionScope } from './scope.js';

/** Methods other than tools that reach upstreams: resources, prompts, completion, log level. */
export const PASSTHROUGH_METHODS = [
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
] as const;
export type PassthroughMethod = (typeof PASSTHROUGH_METHODS)[number];

export function isPassthrough(method: string): method is PassthroughMethod {
  return (PASSTHROUGH_METHODS as readonly string[]).includes(method);
}

/**
 * One session's resources and prompts. A URI goes only to the upstream that listed it or whose
 * listed template matches it, and only when exactly one upstream claims it that way; a prompt only
 * to the upstream that listed it, when no other upstream lists one under the same exposed name.
 * `resources/read`, `prompts/get` and `resources/(un)subscribe` are decided as actions
 * `<server>.resources_read`, `<server>.prompts_get`, … (ADR 0017); lists and completions are not,
 * but a completion goes to an upstream only for an agent that could ever be permitted the get or
 * read it completes for there ({@link mayComplete}).
 */
export function createPassthrough(s: SessionScope) {
  const { ctx } = s;
  const outcomes = createOutcomeRecorder(s);
  /** Listed URIs: the upstreams that listed each (one, unless two claim it). */
  const uriListers = new Map<string, Set<string>>();
  /** Listed templates by upstream. */
  const templates = new Map<string, ListedTemplate[]>();
  /** Exposed prompt names: the upstreams listing a prompt under each, with their own name for it. */
  const promptListers = new Map<string, Map<string, string>>();
  /** Connections whose resources and templates (or prompts) this session has asked for. */
  const resourcesListed = new WeakSet<Conn>();
  const promptsListed = new WeakSet<Conn>();

  const withCap = (cap: 'resources' | 'prompts' | 'logging') =>
    [...s.conns.values()].filter((c) => c.caps[cap]);

  function noteResources(server: string, items: unknown): void {
    if (!Array.isArray(items)) return;
    for (const x of items as { uri?: unknown }[]) {
      if (typeof x?.uri !== 'string') continue;
      const listers = uriListers.get(x.uri) ?? new Set<string>();
      listers.add(server);
      uriListers.set(x.uri, listers);
    }
  }
  function noteTemplates(server: string, items: unknown): void {
    if (!Array.isArray(items)) return;
    const list = templates.get(server) ?? [];
    for (const x of items as { uriTemplate?: unknown }[]) {
      if (typeof x?.uriTemplate !== 'string' || list.some((t) => t.text === x.uriTemplate)) continue;
      const re = templateMatcher(x.uriTemplate);
      if (re) list.push({ text: x.uriTemplate, re });
    }
    templates.set(server, list);
  }

  const claimantsOf = (uri: string) => uriClaimants(uri, uriListers, templates);

  async function relistResources(): Promise<void> {
    await Promise.allSettled(
      withCap('resources').map(async (c) => {
        resourcesListed.add(c);
        noteResources(c.cfg.name, await listAll(ctx, c, 'resources/list', 'resources'));
        noteTemplates(
          c.cfg.name,
          await listAll(ctx, c, 'resources/templates/list', 'resourceTemplates').catch(() => []),
        );
      }),
    );
  }

  /**
   * Refuses a request before anything is routed or decided: a JSON-RPC `InvalidParams` error. A
   * governed request (`method`) refused so is on the record as `request.refused` (route `MCP /mcp`;
   * the reason names the rule, never the URI or name), as a decision would have been; so is a
   * completion refused by policy ({@link mayComplete}).
   */
  async function refuse(
    method: GovernedMethod | 'completion/complete' | null,
    code: MandateErrorCode,
    reason: string,
    message: string,
  ): Promise<never> {
    if (method) await ctx.deps.refused?.({ code, reason: `${method}: ${reason}`, caller: s.caller });
    throw new McpError(ErrorCode.InvalidParams, message);
  }

  /** The upstream a URI goes to; `method` is the governed request asking, null for a completion. */
  async function routeUri(uri: string, method: GovernedMethod | null): Promise<Conn> {
    // SECURITY: who else claims a URI must be known before it goes anywhere — a URI listed by one
    // upstream and matched by another's template (or listed by both) is nobody's. So every
    // connection's resources and templates are read once before the first URI is routed.
    let relisted = false;
    if (withCap('resources').some((c) => !resourcesListed.has(c))) {
      await relistResources();
      relisted = true;
    }
    let owners = claimantsOf(uri);
    if (owners.length === 0 && !relisted) {
      // This session has not seen it listed: the upstreams' current lists decide.
      await relistResources();
      owners = claimantsOf(uri);
    }
    const shown = JSON.stringify(uri.slice(0, 200));
    if (owners.length > 1)
      return refuse(
        method,
        'conflict',
        'the resource URI is claimed by more than one upstream',
        `the resource ${shown} is claimed by more than one upstream (${owners.join(', ')}): it goes to none of them; resolve the clash in the upstreams or the config`,
      );
    const conn = owners.length === 1 ? s.conns.get(owners[0]!) : undefined;
    if (owners.length === 0)
      return refuse(
        method,
        'not_found',
        'no upstream lists the resource',
        `no upstream lists the resource ${shown}`,
      );
    if (!conn) throw new McpError(ErrorCode.InvalidParams, `upstream ${owners[0]} is unavailable`);
    return conn;
  }

  /** The upstream a prompt goes to, and its name there; `method` as for {@link routeUri}. */
  async function routePrompt(
    exposed: string,
    method: GovernedMethod | null,
  ): Promise<{ conn: Conn; name: string }> {
    // SECURITY: as for URIs, every connection's prompts are read before a name is routed.
    if (!promptListers.has(exposed) || withCap('prompts').some((c) => !promptsListed.has(c)))
      await listPrompts().catch(() => undefined);
    const listers = [...(promptListers.get(exposed) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const shown = JSON.stringify(exposed.slice(0, 100));
    if (listers.length > 1)
      return refuse(
        method,
        'conflict',
        'the prompt name is listed by more than one upstream',
        `the prompt ${shown} is listed by more than one upstream (${listers.map(([server]) => server).join(', ')}): it goes to none of them; give the bare-named upstream its own names or remove it`,
      );
    const [owner] = listers;
    const conn = owner ? s.conns.get(owner[0]) : undefined;
    if (!owner) return refuse(method, 'not_found', 'no upstream lists the prompt', `unknown prompt ${shown}`);
    if (!conn) throw new McpError(ErrorCode.InvalidParams, `upstream ${owner[0]} is unavailable`);
    return { conn, name: owner[1] };
  }

  /**
   * Every upstream's prompts under their exposed names; a name two upstreams claim is left out.
   * Fails when an upstream's listing fails, once every other upstream's claims are noted.
   */
  async function listPrompts(): Promise<Record<string, unknown>[]> {
    const conns = withCap('prompts');
    const lists = await Promise.allSettled(
      conns.map((c) => {
        promptsListed.add(c);
        return listAll(ctx, c, 'prompts/list', 'prompts');
      }),
    );
    const prompts: Record<string, unknown>[] = [];
    lists.forEach((got, i) => {
      if (got.status !== 'fulfilled') return;
      const c = conns[i]!;
      for (const p of got.value) {
        const exposed = c.cfg.exposeBareNames ? String(p.name) : `${c.cfg.name}.${String(p.name)}`;
        const listers = promptListers.get(exposed) ?? new Map<string, string>();
        listers.set(c.cfg.name, String(p.name));
        promptListers.set(exposed, listers);
        prompts.push({ ...p, name: exposed });
      }
    });
    const failed = lists.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // SECURITY: a bare-named upstream listing `good.summary` would take `good`'s prompt (a probe):
    // a name listed by more than one upstream is shown to no one and routed to no one.
    return prompts.filter((p) => promptListers.get(String(p.name))!.size === 1);
  }

  /**
   * SECURITY: fail closed — a completion hands the agent an upstream's values (its resources'
   * names, a prompt argument's values) as a get or read would, so it goes to `conn` only for an
   * agent some permit could ever let take the governed action it completes for there
   * (`<server>.prompts_get` for a prompt, `<server>.resources_read` for a resource template),
   * judged on its own roles and attributes as tools/list is (tools.ts). It was forwarded undecided,
   * to agents no policy let get that prompt or read those resources. No policy, an unknown or a
   * suspended agent: refused. Not a decision: the arguments are still being typed, and the get or
   * read that follows is decided on them.
   */
  async function mayComplete(conn: Conn, method: 'prompts/get' | 'resources/read'): Promise<void> {
    const action = governedAction(conn.cfg.name, method);
    if (s.catalog.mayCall(ctx.deps.policies(), await activeAgentEntity(s), action)) return;
    return refuse(
      'completion/complete',
      'forbidden',
      `no permit could ever allow this agent ${action}`,
      `completion refused by Mandate: no policy could ever permit this agent ${action}, the ${method} this completion is for`,
    );
  }

  /**
   * Decides a request to an upstream like a tool call, then forwards exactly the decided args.
   * SECURITY: deny by default — with no permit for `<server>.<verb>` nothing is forwarded.
   */
  async function governed(
    conn: Conn,
    method: GovernedMethod,
    args: Record<string, unknown>,
    params: Record<string, unknown>,
    id: RequestId,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const meta = (params._meta ?? {}) as Record<string, unknown>;
    const approvalId = typeof meta[META_APPROVAL] === 'string' ? (meta[META_APPROVAL] as string) : null;
    const action = governedAction(conn.cfg.name, method);
    let outcome: DecisionOutcome;
    try {
      outcome = await s.decide(action, args, approvalId, {
        upstream: conn.cfg.name,
      });
    } catch (err) {
      // SECURITY: fail closed — no decision, nothing forwarded.
      throw new McpError(ErrorCode.InvalidParams, `Mandate could not decide this request: ${describe(err)}`);
    }
    const d = outcome.decision;
    if (d.effect !== 'allow') {
      throw new McpError(
        ErrorCode.InvalidRequest,
        d.effect === 'approval_required'
          ? `approval required (approval ${d.approval!.id}); once approved, send the same request with _meta {"${META_APPROVAL}": "${d.approval!.id}"}`
          : `denied by Mandate: ${reasonText(d)}`,
        {
          [META_DECISION]: d.decisionId,
          ...(d.approval ? { [META_APPROVAL]: d.approval.id } : {}),
        },
      );
    }
    // SECURITY: what was checked is what runs — the decided args (uri, name, arguments) go upstream,
    // with the client's progress token; nothing else of the request was decided or recorded.
    const up: Record<string, unknown> = { ...outcome.args };
    if (meta.progressToken !== undefined) up._meta = { progressToken: meta.progressToken };
    let result: Record<string, unknown>;
    const startedAt = ctx.deps.clock.now();
    try {
      result = await s.forward(conn, method, up, id, signal);
    } catch (err) {
      await outcomes.ran(d, action, 'error', ctx.deps.clock.now() - startedAt, failureType(err, signal));
      // Forwarded and failed: the error names the decision too, as a tools/call's does.
      throw upstreamError(err, { [META_DECISION]: d.decisionId });
    }
    await outcomes.ran(d, action, 'ok', ctx.deps.clock.now() - startedAt);
    return withDecisionId(result, d.decisionId);
  }

  async function handle(
    method: PassthroughMethod,
    params: Record<string, unknown>,
    id: RequestId,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    switch (method) {
      case 'resources/list':
      case 'resources/templates/list': {
        const field = method === 'resources/list' ? 'resources' : 'resourceTemplates';
        const note = method === 'resources/list' ? noteResources : noteTemplates;
        const list = withCap('resources');
        if (list.length === 1) {
          // One upstream: its own pages and cursors pass through unchanged.
          const r = await s.forward(list[0]!, method, params, id, signal);
          note(list[0]!.cfg.name, r[field]);
          return r;
        }
        const items: Record<string, unknown>[] = [];
        for (const c of list) {
          const got = await listAll(ctx, c, method, field);
          note(c.cfg.name, got);
          items.push(...got);
        }
        if (method === 'resources/templates/list') return { [field]: items };
        // A resource another upstream lists too, or whose URI another's template matches, goes to no
        // one (routeUri): it is not listed either. So the templates must be known as well.
        if (list.some((c) => !resourcesListed.has(c))) await relistResources();
        return { [field]: items.filter((r) => claimantsOf(String(r.uri)).length === 1) };
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = typeof params.uri === 'string' ? params.uri : '';
        // SECURITY: decided and forwarded only in its canonical form, so that the string the policy
        // matches (`uri like "file:///srv/docs/*"`) is the one the upstream resolves (resource-uri.ts).
        const problem = uriProblem(uri);
        if (problem)
          return refuse(
            method,
            'bad_request',
            `the resource URI is refused: ${problem}`,
            `resource URI ${JSON.stringify(uri.slice(0, 200))} refused: ${problem}; only a URI in its canonical form (as WHATWG URL serialises it, without dot segments, backslashes, encoded slashes, NUL or encoded unreserved characters) is decided and forwarded`,
          );
        return governed(await routeUri(uri, method), method, { uri }, params, id, signal);
      }
      case 'prompts/list':
        return { prompts: await listPrompts() };
      case 'prompts/get': {
        const { conn, name } = await routePrompt(String(params.name ?? ''), 'prompts/get');
        const args: Record<string, unknown> = { name };
        if (params.arguments !== undefined) args.arguments = params.arguments;
        return governed(conn, 'prompts/get', args, params, id, signal);
      }
      case 'completion/complete': {
        const ref = (params.ref ?? {}) as Record<string, unknown>;
        if (ref.type === 'ref/prompt') {
          const { conn, name } = await routePrompt(String(ref.name ?? ''), null);
          await mayComplete(conn, 'prompts/get');
          return s.forward(conn, method, { ...params, ref: { ...ref, name } }, id, signal);
        }
        const conn = await routeUri(String(ref.uri ?? ''), null);
        await mayComplete(conn, 'resources/read');
        return s.forward(conn, method, params, id, signal);
      }
      case 'logging/setLevel':
        await Promise.all(withCap('logging').map((c) => s.forward(c, method, params, id, signal)));
        return {};
    }
  }

  return { handle };
}

/** A listed resource template: its text and its matcher. */
export interface ListedTemplate {
  text: string;
  re: RegExp;
}

/**
 * The upstreams claiming a URI, sorted: those that listed it and those whose listed template
 * matches it (a completion names the template itself).
 */
export function uriClaimants(
  uri: string,
  listed: ReadonlyMap<string, ReadonlySet<string>>,
  templates: ReadonlyMap<string, readonly ListedTemplate[]>,
): string[] {
  const claimants = new Set(listed.get(uri) ?? []);
  for (const [server, list] of templates)
    if (list.some((t) => t.text === uri || t.re.test(uri))) claimants.add(server);
  return [...claimants].sort();
}

/**
 * The upstream a URI goes to: the one upstream that listed it or whose listed template matches it,
 * else undefined. SECURITY: a URI two upstreams claim — both listed it, one listed it and the
 * other's template matches, or both templates match — goes to neither: the last listing does not
 * win, nor does an exact listing beat another upstream's template.
 */
export function uriOwnerOf(
  uri: string,
  listed: ReadonlyMap<string, ReadonlySet<string>>,
  templates: ReadonlyMap<string, readonly ListedTemplate[]>,
): string | undefined {
  const claimants = uriClaimants(uri, listed, templates);
  return claimants.length === 1 ? claimants[0] : undefined;
}

/**
 * A matcher for an RFC 6570 URI template: a simple `{var}` matches one path segment, an operator
 * expression (`{+var}`, `{#var}`, `{/var}`, `{?var}` …) anything. Used only to route a URI to the
 * upstream that listed the template; null for a template too long or malformed to trust.
 */
export function templateMatcher(template: string): RegExp | null {
  if (template.length > 2000) return null;
  let re = '^';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      re += escapeRe(template.slice(i));
      break;
    }
    const close = template.indexOf('}', open);
    if (close < 0) return null;
    re += escapeRe(template.slice(i, open));
    re += /^[+#./;?&]/.test(template.slice(open + 1, close)) ? '[\\s\\S]*' : '[^/?#]*';
    i = close + 1;
  }
  return new RegExp(re + '$');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
