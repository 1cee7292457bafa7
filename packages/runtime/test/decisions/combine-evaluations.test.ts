// The policy-level outcome that replay, shadow evaluation and the recorded inputs compare
// (combineEvaluations) settles the agent's and the user's approvals as the live decision does:
// one role → approval_required with both; two roles → deny (the live answer is approval_conflict),
// where it said approval_required (a helper's reading of the code).
import { describe, expect, it } from 'vitest';
import { combineEvaluations } from '../../src/decisions/policy-inputs.js';
import type { CompiledPolicySet, PolicyEvaluation } from '../../src/policy/port.js';

const set = { actions: ['payments.refund'] } as unknown as CompiledPolicySet;

function asks(policyId: string, role: string, quorum = 1): PolicyEvaluation {
  const approval = { role, quorum, policyId };
  return {
    effect: 'approval_required',
    satisfied: [{ policyId, effect: 'permit', approval }],
    errors: [],
    approval,
    sliceSize: 1,
  };
}
const allows = (policyId: string): PolicyEvaluation => ({
  effect: 'allow',
  satisfied: [{ policyId, effect: 'permit' }],
  errors: [],
  sliceSize: 1,
});

describe('combineEvaluations: the agent and the user', () => {
  it('one role asked by both, or by one beside an allow: approval_required', () => {
    expect(
      combineEvaluations(set, 'payments.refund', [asks('a-cfo', 'cfo'), asks('u-cfo', 'cfo', 2)]),
    ).toEqual({ effect: 'approval_required', policies: ['a-cfo', 'u-cfo'] });
    expect(combineEvaluations(set, 'payments.refund', [allows('a-ok'), asks('u-self', 'self')])).toEqual({
      effect: 'approval_required',
      policies: ['a-ok', 'u-self'],
    });
  });

  it('different roles: deny, naming the policies that asked', () => {
    expect(
      combineEvaluations(set, 'payments.refund', [asks('a-cfo', 'cfo', 2), asks('u-self', 'self')]),
    ).toEqual({ effect: 'deny', policies: ['a-cfo', 'u-self'] });
  });
});
