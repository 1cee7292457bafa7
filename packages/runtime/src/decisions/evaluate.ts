/**
 * The policy phase of a decision: who the parties are, the user's delegation, the policies for the
 * agent and for the user it acts for, and (when a policy asks for one) the approval. Every way to
 * an allow is here; every early return is a deny with its error recorded in the findings.
 */
import type { DecisionReason, Effect, Resource } from '@mandate/protocol';
import { inSpan, startSpan } from '../telemetry/index.js';
import type { CompiledPolicySet, PolicyEntity } from '../policy/port.js';
import { schemaDeclares } from '../tools/index.js';
import { agentEntity, addFolders, resourceEntity, userEntity } from './entities.js';
import { combineEvaluations, DEFAULT_DENY_ID, evaluateInputs, type PolicyInputs } from './policy-inputs.js';
import { oneApprovalFor, settleApproval } from './approval-step.js';
import type { Findings, Parties, PreparedCall, PrincipalEvaluation } from './call.js';
import type { DecisionServiceDeps } from './types.js';
import { entityTypeFault, unloadedParentsFault } from './typed-entities.js';
import { scrubEngineError } from './error-text.js';

/** Decides the prepared call: the effect, with what led to it written into `found`. */
export async function evaluateCall(
  deps: DecisionServiceDeps,
  call: PreparedCall,
  found: Findings,
): Promise<Effect> {
  const { req, policy, tool, resourceRef } = call;
  if (!policy) {
    found.errors.push({ code: 'no_active_policy', message: 'no policy set is active' });
    return 'deny';
  }
  if (!tool) {
    found.errors.push({ code: 'unknown_action', message: `no tool is registered for action ${req.action}` });
    return 'deny';
  }
  const expected = call.options.expectResource;
  if (expected) {
    const derived = resourceRef ?? { type: 'Tool', id: req.action };
    // SECURITY: the caller's idea of the resource never replaces the one the args identify.
    if (expected.type !== derived.type || expected.id !== String(derived.id)) {
      found.errors.push({
        code: 'resource_mismatch',
        message: `the request names ${expected.type}::${expected.id} but the args identify ${derived.type}::${derived.id}`,
      });
      return 'deny';
    }
  }
  const parties = await lookUpParties(deps, call, found);
  if (!parties) return 'deny';
  const { agent, user, resource } = parties;

  // Delegation: acting for a user needs a live grant from that user that covers this call.
  if (user) {
    const check = await deps.grants.check({
      agent: agent.id,
      user,
      action: req.action,
      args: call.args,
      resource,
      declares: (path) => schemaDeclares(tool.inputSchema, path),
    });
    if (!check.ok) {
      found.errors.push({ code: check.code, message: check.message });
      return 'deny';
    }
    found.grant = check.grant;
    found.grantChain = check.chain;
  }

  const inputs = policyInputs(deps, call, parties, found);
  const mistyped =
    unloadedParentsFault(policy, inputs.resource, call.resourceRef?.folders) ??
    entityTypeFault(policy, inputs.entities);
  if (mistyped !== null) {
    found.errors.push({ code: 'invalid_entity', message: mistyped });
    return 'deny';
  }
  // Budgets and rates: the call's charge is reserved before the policies read the counters.
  found.reservation =
    (await deps.usage?.reserve({
      action: req.action,
      agent: agent.id,
      user: user?.id ?? null,
      args: call.args,
      now: call.now,
      dryRun: call.options.dryRun === true,
      ...(call.options.recordedUsage ? { recorded: call.options.recordedUsage } : {}),
    })) ?? null;
  if (found.reservation) inputs.context.usage = found.reservation.context;

  const policySpan = startSpan('mandate.policy.evaluate', { 'mandate.policy_version': policy.version });
  // The agent, then (an agent never gets more than its user) the user for the same call.
  const [agentEval, userEval] = evaluateInputs(policy, req.action, inputs);
  policySpan.end();
  found.seen = { inputs, outcome: combineEvaluations(policy, req.action, [agentEval, userEval]) };
  const evals: PrincipalEvaluation[] = [[agentEval, 'agent']];
  if (userEval) evals.push([userEval, 'user']);
  for (const [e, who] of evals) {
    for (const pe of e.errors) {
      found.errors.push({
        code: pe.code ?? 'policy_error',
        policyId: pe.policyId,
        // An approval_conflict's text is the policies' ids and roles only: nothing to scrub (and
        // scrubbing would blank a role that an entity also holds).
        message: `${who} policy ${pe.policyId}: ${pe.code === undefined ? scrubEngineError(pe.message, inputs) : pe.message}`,
      });
    }
  }
  const denied = evals.filter(([e]) => e.effect === 'deny');
  if (denied.length > 0 && !declares(policy, req.action)) {
    // The engine denies an action its schema does not declare without evaluating anything:
    // say that, not "no policy permits" (a policy may well name it).
    found.errors.push({
      code: 'unknown_action',
      message: `action ${req.action} is not declared in the Cedar schema of policy ${policy.version}`,
    });
    return 'deny';
  }
  if (denied.length > 0) {
    found.reasons = denied.flatMap(([e, who]) =>
      e.satisfied.length > 0
        ? e.satisfied.map((s) => reason(s.policyId, s.reason, who))
        : e.errors.length > 0
          ? []
          : [
              reason(
                DEFAULT_DENY_ID,
                `no policy permits ${who === 'agent' ? `agent ${agent.id}` : `user ${user?.id}`} to ${req.action}`,
                who,
              ),
            ],
    );
    return 'deny';
  }
  found.reasons = evals.flatMap(([e, who]) => e.satisfied.map((s) => reason(s.policyId, s.reason, who)));
  const needs = evals.map(([e]) => e.approval).filter((a) => a !== undefined);
  if (needs.length === 0) return 'allow';
  const requirement = oneApprovalFor(needs, found);
  if (!requirement) return 'deny';
  return settleApproval(deps, call, found, {
    parties,
    evals,
    policyVersion: policy.version,
    requirement,
  });
}

/** The agent, the user it acts for and the resource, each found and active; else null and the error recorded. */
async function lookUpParties(
  deps: DecisionServiceDeps,
  call: PreparedCall,
  found: Findings,
): Promise<Parties | null> {
  const { req, resourceRef } = call;
  const { store } = deps;
  const [agent, user, stored] = await inSpan('mandate.store.read', {}, () =>
    Promise.all([
      store.getAgent(req.agent),
      req.onBehalfOf ? store.getUser(req.onBehalfOf) : Promise.resolve(null),
      resourceRef ? store.getResource(resourceRef.type, resourceRef.id) : Promise.resolve(null),
    ]),
  );
  // A path resource need not be in the entity store: it is the file the canonical path names.
  const resource: Resource | null =
    stored ??
    (resourceRef?.folders ? { type: resourceRef.type, id: resourceRef.id, attributes: {}, tags: [] } : null);
  if (!agent) {
    found.errors.push({ code: 'unknown_agent', message: `no agent ${req.agent}` });
    return null;
  }
  if (agent.status !== 'active') {
    found.errors.push({ code: 'agent_suspended', message: `agent ${agent.id} is suspended` });
    return null;
  }
  if (req.onBehalfOf && !user) {
    found.errors.push({ code: 'unknown_user', message: `no user ${req.onBehalfOf}` });
    return null;
  }
  if (user && user.status !== 'active') {
    found.errors.push({ code: 'user_suspended', message: `user ${user.id} is suspended` });
    return null;
  }
  if (resourceRef && !resource) {
    found.errors.push({ code: 'unknown_resource', message: `no ${resourceRef.type} ${resourceRef.id}` });
    return null;
  }
  return { agent, user, resource };
}

/** What the engine is handed: the principals, the resource, the entity slice and the Cedar context. */
function policyInputs(
  deps: DecisionServiceDeps,
  call: PreparedCall,
  { agent, user, resource }: Parties,
  found: Findings,
): PolicyInputs {
  const { req, resourceRef, now } = call;
  const resourceUid = resourceRef
    ? { type: resourceRef.type, id: resourceRef.id }
    : { type: 'Tool', id: req.action };
  const entities: PolicyEntity[] = [agentEntity(agent)];
  if (user) entities.push(userEntity(user));
  entities.push(resource ? resourceEntity(resource) : { uid: resourceUid, attrs: {}, parents: [] });
  if (resourceRef?.folders) addFolders(entities, resourceRef);
  const context: Record<string, unknown> = { args: call.policyArgs, time: deps.time(now) };
  if (req.intent) context.intent = req.intent;
  if (user) context.onBehalfOf = { __entity: { type: 'User', id: user.id } };
  const grant = found.grant;
  if (grant) {
    context.grant = {
      id: grant.id,
      ageSeconds: Math.max(0, Math.floor((now - Date.parse(grant.createdAt)) / 1000)),
      expiresInSeconds: Math.max(0, Math.floor((Date.parse(grant.expiresAt) - now) / 1000)),
    };
  }
  return { agent: agent.id, user: user?.id ?? null, resource: resourceUid, context, entities };
}

const declaredActions = new WeakMap<CompiledPolicySet, ReadonlySet<string>>();

/** Does the set's schema declare this action? Asked only on a deny, cached per set. */
function declares(policy: CompiledPolicySet, action: string): boolean {
  let set = declaredActions.get(policy);
  if (!set) {
    set = new Set(policy.actions);
    declaredActions.set(policy, set);
  }
  return set.has(action);
}

function reason(policyId: string, text: string | undefined, principal: 'agent' | 'user'): DecisionReason {
  return text === undefined ? { policyId, principal } : { policyId, reason: text, principal };
}
