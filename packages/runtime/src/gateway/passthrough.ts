import { ErrorCode, McpError, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { DecisionOutcome } from '../decisions/index.js';
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
import type { SessionScope } from './scope.js';

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
 * One session's resources and prompts. A URI goes only to the upstream that listed it (or whose
 * listed template matches it, when exactly one does); a prompt only to the upstream that listed
 * it. `resources/read`, `prompts/get` and `resources/(un)subscribe` are decided as actions
 * `<server>.resources_read`, `<server>.prompts_get`, … (ADR 0017); lists and completions are not.
 */
export function createPassthrough(s: SessionScope) {
  const { ctx } = s;
  const outcomes = createOutcomeRecorder(s);
  const uriOwner = new Map<string, string>();
  /** Listed templates by upstream. */
  const templates = new Map<string, ListedTemplate[]>();
  const promptOwner = new Map<string, { conn: string; name: string }>();

  const withCap = (cap: 'resources' | 'prompts' | 'logging') =>
    [...s.conns.values()].filter((c) => c.caps[cap]);

  function noteResources(server: string, items: unknown): void {
    if (!Array.isArray(items)) return;
    for (const x of items as { uri?: unknown }[]) if (typeof x?.uri === 'string') uriOwner.set(x.uri, server);
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

  const ownerOf = (uri: string) => uriOwnerOf(uri, uriOwner, templates);

  async function relistResources(): Promise<void> {
    await Promise.allSettled(
      withCap('resources').map(async (c) => {
        noteResources(c.cfg.name, await listAll(ctx, c, 'resources/list', 'resources'));
        noteTemplates(
          c.cfg.name,
          await listAll(ctx, c, 'resources/templates/list', 'resourceTemplates').catch(() => []),
        );
      }),
    );
  }

  async function routeUri(uri: string): Promise<Conn> {
    let owner = ownerOf(uri);
    if (owner === undefined) {
      // This session has not listed it yet: the upstreams' current lists decide.
      await relistResources();
      owner = ownerOf(uri);
    }
    const conn = owner !== undefined ? s.conns.get(owner) : undefined;
    if (!conn)
      throw new McpError(
        ErrorCode.InvalidParams,
        owner === undefined
          ? `no upstream lists the resource ${uri.slice(0, 200)}`
          : `upstream ${owner} is unavailable`,
      );
    return conn;
  }

  async function routePrompt(exposed: string): Promise<{ conn: Conn; name: string }> {
    if (!promptOwner.has(exposed)) await listPrompts().catch(() => undefined);
    const owner = promptOwner.get(exposed);
    const conn = owner ? s.conns.get(owner.conn) : undefined;
    if (!owner || !conn)
      throw new McpError(ErrorCode.InvalidParams, `unknown prompt ${exposed.slice(0, 100)}`);
    return { conn, name: owner.name };
  }

  async function listPrompts(): Promise<Record<string, unknown>[]> {
    const prompts: Record<string, unknown>[] = [];
    for (const c of withCap('prompts')) {
      for (const p of await listAll(ctx, c, 'prompts/list', 'prompts')) {
        const exposed = c.cfg.exposeBareNames ? String(p.name) : `${c.cfg.name}.${String(p.name)}`;
        promptOwner.set(exposed, { conn: c.cfg.name, name: String(p.name) });
        prompts.push({ ...p, name: exposed });
      }
    }
    return prompts;
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
    let outcome: DecisionOutcome;
    try {
      outcome = await s.decide(governedAction(conn.cfg.name, method), args, approvalId, {
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
      await outcomes.ran(d.decisionId, 'error', ctx.deps.clock.now() - startedAt, failureType(err, signal));
      // Forwarded and failed: the error names the decision too, as a tools/call's does.
      throw upstreamError(err, { [META_DECISION]: d.decisionId });
    }
    await outcomes.ran(d.decisionId, 'ok', ctx.deps.clock.now() - startedAt);
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
        return { [field]: items };
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = typeof params.uri === 'string' ? params.uri : '';
        return governed(await routeUri(uri), method, { uri }, params, id, signal);
      }
      case 'prompts/list':
        return { prompts: await listPrompts() };
      case 'prompts/get': {
        const { conn, name } = await routePrompt(String(params.name ?? ''));
        const args: Record<string, unknown> = { name };
        if (params.arguments !== undefined) args.arguments = params.arguments;
        return governed(conn, 'prompts/get', args, params, id, signal);
      }
      case 'completion/complete': {
        const ref = (params.ref ?? {}) as Record<string, unknown>;
        if (ref.type === 'ref/prompt') {
          const { conn, name } = await routePrompt(String(ref.name ?? ''));
          return s.forward(conn, method, { ...params, ref: { ...ref, name } }, id, signal);
        }
        return s.forward(await routeUri(String(ref.uri ?? '')), method, params, id, signal);
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
 * The upstream a URI goes to: the one that listed it, else the one whose listed template matches
 * it (a completion names the template itself), else undefined.
 */
export function uriOwnerOf(
  uri: string,
  listed: ReadonlyMap<string, string>,
  templates: ReadonlyMap<string, readonly ListedTemplate[]>,
): string | undefined {
  const exact = listed.get(uri);
  if (exact) return exact;
  const matching = [...templates].filter(([, list]) => list.some((t) => t.text === uri || t.re.test(uri)));
  // SECURITY: two upstreams whose templates both match: neither gets the URI.
  return matching.length === 1 ? matching[0]![0] : undefined;
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
