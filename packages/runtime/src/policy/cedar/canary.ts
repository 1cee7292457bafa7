import { randomUUID } from 'node:crypto';
import type { EngineHealth } from '../port.js';
import { CEDAR_ACTION_TYPE, messageOf } from './analysis.js';
import { cedarGeneration, preparsePolicySet, statefulIsAuthorized } from './wasm.js';

/** The canary's policy set, preparsed once per wasm instance. */
const CANARY_POLICY = 'permit (principal, action, resource);';

/**
 * A canary evaluation on the live wasm instance: a permit-all set must allow. A trap inside Cedar
 * can leave the instance failing every call (issue 8 §6); this is how `/readyz` and the node's
 * periodic check notice. Cheap enough for every `/readyz`: one tiny preparsed set, one call.
 */
export function createCanary(): () => EngineHealth {
  const id = `mandate:canary:${randomUUID()}`;
  let preparsedIn = -1;
  const failed = (what: string): EngineHealth => ({ ok: false, reason: `policy engine canary: ${what}` });
  return () => {
    try {
      if (preparsedIn !== cedarGeneration()) {
        const prepared = preparsePolicySet(id, { staticPolicies: { canary: CANARY_POLICY } });
        if (prepared.type === 'failure') return failed(prepared.errors.map((e) => e.message).join('; '));
        preparsedIn = cedarGeneration();
      }
      const answer = statefulIsAuthorized({
        principal: { type: 'Canary', id: 'principal' },
        action: { type: CEDAR_ACTION_TYPE, id: 'canary' },
        resource: { type: 'Canary', id: 'resource' },
        context: {},
        entities: [],
        preparsedPolicySetId: id,
      });
      if (answer.type === 'failure') return failed(answer.errors.map((e) => e.message).join('; '));
      if (answer.response.decision !== 'allow') return failed('a permit-all set did not allow');
      return { ok: true };
    } catch (err) {
      return failed(messageOf(err));
    }
  };
}
