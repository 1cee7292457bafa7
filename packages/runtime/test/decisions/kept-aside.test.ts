// Personal data kept beside the chain (audit.personal) stays off the recorded policy inputs too.
import { describe, expect, it } from 'vitest';
import { KEPT_ASIDE, recordInputs, type PolicyInputs } from '../../src/decisions/policy-inputs.js';

const inputs: PolicyInputs = {
  agent: 'support-bot',
  user: 'alice',
  resource: { type: 'Customer', id: 'c-42' },
  context: { args: { amount: 120, customerId: 'c-42' }, intent: 'refund' },
  entities: [
    {
      uid: { type: 'Agent', id: 'support-bot' },
      attrs: { displayName: 'Support bot', tenant: 't1' },
      parents: [],
    },
    {
      uid: { type: 'User', id: 'alice' },
      attrs: { displayName: 'Alice Liddell', tenant: 't1' },
      parents: [],
    },
    { uid: { type: 'User', id: 'bob' }, attrs: { displayName: 'Bob Dylan', tenant: 't1' }, parents: [] },
  ],
};
const outcome = { effect: 'allow' as const, policies: ['p'] };
const identity = (v: Record<string, unknown>) => ({ ...v });
// The active set reads displayName and tenant.
const reads = new Set(['displayName', 'tenant']);

describe('recorded inputs and kept-aside personal data', () => {
  it('records args and attributes the policies read when nothing is kept aside', () => {
    const r = recordInputs(inputs, outcome, identity, reads);
    expect(r.context.args).toEqual({ amount: 120, customerId: 'c-42' });
    expect(r.entities[1]!.attrs).toEqual({ displayName: 'Alice Liddell', tenant: 't1' });
    expect(r.redacted).toEqual([]);
    expect(r.omitted).toEqual([]);
  });

  it("leaves the kept args and the user's kept attributes off, and says so (replay: unreplayable)", () => {
    const r = recordInputs(inputs, outcome, identity, reads, { args: true, userAttributes: ['displayName'] });
    expect(r.context.args).toBe(KEPT_ASIDE);
    expect(r.redacted).toContain('context.args');
    expect(r.entities[1]!.attrs).toEqual({ tenant: 't1' });
    expect(r.omitted).toEqual(['displayName']);
    expect(JSON.stringify(r)).not.toContain('Alice Liddell');
    // Only the call's user: the agent's and another user's display names are not alice's data.
    expect(r.entities[0]!.attrs.displayName).toBe('Support bot');
    expect(r.entities[2]!.attrs.displayName).toBe('Bob Dylan');
  });
});
