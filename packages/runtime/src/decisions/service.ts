/**
 * The decision path, the same for every door (HTTP, MCP, AuthZEN, the embedded SDK): the caller
 * checked against its credential, the call prepared (call.ts), the policies asked (evaluate.ts),
 * the decision recorded (record.ts) — the answer leaves only after its audit event is committed.
 */
import type { Decision, DecisionRequest, Effect } from '@mandate/protocol';
import { MandateError, isMandateError, newId, recordedReason } from '../kernel/index.js';
import { inSpan } from '../telemetry/index.js';
import { noFindings, prepareCall } from './call.js';
import { evaluateCall } from './evaluate.js';
import { decisionEvent } from './record.js';
import type {
  Caller,
  DecideOptions,
  DecisionOutcome,
  DecisionService,
  DecisionServiceDeps,
} from './types.js';

export type {
  CallContext,
  Caller,
  DecideOptions,
  DecisionOutcome,
  DecisionSeen,
  DecisionService,
  DecisionServiceDeps,
} from './types.js';
export { CONTEXT_KEYS } from './types.js';
export { agentEntity, resourceEntity, userEntity } from './entities.js';

/** Refusals of the request itself, before any decision: recorded as `request.refused`, answered 400/403. */
const REFUSED_CODES: ReadonlySet<string> = new Set([
  'forbidden',
  'agent_mismatch',
  'bad_request',
  'invalid_args',
  'invalid_number',
]);

export function createDecisionService(deps: DecisionServiceDeps): DecisionService {
  const { clock, logger } = deps;

  // One span per decision (a no-op unless OpenTelemetry is configured), children for the store,
  // the policy engine and the audit commit.
  const service: DecisionService = {
    decide: (req, caller, options) =>
      inSpan(
        'mandate.decision',
        { 'mandate.agent': req.agent, 'mandate.action': req.action },
        async (span) => {
          const out = await decideInSpan(req, caller, options);
          span.setAttributes({
            'mandate.effect': out.decision.effect,
            'mandate.decision_id': out.decision.decisionId,
            'mandate.policy_version': out.decision.policyVersion ?? '',
          });
          return out;
        },
      ),
  };
  // Every door (HTTP, MCP, embedded SDK) gets the id under which a refused request was recorded.
  const refusing: DecisionService = {
    async decide(req, caller, options) {
      try {
        return await service.decide(req, caller, options);
      } catch (err) {
        if (!deps.refusals || !isMandateError(err) || !REFUSED_CODES.has(err.code)) throw err;
        const decisionId = newId('dec', clock.now());
        // The record's agent is who asked: an agent key naming another agent is filed under its
        // own agent (what a SIEM filters on), the agent it named kept beside it.
        const own = caller.role === 'agent' && caller.subject !== null ? caller.subject : req.agent;
        await deps.refusals.refused({
          code: err.code,
          reason: recordedReason(err),
          route: 'decision',
          caller,
          decisionId,
          agent: own,
          ...(own !== req.agent ? { claimedAgent: req.agent } : {}),
          action: req.action,
        });
        throw new MandateError(err.code, err.message, {
          details: err.details,
          decisionId,
          cause: err,
          ...(err.recorded !== undefined ? { recorded: err.recorded } : {}),
        });
      }
    },
  };
  return refusing;

  async function decideInSpan(
    req: DecisionRequest,
    caller: Caller,
    options: DecideOptions = {},
  ): Promise<DecisionOutcome> {
    assertMayDecide(req, caller);
    if (options.checkOnly) options = { ...options, dryRun: true };
    // Over its rate limit, a caller is refused before anything is looked up or evaluated.
    deps.rateLimit?.(caller, req.agent);
    // SECURITY: a node cut off from the store (a partition, a paused process) kept deciding on the
    // set it had while another node activated a stricter one, for as long as the cut lasted; the
    // grants, keys and entities it reads are fresh, its policy set must be too, within a bound.
    // The epoch read first brings the store's active version: another node's activation is known
    // before policyFresh asks, and waited for (a store that does not answer fails the call closed).
    await deps.storeCurrent?.();
    const fresh = deps.policyFresh?.() ?? true;
    if (fresh !== true && !(await fresh))
      throw new MandateError(
        'store_unavailable',
        'this node could not confirm which policy set is active (its checks of the store went unanswered): it decides nothing until it can',
      );
    const started = performance.now();
    const call = await prepareCall(deps, req, options);
    const { decisionId, policy } = call;
    const found = noFindings();
    let effect: Effect;
    try {
      if (options.refuse) {
        effect = 'deny';
        found.errors.push({ ...options.refuse });
      } else effect = await evaluateCall(deps, call, found);
    } catch (err) {
      // SECURITY: fail closed — any fault on the path (store down, engine failure) is a deny with a stable code.
      effect = 'deny';
      if (isMandateError(err) && err.code !== 'internal') {
        found.errors.push({ code: err.code, message: err.message });
      } else {
        logger.error('decision path failed', { decisionId, error: (err as Error).message });
        found.errors.push({ code: 'internal', message: 'internal error while deciding; denied' });
      }
    }

    const usage = found.reservation;
    // Anything but allow charges nothing: the reservation goes back before the answer.
    if (effect !== 'allow') await usage?.settle(effect);
    const latencyMs = performance.now() - started;
    const { resourceRef } = call;
    const decision: Decision = {
      decisionId,
      effect,
      reasons: found.reasons,
      errors: found.errors,
      policyVersion: policy?.version ?? null,
      resource: resourceRef ? { type: resourceRef.type, id: resourceRef.id } : null,
    };
    if (found.approval) decision.approval = found.approval;
    if (found.grant) decision.grantId = found.grant.id;

    // A check of whether a recorded answer still holds: its outcome is never an answer (types.ts).
    if (options.checkOnly)
      return found.wouldRequest
        ? { decision, args: call.args, wouldRequest: found.wouldRequest }
        : { decision, args: call.args };
    // SECURITY: audit before act — the answer leaves only after this event is durably committed.
    try {
      // The personal fields the deployment keeps go beside the chain, never into it (docs/audit.md "Erasure").
      const personal = req.onBehalfOf
        ? ((await deps.personal?.keep({
            ref: decisionId,
            userId: req.onBehalfOf,
            args: call.redaction.args(),
          })) ?? null)
        : null;
      await inSpan('mandate.audit.commit', {}, () =>
        deps.audit(decisionEvent(deps, call, found, { decision, caller, latencyMs, personal })),
      );
    } catch (err) {
      // Not recorded, so not allowed: the call's charge goes back.
      await usage?.settle('deny');
      logger.error('audit append failed; answering with an error, never allow', {
        decisionId,
        error: (err as Error).message,
      });
      if (isMandateError(err) && err.code === 'overloaded') throw err;
      throw new MandateError(
        'audit_unavailable',
        'the decision could not be recorded; nothing is allowed without a record',
        {
          cause: err,
        },
      );
    }
    deps.observe?.(effect, performance.now() - started);
    const seen = found.seen;
    if (seen && policy && deps.shadow) {
      // Off the answer's path: the shadow only enqueues, and nothing it does reaches the answer.
      try {
        deps.shadow({ decisionId, action: req.action, policyVersion: policy.version, ...seen });
      } catch (err) {
        logger.warn('shadow evaluation not queued', { decisionId, error: (err as Error).message });
      }
    }
    const args = call.args;
    return found.wouldRequest ? { decision, args, wouldRequest: found.wouldRequest } : { decision, args };
  }
}

/** The caller may ask for this decision: who it is comes from its credential, never from the body. */
function assertMayDecide(req: DecisionRequest, caller: Caller): void {
  // SECURITY: identity comes from the credential — an agent key decides only for its own agent.
  if (caller.role === 'agent') {
    if (caller.subject !== req.agent) {
      throw new MandateError(
        'agent_mismatch',
        `this credential belongs to agent ${caller.subject}, not ${req.agent}`,
      );
    }
  } else if (caller.role !== 'admin') {
    throw new MandateError('forbidden', `role ${caller.role} cannot ask for decisions`);
  }
  // SECURITY: a credential that names the user an agent acts for decides only for that user.
  if (caller.onBehalfOf !== undefined && req.onBehalfOf !== caller.onBehalfOf) {
    throw new MandateError(
      'forbidden',
      `this credential acts for user ${caller.onBehalfOf}, not ${req.onBehalfOf ?? 'no user'}`,
    );
  }
}
