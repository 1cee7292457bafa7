import { createHash } from 'node:crypto';
import { MandateApiError } from '../errors.js';
import type { MandateClient } from '../client/types.js';
import type { Approval, DecisionAnswer } from '../wire.js';
import { canonicalJson } from './canonical.js';
import { hasDuplicateKeys } from './json.js';
import { decodePending, encodePending, type PendingCall } from './pending.js';
import { pendingMessage, refusalMessage } from './messages.js';

/**
 * Keeps pending approvals by tool call, so that a run restored in another process (a framework's
 * serialised state, a checkpointer) picks up the same approval instead of asking a human again.
 * The default keeps them in memory; give one backed by your database to survive restarts.
 */
export interface PendingStore {
  get(key: string): Promise<string | undefined> | string | undefined;
  set(key: string, token: string): Promise<void> | void;
}

/** Options shared by `guardTool`, `createGuard` and every framework adapter. */
export interface GuardOptions {
  client: MandateClient;
  /** The agent the tools run as (its API key is the client's). */
  agent: string;
  /** The user the agent acts for, if any: their grant and their own policies apply too. */
  onBehalfOf?: string | null;
  sessionId?: string;
  traceId?: string;
  approval?: {
    /**
     * How long a call that needs approval waits for the approver (long-poll, cancellable through
     * the call's AbortSignal) before it answers "pending". Default 0: answer "pending" at once.
     */
    waitMs?: number;
    /** Where pending approvals are kept by tool call id; default in memory. */
    store?: PendingStore;
  };
  /**
   * Reporting what ran (`POST /v1/decisions/:id/outcome`): `background` (default) reports after the
   * body returns and `client.close()` waits for it; `await` reports before the tool returns; `off`.
   */
  outcome?: 'background' | 'await' | 'off';
  /** Called with every pending result: persist `token` to resume the call later. */
  onPending?: (pending: PendingResult) => void | Promise<void>;
}

/** Per-call context: cancellation, the framework's tool call id and the model's raw args. */
export interface CallContext {
  signal?: AbortSignal;
  /** The framework's id of this tool call: binds pre-checks and pending approvals to it. */
  toolCallId?: string;
  /** Why the agent makes this call, for the approver and the audit trail. */
  intent?: string;
  /**
   * The model's args as JSON text, when the framework has it: decided from this text (the server's
   * strict parser refuses duplicate keys), and `args` is ignored.
   */
  argsJson?: string;
}

/** A pre-check's context: the tool call it answers, and whether a human is asked before its body. */
export interface PrecheckContext extends CallContext {
  toolCallId: string;
  /**
   * The framework asks a human before the body runs (the tool's own `needsApproval` said so): the
   * answer is not kept for the body, which is decided again when it runs.
   */
  humanWaits?: boolean;
}

/** What the body receives next to the decided args. */
export interface BodyInfo {
  decision: DecisionAnswer;
  signal?: AbortSignal;
  /**
   * The body returns a failure rather than throwing it (an MCP `isError` result): the outcome is
   * recorded as `error` with this code-like type, not as `ok`.
   */
  failed(errorType: string): void;
}

export interface OkResult<R> {
  status: 'ok';
  value: R;
  decisionId: string;
  /** The args the body ran with: the server's canonical copy of what was decided. */
  args: Record<string, unknown>;
  decision: DecisionAnswer;
}

export interface DeniedResult {
  status: 'denied';
  decisionId: string;
  /** A readable refusal for the model: what was refused, why, and that nothing ran. */
  message: string;
  decision: DecisionAnswer;
}

export interface PendingResult {
  status: 'pending';
  decisionId: string;
  approvalId: string;
  /** Give it to `resume` later, in this process or another: the re-check is the server's. */
  token: string;
  message: string;
  decision: DecisionAnswer;
}

export type GuardResult<R> = OkResult<R> | DeniedResult | PendingResult;

export type ToolBody<A, R> = (args: A, info: BodyInfo) => R | Promise<R>;

/** The enforcing check, for adapters and apps that hold the tool body themselves. */
export interface Guard {
  readonly options: GuardOptions;
  /**
   * Decides one call; on `allow` runs `body` with exactly the decided args and reports the outcome;
   * on `deny` or an approval that is not (yet) given, never runs it.
   */
  call<R>(
    action: string,
    args: Record<string, unknown> | undefined,
    body: ToolBody<Record<string, unknown>, R>,
    ctx?: CallContext,
  ): Promise<GuardResult<R>>;
  /**
   * Decides a call ahead of its body (a framework's `needsApproval` or input guardrail) and keeps
   * the answer for the body of the same tool call id and args. Returns the decision.
   */
  precheck(action: string, args: Record<string, unknown>, ctx: PrecheckContext): Promise<DecisionAnswer>;
  /** Resumes a pending call from its token: asks the server again with the approval id, runs `body` on allow. */
  resume<R>(
    token: string,
    action: string,
    body: ToolBody<Record<string, unknown>, R>,
    ctx?: Omit<CallContext, 'argsJson'>,
  ): Promise<GuardResult<R>>;
}

/** How long a pre-checked allow or deny may wait for its body: the same step of the same run. */
const PRECHECK_TTL_MS = 10_000;
const MAX_REMEMBERED = 10_000;

/** A call's context inside the guard: plus the canonical text of the args the framework gave. */
type Ctx = CallContext & { argsKey?: string };

interface Prechecked {
  action: string;
  args: string;
  decision: DecisionAnswer;
  at: number;
}

/** An in-memory {@link PendingStore} (bounded; oldest entries go first). */
export function memoryPendingStore(max = MAX_REMEMBERED): PendingStore {
  const m = new Map<string, string>();
  return {
    get: (k) => m.get(k),
    set(k, v) {
      m.delete(k);
      m.set(k, v);
      if (m.size > max) m.delete(m.keys().next().value!);
    },
  };
}

export function createGuard(options: GuardOptions): Guard {
  const { client } = options;
  const onBehalfOf = options.onBehalfOf ?? null;
  const waitMs = Math.max(0, options.approval?.waitMs ?? 0);
  const pendingStore = options.approval?.store ?? memoryPendingStore();
  const outcome = options.outcome ?? 'background';
  const prechecked = new Map<string, Prechecked>();
  // One key per tool call id AND args: a call that reuses an id with other args cannot evict the first.
  // The user acted for is in it too: guards for two users sharing one store keep their own tokens.
  const pendingKey = (action: string, toolCallId: string, args: string) =>
    `${options.agent}\0${onBehalfOf ?? ''}\0${action}\0${toolCallId}\0${createHash('sha256').update(args).digest('hex')}`;

  const argsText = (args: Record<string, unknown> | undefined, ctx: Ctx | undefined): string =>
    canonicalJson(ctx?.argsJson !== undefined ? parseArgsJson(ctx.argsJson) : (args ?? {}));

  const decide = (
    action: string,
    args: Record<string, unknown> | undefined,
    ctx: Ctx | undefined,
    approvalId?: string,
  ) =>
    client.decide(
      {
        agent: options.agent,
        onBehalfOf,
        action,
        ...(ctx?.argsJson !== undefined ? { argsJson: ctx.argsJson } : { args: args ?? {} }),
        ...(ctx?.intent ? { intent: ctx.intent } : {}),
        ...(approvalId ? { approvalId } : {}),
        ...(options.sessionId ? { sessionId: options.sessionId } : {}),
        ...(options.traceId ? { traceId: options.traceId } : {}),
      },
      ctx?.signal ? { signal: ctx.signal } : undefined,
    );

  async function runBody<R>(
    decision: DecisionAnswer,
    body: ToolBody<Record<string, unknown>, R>,
    ctx: Ctx | undefined,
  ): Promise<OkResult<R>> {
    // SECURITY: what was checked is what runs — the body gets the server's copy of the decided args.
    const args = decision.args;
    const started = performance.now();
    let value: R;
    let failure: { code: string } | undefined;
    const failed = (errorType: string) => void (failure = { code: errorType });
    try {
      value = await body(args, { decision, failed, ...(ctx?.signal ? { signal: ctx.signal } : {}) });
    } catch (err) {
      await report(decision, 'error', performance.now() - started, err);
      throw err;
    }
    await report(decision, failure ? 'error' : 'ok', performance.now() - started, failure);
    return { status: 'ok', value, decisionId: decision.decisionId, args, decision };
  }

  async function report(
    decision: DecisionAnswer,
    status: 'ok' | 'error',
    ms: number,
    err?: unknown,
  ): Promise<void> {
    if (outcome === 'off') return;
    const errorType = status === 'error' ? errorTypeOf(err) : undefined;
    const task = client
      .reportOutcome(decision.decisionId, {
        status,
        durationMs: Math.round(ms * 1000) / 1000,
        ...(errorType ? { errorType } : {}),
      })
      // The outcome is a record of what ran; failing to record it never fails the tool call.
      .catch(() => undefined);
    if (outcome === 'await') await task;
    else client.track(task);
  }

  async function pending<R>(
    action: string,
    decision: DecisionAnswer,
    approvalId: string,
    args: Record<string, unknown>,
    ctx: Ctx | undefined,
  ): Promise<GuardResult<R>> {
    const call: PendingCall = {
      v: 1,
      action,
      agent: options.agent,
      onBehalfOf,
      args,
      approvalId,
      decisionId: decision.decisionId,
      ...(ctx?.toolCallId ? { toolCallId: ctx.toolCallId } : {}),
    };
    const token = encodePending(call);
    if (ctx?.toolCallId && ctx.argsKey)
      await pendingStore.set(pendingKey(action, ctx.toolCallId, ctx.argsKey), token);
    const result: PendingResult = {
      status: 'pending',
      decisionId: decision.decisionId,
      approvalId,
      token,
      message: pendingMessage(action, decision),
      decision,
    };
    await options.onPending?.(result);
    return result;
  }

  /** A call whose approval `approvalId` was asked for: wait (bounded) or answer pending; on approve, ask again with it. */
  async function afterApproval<R>(
    action: string,
    asked: DecisionAnswer,
    approvalId: string,
    known: Approval['status'] | null,
    body: ToolBody<Record<string, unknown>, R>,
    ctx: Ctx | undefined,
  ): Promise<GuardResult<R>> {
    let status = known;
    let decision = asked;
    if (waitMs > 0 || status === null) {
      const a =
        waitMs > 0
          ? await client.approvals.wait(approvalId, {
              timeoutMs: waitMs,
              ...(ctx?.signal ? { signal: ctx.signal } : {}),
            })
          : await client.approvals.get(approvalId, ctx?.signal ? { signal: ctx.signal } : undefined);
      status = a.status;
      decision = {
        ...asked,
        approval: { id: a.id, status: a.status, role: a.role, quorum: a.quorum, expiresAt: a.expiresAt },
      };
    }
    // The token stays in the pending store in every state: one tool call, one approval — a replayed
    // call is told the approval was used (or denied), and no second human is asked.
    if (status === 'pending') return pending(action, decision, approvalId, asked.args, ctx);
    // SECURITY: the approval is the server's to check and consume: the same call is submitted again
    // with its id, and only that answer can allow the body (bound to exactly these args). A denied,
    // expired or used approval is submitted too, so the refusal is the server's and is recorded.
    const again = await decide(action, asked.args, undefined, approvalId);
    return settle(action, again, body, ctx, true);
  }

  async function settle<R>(
    action: string,
    decision: DecisionAnswer,
    body: ToolBody<Record<string, unknown>, R>,
    ctx: Ctx | undefined,
    withApproval: boolean,
  ): Promise<GuardResult<R>> {
    switch (decision.effect) {
      case 'allow':
        return runBody(decision, body, ctx);
      case 'deny':
        return {
          status: 'denied',
          decisionId: decision.decisionId,
          message: refusalMessage(action, decision),
          decision,
        };
      case 'approval_required': {
        const id = decision.approval?.id;
        // SECURITY: fail closed — an approval_required without an approval to wait for runs nothing.
        if (!id || withApproval) {
          return {
            status: 'denied',
            decisionId: decision.decisionId,
            message: refusalMessage(action, decision),
            decision,
          };
        }
        return afterApproval(action, decision, id, decision.approval?.status ?? 'pending', body, ctx);
      }
      default:
        throw new MandateApiError('invalid_response', `unknown effect ${String(decision.effect)}`);
    }
  }

  function takePrechecked(
    action: string,
    args: string,
    toolCallId: string | undefined,
  ): DecisionAnswer | null {
    if (!toolCallId) return null;
    const p = prechecked.get(toolCallId);
    if (!p) return null;
    prechecked.delete(toolCallId);
    // SECURITY: a pre-check answers only the same action with the same args, and only briefly.
    if (p.action !== action || p.args !== args || performance.now() - p.at > PRECHECK_TTL_MS) return null;
    return p.decision;
  }

  async function takePending(
    action: string,
    args: string,
    toolCallId: string | undefined,
  ): Promise<PendingCall | null> {
    if (!toolCallId) return null;
    const token = await pendingStore.get(pendingKey(action, toolCallId, args));
    if (!token) return null;
    let call: PendingCall;
    try {
      call = decodePending(token);
    } catch {
      return null;
    }
    // SECURITY: an approval found by tool call id is used only for the same call; the server
    // checks the binding again, this only avoids asking with an approval meant for another call.
    if (
      call.action !== action ||
      call.agent !== options.agent ||
      call.onBehalfOf !== onBehalfOf ||
      canonicalJson(call.args) !== args
    ) {
      return null;
    }
    return call;
  }

  const guard: Guard = {
    options,
    async call(action, args, body, callCtx) {
      // SECURITY: the model's text is checked here too — a pre-check may have been decided on args
      // the framework already parsed (and collapsed): a duplicated key never reaches the body. The
      // text goes to the server as it is, never to a pre-check or a pending approval: its strict
      // parser refuses it and the attempt is on the record (request.refused).
      if (callCtx?.argsJson !== undefined && refusedText(callCtx.argsJson)) {
        await decide(action, args, callCtx);
        throw new MandateApiError('duplicate_key', 'the tool call arguments name a key twice; nothing ran');
      }
      const text = argsText(args, callCtx);
      const ctx: Ctx = { ...callCtx, argsKey: text };
      const pre = takePrechecked(action, text, ctx?.toolCallId);
      if (pre) return settle(action, pre, body, ctx, false);
      const waiting = await takePending(action, text, ctx?.toolCallId);
      if (waiting) return afterApproval(action, askedFor(waiting), waiting.approvalId, null, body, ctx);
      return settle(action, await decide(action, args, ctx), body, ctx, false);
    },
    async precheck(action, args, callCtx) {
      const text = argsText(args, callCtx);
      const ctx: Ctx & PrecheckContext = { ...callCtx, argsKey: text };
      // One decision per tool call: a framework may ask twice (needsApproval, then a guardrail).
      const kept = prechecked.get(ctx.toolCallId);
      // SECURITY: an answer given before a human's wait is not the answer after it (a grant revoked,
      // a hold put on meanwhile): when the framework asks a human first, nothing is kept for the body.
      if (ctx.humanWaits) prechecked.delete(ctx.toolCallId);
      if (
        kept &&
        kept.action === action &&
        kept.args === text &&
        performance.now() - kept.at <= PRECHECK_TTL_MS
      ) {
        return kept.decision;
      }
      // Already asked for this very call: no second approval request.
      const waiting = await takePending(action, text, ctx.toolCallId);
      if (waiting) return askedFor(waiting);
      const decision = await decide(action, args, ctx);
      if (decision.effect === 'approval_required' && decision.approval) {
        await pending(action, decision, decision.approval.id, decision.args, ctx);
      } else if (!ctx.humanWaits) {
        prechecked.set(ctx.toolCallId, { action, args: text, decision, at: performance.now() });
        if (prechecked.size > MAX_REMEMBERED) prechecked.delete(prechecked.keys().next().value!);
      }
      return decision;
    },
    async resume(token, action, body, ctx) {
      const call = decodePending(token);
      // SECURITY: a token resumes only its own action for this guard's agent and user.
      if (call.action !== action || call.agent !== options.agent || call.onBehalfOf !== onBehalfOf) {
        throw new MandateApiError(
          'bad_request',
          `this token is for ${call.action} by ${call.agent}, not for this tool`,
        );
      }
      const context: CallContext = {
        ...ctx,
        ...(call.toolCallId && !ctx?.toolCallId ? { toolCallId: call.toolCallId } : {}),
      };
      return afterApproval(action, askedFor(call), call.approvalId, null, body, context);
    },
  };
  return guard;
}

/**
 * Whether the model's text is one the server refuses: a key named twice (valid JSON otherwise).
 * Text that is not JSON at all is refused right here (`invalid_json`): it cannot be sent as args.
 */
function refusedText(argsJson: string): boolean {
  parseArgsJson(argsJson);
  return hasDuplicateKeys(argsJson);
}

/** The model's args text parsed, or `invalid_json` (a tool that did not run, not one that failed). */
function parseArgsJson(argsJson: string): unknown {
  try {
    return JSON.parse(argsJson);
  } catch (cause) {
    throw new MandateApiError('invalid_json', 'the tool call arguments are not valid JSON; nothing ran', {
      cause,
    });
  }
}

/** The approval_required decision a pending call came from, as far as its token tells it. */
function askedFor(call: PendingCall): DecisionAnswer {
  return {
    decisionId: call.decisionId,
    effect: 'approval_required',
    reasons: [],
    errors: [],
    policyVersion: null,
    args: call.args,
    approval: { id: call.approvalId, status: 'pending', role: '', quorum: 1, expiresAt: '' },
  };
}

/** A short, code-like name of a failure for the audit trail: an error's `code` or class name, never its message. */
function errorTypeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: unknown } | null;
  const name = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  const clean = name.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 100);
  return clean || undefined;
}
