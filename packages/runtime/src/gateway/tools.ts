import { ElicitResultSchema, ErrorCode, McpError, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { traceHeaders } from '../telemetry/index.js';
import { ACTION_NAME } from '@mandate/protocol';
import type { DecideOptions, DecisionOutcome } from '../decisions/index.js';
import { createOutcomeRecorder, failureType } from './outcome.js';
import { SELF_CONFIRMATION, approvalDisplay } from '../approvals/index.js';
import { HIDDEN_MARKER, ownValue } from '../kernel/index.js';
import type { ApprovalRecord } from '../storage/port.js';
import { listConnTools, whenListed } from './conn-listing.js';
import type { Conn } from './upstream-connection.js';
import {
  META_APPROVAL,
  META_DECISION,
  describe,
  errorResult,
  reasonText,
  refusalId,
  upstreamError,
  withDecisionId,
} from './results.js';
import { activeAgentEntity, type SessionScope } from './scope.js';
import type { CatalogEntry } from './catalog.js';

/** `tools/list` and `tools/call` of one session: the call path (docs/gateway.md "Calls"). */
export interface SessionTools {
  listTools(): Promise<{ tools: Record<string, unknown>[] }>;
  callTool(
    params: Record<string, unknown>,
    id: RequestId,
    signal: AbortSignal,
    sendProgress: ((p: Record<string, unknown>) => Promise<void>) | null,
    /** Aborted when the client went away before the answer: a call still held is not made. */
    abandoned?: AbortSignal,
  ): Promise<Record<string, unknown>>;
}

export function createSessionTools(s: SessionScope): SessionTools {
  const { ctx, catalog, agent, onBehalfOf } = s;
  const { deps, logger, callTimeoutMs } = ctx;
  const outcomes = createOutcomeRecorder(s);

  async function listTools(): Promise<{ tools: Record<string, unknown>[] }> {
    const tools: Record<string, unknown>[] = [];
    // Only tools this agent could ever be allowed to call (its own roles and attributes, by partial
    // evaluation), never a quarantined one. Hiding is a courtesy: every call is decided anyway.
    const policy = deps.policies();
    const selfEntity = await activeAgentEntity(s);
    for (const conn of s.conns.values()) {
      if (!conn.caps.tools) continue;
      await listConnTools(ctx, catalog, conn);
      // The catalogue as it is now (another listing of this upstream may have landed meanwhile).
      for (const e of catalog.entriesOf(conn.cfg.name))
        if (catalog.isVisible(e) && catalog.mayCall(policy, selfEntity, e.action))
          // SECURITY: only the pinned definition reaches the client. Fields outside the hash
          // (`_meta`, `icons`, `execution`, anything new) could change without a quarantine.
          tools.push({ ...e.def, name: e.exposed });
    }
    return { tools };
  }

  /**
   * Asks the client's user (the user this agent acts for) to confirm a `@approval("self")` call,
   * showing what the approvals inbox and the CLI show of it, and records the answer as their vote.
   */
  async function confirmByElicitation(
    approvalId: string,
    requestId: RequestId,
    signal: AbortSignal,
  ): Promise<'confirmed' | 'declined' | 'unanswered'> {
    const a = await deps.approvals.get(approvalId);
    if (!a || a.status !== 'pending' || onBehalfOf === null) return 'unanswered';
    let answer: { action: string; content?: Record<string, unknown> };
    try {
      answer = await s.server().request(
        {
          method: 'elicitation/create',
          params: {
            message: confirmationText(agent, onBehalfOf, a),
            requestedSchema: {
              type: 'object',
              properties: {
                confirm: { type: 'boolean', title: 'Confirm', description: approvalDisplay(a).summary },
              },
              required: ['confirm'],
            },
          },
        },
        ElicitResultSchema,
        { relatedRequestId: requestId, signal, timeout: callTimeoutMs },
      );
    } catch (err) {
      logger.warn('confirmation by elicitation failed', { approvalId, error: describe(err) });
      return 'unanswered';
    }
    const yes = answer.action === 'accept' && answer.content?.confirm === true;
    try {
      await deps.approvals.vote(
        approvalId,
        // The credential is the agent session's: the confirmation came through its client.
        { id: onBehalfOf, roles: [], via: 'mcp-elicitation', keyId: s.caller.keyId },
        yes ? 'approve' : 'deny',
        `${yes ? 'confirmed' : answer.action} through the agent's MCP client (elicitation)`,
        null,
      );
    } catch (err) {
      logger.warn('recording the confirmation failed', { approvalId, error: describe(err) });
      return 'unanswered';
    }
    return yes ? 'confirmed' : 'declined';
  }

  /**
   * Why the tool behind a call cannot run now, or undefined when it can. A tool that cannot run is
   * decided as the deny it is (recorded so, no approval opened), not decided on its policies and
   * then not forwarded: the record must say what happened. SECURITY: approved as this node listed
   * it AND as the store holds it now: another node (or a stdio gateway on the same store) may have
   * quarantined this definition since — a rug pull it saw first. (One approved elsewhere stays
   * refused here until this node lists it again.) Asked again before a held or confirmed call is
   * decided again: a probe's held call ran on a definition quarantined during the hold.
   * AND as this session's connection to its upstream listed it (conn-listing.ts): approved as
   * another connection listed it says nothing of what this one runs.
   */
  async function refusalNow(entry: CatalogEntry | undefined, name: string): Promise<DecideOptions['refuse']> {
    if (!entry)
      return {
        code: 'unknown_action',
        message: `no upstream of this gateway offers a tool ${name.slice(0, 100)}`,
      };
    const current = catalog.byExposed(entry.exposed);
    const pinned =
      current?.status === 'approved' && current.hash === entry.hash
        ? await deps.store.getToolPin(entry.upstream.name, entry.tool)
        : null;
    if (pinned?.status !== 'approved' || pinned.hash !== entry.hash)
      return {
        code: 'tool_quarantined',
        message: `tool ${name} is quarantined: its definition is new or changed and awaits an admin's approval`,
      };
    // A connection absent (reconnecting) is judged where the call would go over it (callTool).
    const conn = s.conns.get(entry.upstream.name);
    return conn ? connRefusal(conn, entry, name) : undefined;
  }

  /**
   * Why no call of `entry` goes over `conn`, by that connection's own last listing (conn-listing.ts),
   * or undefined: it listed the tool with the definition `entry` holds. Asked before the decision
   * (one whose listing failed is refused then, so that no approval is spent on a call that cannot
   * run) and again where the call would go over it.
   */
  function connRefusal(conn: Conn, entry: CatalogEntry, name: string): DecideOptions['refuse'] {
    if (!conn.listed)
      return {
        code: 'unavailable',
        message: `upstream ${entry.upstream.name} is unavailable: its tools could not be listed on this session's connection`,
      };
    const hash = conn.listed.get(entry.tool);
    if (hash === undefined)
      return {
        code: 'unknown_action',
        message: `upstream ${entry.upstream.name} does not list a tool ${entry.tool} on this session's connection`,
      };
    if (hash !== entry.hash)
      return {
        code: 'tool_quarantined',
        message: `tool ${name} is quarantined on this session: its upstream connection lists another definition than the approved one`,
      };
    return undefined;
  }

  async function callTool(
    params: Record<string, unknown>,
    id: RequestId,
    signal: AbortSignal,
    sendProgress: ((p: Record<string, unknown>) => Promise<void>) | null,
    abandoned?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const name = typeof params.name === 'string' ? params.name : '';
    const rawArgs = params.arguments ?? {};
    if (!rawArgs || typeof rawArgs !== 'object' || Array.isArray(rawArgs)) {
      throw new McpError(ErrorCode.InvalidParams, 'tools/call arguments must be an object');
    }
    const meta = (params._meta ?? {}) as Record<string, unknown>;
    let entry = catalog.byExposed(name);
    if (!entry) {
      await listTools().catch(() => undefined);
      entry = catalog.byExposed(name);
    }
    const action = entry?.action ?? name;
    if (!ACTION_NAME.test(action)) return errorResult(`unknown tool ${name.slice(0, 100)}`, null);
    const approvalId = typeof meta[META_APPROVAL] === 'string' ? (meta[META_APPROVAL] as string) : null;

    // A connection just opened or re-opened lists its tools first (one whose listing failed lists
    // again): the call is judged by what that listing made of the tool. Nothing to wait for on the
    // hot path (a connection listed and not listing).
    const opening = entry && s.conns.get(entry.upstream.name);
    const listing = opening ? whenListed(ctx, catalog, opening) : undefined;
    if (listing) {
      await listing;
      entry = catalog.byExposed(name) ?? entry;
    }
    const cannotRun = await refusalNow(entry, name);
    let outcome: DecisionOutcome;
    try {
      outcome = await s.decide(action, rawArgs as Record<string, unknown>, approvalId, {
        toolHash: entry?.hash ?? null,
        ...(cannotRun ? { refuse: cannotRun } : {}),
        ...(entry ? { upstream: entry.upstream.name } : {}),
      });
    } catch (err) {
      // SECURITY: fail closed — no decision (bad args, wrong agent, audit down) means no call.
      return errorResult(`Mandate could not decide this call: ${describe(err)}`, refusalId(err));
    }
    let d = outcome.decision;
    /**
     * SECURITY: a quarantined, unknown or clashing tool is never forwarded, whatever the decision
     * says. The catalogue may have been re-listed while we decided: judge the tool as it stands
     * now. The definition decided on (and bound to any approval) is the one that runs. Null when it
     * still stands, else the result to answer.
     */
    const changedWhileDeciding = (decided: CatalogEntry | undefined): Record<string, unknown> | null => {
      const current = decided ? catalog.byExposed(decided.exposed) : undefined;
      if (
        decided &&
        current &&
        current.action === decided.action &&
        current.status === 'approved' &&
        current.hash === decided.hash
      )
        return null;
      return errorResult(
        !decided
          ? `unknown tool ${name}`
          : current && current.status === 'approved' && current.action === decided.action
            ? `tool ${name} changed while the call was decided; call it again`
            : `tool ${name} is quarantined: its definition is new or changed and awaits an admin's approval (mandate tools approve ${decided.action})`,
        d.decisionId,
      );
    };
    const changed = changedWhileDeciding(entry);
    if (changed) return changed;
    entry = catalog.byExposed(entry!.exposed)!;
    /**
     * The call decided again with the approval it waited for (held, or confirmed by the user), on
     * the tool as it stands now: null to go on with the new decision, else the result to answer.
     */
    const decideAgain = async (
      e: CatalogEntry,
      approved: string,
    ): Promise<Record<string, unknown> | null> => {
      const asked = d.decisionId;
      try {
        const refuse = await refusalNow(e, name);
        outcome = await s.decide(
          action,
          outcome.args,
          approved,
          { toolHash: e.hash, ...(refuse ? { refuse } : {}), upstream: e.upstream.name },
          'wait',
        );
        if (refuse) return errorResult(refuse.message, outcome.decision.decisionId);
      } catch (err) {
        return errorResult(`Mandate could not decide this call: ${describe(err)}`, asked);
      }
      d = outcome.decision;
      // The catalogue may have been re-listed during this decision too.
      return changedWhileDeciding(e);
    };
    if (d.effect === 'approval_required' && d.approval) {
      // An own key only: a tool named `valueOf` found Object.prototype's function and was never held.
      const hold = ownValue(entry.upstream.holdForApprovalMs, entry.tool) ?? ctx.holdDefault;
      if (hold > 0) {
        const waiting = abandoned ? AbortSignal.any([signal, abandoned]) : signal;
        const resolved = await deps.approvals.wait(d.approval.id, hold, waiting);
        // SECURITY: a held call cancelled, or whose client went away, during the wait is not decided
        // again (which would consume the approval) nor made, even when the approval came meanwhile.
        if (waiting.aborted)
          return errorResult(
            `the call was held for approval ${d.approval.id} and its client cancelled it or went away; the call was not made`,
            d.decisionId,
            { [META_APPROVAL]: d.approval.id },
          );
        if (resolved && resolved.status === 'approved') {
          const stopped = await decideAgain(entry, d.approval.id);
          if (stopped) return stopped;
        } else if (resolved && resolved.status !== 'pending') {
          return errorResult(
            `approval ${resolved.id} was ${resolved.status}; the call was not made`,
            d.decisionId,
          );
        }
      }
    }
    if (
      d.effect === 'approval_required' &&
      d.approval?.role === SELF_CONFIRMATION &&
      onBehalfOf !== null &&
      ctx.options.confirmByElicitation === true &&
      s.clientCaps.elicitation
    ) {
      // The policy asks the user acted for to confirm this exact call, and the client can ask them.
      const pendingId = d.approval.id;
      const confirmed = await confirmByElicitation(pendingId, id, signal);
      if (confirmed === 'declined')
        return errorResult(`the user declined this call (approval ${pendingId})`, d.decisionId);
      if (confirmed === 'confirmed') {
        const stopped = await decideAgain(entry, pendingId);
        if (stopped) return stopped;
      }
    }
    if (d.effect === 'approval_required') {
      const a = d.approval!;
      return errorResult(
        `approval required: this exact call was sent to a ${a.role} for approval (approval ${a.id}, expires ${a.expiresAt}). ` +
          `Once approved, call the tool again with the same arguments and _meta {"${META_APPROVAL}": "${a.id}"}. ` +
          `Reasons: ${reasonText(d)}`,
        d.decisionId,
        { [META_APPROVAL]: a.id },
      );
    }
    if (d.effect !== 'allow') {
      // SECURITY: deny — the upstream is never contacted.
      return errorResult(`denied by Mandate: ${reasonText(d)}`, d.decisionId);
    }
    const conn = s.conns.get(entry.upstream.name);
    if (!conn) {
      await outcomes.ran(d, action, 'error', 0, 'upstream_unavailable');
      return errorResult(`upstream ${entry.upstream.name} is unavailable`, d.decisionId);
    }
    // SECURITY: fail closed — a call goes only over a connection whose own listing showed the tool
    // with the definition decided on (and bound to any approval). One re-opened while the call was
    // decided or held lists first; one whose listing failed is not used.
    if (conn.listing) {
      await conn.listing;
      const stale = changedWhileDeciding(entry);
      if (stale) return stale;
    }
    const refused = connRefusal(conn, entry, name);
    if (refused) {
      const unlisted = refused.code === 'unavailable';
      await outcomes.ran(d, action, 'error', 0, unlisted ? 'upstream_unavailable' : 'tool_quarantined');
      return errorResult(
        unlisted ? refused.message : `${refused.message} (mandate tools approve ${entry.action})`,
        d.decisionId,
      );
    }
    // SECURITY: what was checked is what runs — the upstream gets the tool's name, the decided args
    // and Mandate's own _meta: the trace (`traceparent`/`tracestate`, as MCP's OpenTelemetry
    // convention carries it; empty unless configured) and the progress token it re-keys. Anything
    // else the client put in the request (other params, `task`, its own _meta keys) was neither
    // decided nor recorded, so it does not go on.
    const upMeta: Record<string, unknown> = { ...traceHeaders() };
    const upParams: Record<string, unknown> = { name: entry.tool, arguments: outcome.args };
    if (Object.keys(upMeta).length > 0) upParams._meta = upMeta;
    else delete upParams._meta;
    conn.inflight.push(id);
    const startedAt = deps.clock.now();
    try {
      // SECURITY: what was checked is what runs — exactly the decided args go upstream.
      const result = await conn.direct.call('tools/call', upParams, {
        signal,
        timeoutMs: callTimeoutMs,
        ...(sendProgress ? { onprogress: (p) => void sendProgress(p) } : {}),
      });
      const failed = result.isError === true;
      await outcomes.ran(
        d,
        action,
        failed ? 'error' : 'ok',
        deps.clock.now() - startedAt,
        failed ? 'tool_error' : undefined,
      );
      return withDecisionId(result, d.decisionId);
    } catch (err) {
      await outcomes.ran(d, action, 'error', deps.clock.now() - startedAt, failureType(err, signal));
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        logger.warn('upstream call timed out', {
          server: conn.cfg.name,
          tool: entry.tool,
          decisionId: d.decisionId,
        });
        return errorResult(
          `upstream ${conn.cfg.name} did not answer ${entry.tool} within ${callTimeoutMs} ms; the call was cancelled`,
          d.decisionId,
        );
      }
      throw upstreamError(err, { [META_DECISION]: d.decisionId });
    } finally {
      conn.inflight.splice(conn.inflight.indexOf(id), 1);
    }
  }

  return { listTools, callTool };
}

/** What the audit redaction puts in place of a value (`[REDACTED]`, `[REDACTED:secret]`). */
const REDACTION = /\[REDACTED(?::[A-Za-z0-9_-]+)?\]/;

function holdsRedaction(v: unknown): boolean {
  if (typeof v === 'string') return REDACTION.test(v);
  if (Array.isArray(v)) return v.some(holdsRedaction);
  if (v !== null && typeof v === 'object') return Object.values(v).some(holdsRedaction);
  return false;
}

/**
 * The elicitation prompt of a `@approval("self")` call: the approval as the approvals inbox and
 * `mandate approvals list` render it (approvalDisplay: escaped, flagged). SECURITY: the summary
 * names only the args its template names; the user confirms the whole call, so every arg is shown
 * (a probe's `body` and extra `cc` ran upstream unseen), the redacted ones said to be hidden.
 */
export function confirmationText(
  agent: string,
  user: string,
  a: Pick<ApprovalRecord, 'summary' | 'args' | 'agent' | 'user' | 'action' | 'resource'>,
): string {
  const d = approvalDisplay(a);
  const lines: string[] = [];
  if (d.hidden.length > 0)
    lines.push(`${HIDDEN_MARKER} (${d.hidden.join(', ')}) in this request: read the escaped values below`);
  lines.push(`${agent} asks you (${user}) to confirm: ${d.summary}`);
  lines.push(`  action:   ${d.action}`);
  if (d.resource) lines.push(`  resource: ${d.resource}`);
  lines.push(`  args:     ${d.args}`);
  if (holdsRedaction(a.args))
    lines.push(
      '  (values shown as [REDACTED…] are hidden from this view by the audit redaction; the call runs with the values the agent sent)',
    );
  return lines.join('\n');
}
