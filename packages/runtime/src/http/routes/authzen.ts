import { z } from 'zod';
import { ACTION_NAME, JsonObjectSchema, type Decision, type ErrorCode } from '@mandate/protocol';
import { MandateError, isMandateError, recordedReason } from '../../kernel/index.js';
import type { Caller } from '../../decisions/index.js';
import { HTTP_STATUS } from '../errors.js';
import { isRecordedRefusal } from '../refusal-codes.js';
import { parseWith, type Ctx, type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';

/**
 * The AuthZEN Authorization API 1.0 door (docs/authzen.md): the standard PEP→PDP shape that API
 * and MCP gateways speak, mapped onto the one decision path — same credentials, same audit record
 * committed before the answer. Unknown fields are ignored, as the spec requires.
 */

const id = z.string().min(1).max(256);
const Entity = z.object({
  type: z.string().min(1).max(128),
  id,
  properties: JsonObjectSchema.optional(),
});
const Action = z.object({
  name: z.string().min(1).max(200),
  properties: JsonObjectSchema.optional(),
});
const Context = JsonObjectSchema;

const EvaluationSchema = z.object({
  subject: Entity,
  action: Action,
  resource: Entity,
  context: Context.optional(),
});

const Partial = z.object({
  subject: Entity.optional(),
  action: Action.optional(),
  resource: Entity.optional(),
  context: Context.optional(),
});
const EvaluationsSchema = Partial.extend({
  // Each entry is read on its own (`entryOf`): a malformed one is that entry's refusal, not the batch's.
  evaluations: z.array(z.unknown()).max(100).optional(),
  options: z
    .object({
      evaluations_semantic: z
        .enum(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'])
        .optional(),
    })
    .optional(),
});

/** The Mandate-specific keys read from `context`; everything else in it is ignored. */
const MandateContext = z.object({
  agent: id.optional(),
  args: JsonObjectSchema.optional(),
  intent: z.string().max(2000).optional(),
  approvalId: id.optional(),
  sessionId: id.optional(),
});

type Evaluation = z.infer<typeof EvaluationSchema>;
interface Answer {
  decision: boolean;
  context: Record<string, unknown>;
}

/** `X-Request-ID` of the caller, echoed on the answer (printable, bounded; else Mandate's own id stays). */
function echoRequestId(ctx: Ctx): void {
  const h = ctx.req.headers['x-request-id'];
  if (typeof h === 'string' && /^[\x21-\x7e]{1,200}$/.test(h)) ctx.res.setHeader('x-request-id', h);
}

/**
 * `action.name` is the Mandate action (`payments.refund`); a bare verb takes the resource type as
 * its namespace (`read` on `{"type":"record"}` → `record.read`), so the verbs of AuthZEN's own
 * scenarios map without configuration.
 */
function actionName(e: Evaluation): string {
  const name = e.action.name.includes('.')
    ? e.action.name
    : `${e.resource.type.toLowerCase()}.${e.action.name}`;
  if (!ACTION_NAME.test(name))
    throw new MandateError(
      'bad_request',
      `action.name: ${JSON.stringify(e.action.name)} is not a Mandate action name`,
    );
  return name;
}

/** `subject` is the user the agent acts for; `{"type":"agent"}` is an agent acting for nobody. */
function principals(e: Evaluation, mctx: z.infer<typeof MandateContext>, caller: Caller) {
  const agentFromCaller = caller.role === 'agent' ? (caller.subject ?? undefined) : undefined;
  if (e.subject.type === 'user') {
    const agent = mctx.agent ?? agentFromCaller;
    if (!agent)
      throw new MandateError('bad_request', 'context.agent: required to name the agent acting for the user');
    return { agent, onBehalfOf: e.subject.id };
  }
  if (e.subject.type === 'agent') {
    if (mctx.agent !== undefined && mctx.agent !== e.subject.id)
      throw new MandateError('bad_request', 'context.agent: differs from the agent subject');
    return { agent: e.subject.id, onBehalfOf: null };
  }
  throw new MandateError(
    'bad_request',
    `subject.type: ${JSON.stringify(e.subject.type)} is neither user nor agent`,
  );
}

function answerOf(decision: Decision): Answer {
  const context: Record<string, unknown> = {
    decision_id: decision.decisionId,
    effect: decision.effect,
    policy_version: decision.policyVersion,
    reasons: decision.reasons.map((r) => ({
      policy_id: r.policyId,
      ...(r.reason ? { reason: r.reason } : {}),
    })),
  };
  if (decision.errors.length > 0)
    context.errors = decision.errors.map((e) => ({ code: e.code, message: e.message }));
  if (decision.approval) {
    // An AuthZEN caller can still lead the person to the approval: retry with context.approvalId.
    context.approval = {
      id: decision.approval.id,
      status: decision.approval.status,
      role: decision.approval.role,
      quorum: decision.approval.quorum,
      expires_at: decision.approval.expiresAt,
    };
  }
  return { decision: decision.effect === 'allow', context };
}

/**
 * An evaluation of a batch that could not be decided: `decision: false` with the error (and the
 * decision id when the decision path recorded it), the batch goes on.
 */
function errorAnswer(err: unknown): Answer {
  const code: ErrorCode = isMandateError(err) ? err.code : 'internal';
  const message = isMandateError(err) ? err.message : 'internal error';
  const decisionId = isMandateError(err) ? err.decisionId : undefined;
  return {
    decision: false,
    context: {
      ...(decisionId !== undefined ? { decision_id: decisionId } : {}),
      error: { status: HTTP_STATUS[code], code, message },
    },
  };
}

const BATCH_ROUTE = 'POST /access/v1/evaluations';

/**
 * One entry of a batch over the request's defaults: an entry that is not well-formed (a `null`, a
 * subject without id, a context that is not an object) is refused as the same input sent alone to
 * `POST /access/v1/evaluation` is, with the same `bad_request` and message.
 */
function entryOf(item: unknown, defaults: z.infer<typeof Partial>): Evaluation {
  const own = parseWith(Partial, item);
  return parseWith(EvaluationSchema, {
    subject: own.subject ?? defaults.subject,
    action: own.action ?? defaults.action,
    resource: own.resource ?? defaults.resource,
    context: own.context ?? defaults.context,
  });
}

/**
 * The public origin of the discovery document: `dashboard.publicOrigin` when configured (a proxy in
 * front terminates TLS or serves another name), else the host the caller reached over plain http.
 * SECURITY: never `X-Forwarded-*` — any client can send those (as ownOrigin in session-cookie.ts).
 */
function discoveryBase(ctx: Ctx, publicOrigin: string | undefined): string {
  if (publicOrigin) return publicOrigin;
  // A PEP checks that the document names the PDP it asked; a Host header that is not a plain
  // host[:port] is not reflected.
  const host = ctx.req.headers.host;
  return `http://${host && /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(host) ? host : '127.0.0.1'}`;
}

/** `POST /access/v1/evaluation`, `POST /access/v1/evaluations`, `GET /.well-known/authzen-configuration`. */
export function registerAuthzenRoutes(route: RouteAdder, deps: HttpDeps): void {
  async function evaluate(e: Evaluation, caller: Caller): Promise<Answer> {
    const mctx = parseWith(MandateContext, e.context ?? {});
    const { agent, onBehalfOf } = principals(e, mctx, caller);
    const { decision } = await deps.decisions.decide(
      {
        agent,
        onBehalfOf,
        action: actionName(e),
        args: mctx.args ?? {},
        intent: mctx.intent ?? null,
        approvalId: mctx.approvalId ?? null,
        sessionId: mctx.sessionId ?? null,
        traceId: null,
      },
      caller,
      { expectResource: { type: e.resource.type, id: e.resource.id } },
    );
    return answerOf(decision);
  }

  const authorize = async (ctx: Ctx) => {
    echoRequestId(ctx);
    // PERF: as POST /v1/decisions, a known key's body is in before the caller is looked up (ADR 0032).
    await ctx.received();
    const caller = await ctx.caller();
    if (caller.role !== 'agent' && caller.role !== 'admin')
      throw new MandateError('forbidden', `role ${caller.role} cannot ask for decisions`);
    return caller;
  };

  route('POST', '/access/v1/evaluation', async (ctx) => {
    const caller = await authorize(ctx);
    return evaluate(parseWith(EvaluationSchema, await ctx.body()), caller);
  });

  route('POST', '/access/v1/evaluations', async (ctx) => {
    const caller = await authorize(ctx);
    const body = parseWith(EvaluationsSchema, await ctx.body());
    const { evaluations, options, ...defaults } = body;
    // Without `evaluations` the request is one evaluation, answered in the single shape.
    if (!evaluations || evaluations.length === 0)
      return evaluate(parseWith(EvaluationSchema, defaults), caller);
    const semantic = options?.evaluations_semantic ?? 'execute_all';
    const out: Answer[] = [];
    // One after another: decisions have effects (approvals requested, single-use approvals consumed).
    for (const [i, item] of evaluations.entries()) {
      // SECURITY: revocation is immediate — each entry is decided under the credential as it stands
      // then, not as it stood when the batch began: a key revoked while a 100-entry batch ran went
      // on getting allows for ~80 later entries (a probe). A credential that no longer holds (a
      // revoked key, an expired JWT, a logged-out session) fails the whole request with 401, as the
      // approval long poll does; the entries decided before it stand on the record.
      if (i > 0) await ctx.reauthenticate();
      let answer: Answer;
      try {
        answer = await evaluate(entryOf(item, defaults), caller);
      } catch (err) {
        // Capacity and store faults fail the whole request (503): never a partial batch that looks decided.
        if (isMandateError(err) && HTTP_STATUS[err.code] >= 500) throw err;
        // SECURITY: an entry refused before the decision path (a bad subject, action or resource)
        // is a refused attempt like the same evaluation sent alone: on the record (ADR 0018). The
        // decision path records its own refusals (they carry a decision id).
        if (isMandateError(err) && err.decisionId === undefined && isRecordedRefusal(err.code, BATCH_ROUTE))
          await deps.refusals?.refused({
            code: err.code,
            reason: recordedReason(err),
            route: BATCH_ROUTE,
            caller,
            requestId: ctx.requestId,
          });
        answer = errorAnswer(err);
      }
      out.push(answer);
      if (semantic === 'deny_on_first_deny' && !answer.decision) break;
      if (semantic === 'permit_on_first_permit' && answer.decision) break;
    }
    return { evaluations: out };
  });

  route('GET', '/.well-known/authzen-configuration', async (ctx) => {
    echoRequestId(ctx);
    const base = discoveryBase(ctx, deps.publicOrigin);
    return {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    };
  });
}
