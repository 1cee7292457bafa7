import { describe, expect, it } from 'vitest';
import { recordInputs, type PolicyInputs } from '../../src/decisions/policy-inputs.js';
import { withoutMandateKeys } from '../../src/gateway/results.js';
import { parseJsonStrict } from '../../src/kernel/index.js';

/**
 * Keys named `__proto__` are data wherever they come from (JSON makes them own properties): an
 * assignment `out[key] = value` would set `out`'s prototype instead, and the key would vanish from
 * what is recorded or forwarded (a probe found the policy-id case; these are its neighbours).
 */
describe('a __proto__ key stays a key', () => {
  it('in the recorded policy inputs: an entity attribute a policy reads is on the record', () => {
    const attrs = parseJsonStrict('{"__proto__":"gold","tier":"x"}') as Record<string, unknown>;
    const inputs: PolicyInputs = {
      agent: 'a1',
      user: null,
      resource: { type: 'Customer', id: 'c1' },
      context: { args: {} },
      entities: [{ uid: { type: 'Agent', id: 'a1' }, attrs, parents: [] }],
    };
    const recorded = recordInputs(
      inputs,
      { effect: 'allow', policies: ['p'] },
      (v) => ({ ...v }),
      new Set(['__proto__']),
    );
    const agent = recorded.entities[0]!.attrs;
    expect(Object.keys(agent)).toEqual(['__proto__']);
    expect(JSON.stringify(agent)).toBe('{"__proto__":"gold"}');
    expect(recorded.omitted).toEqual(['tier']);
  });

  it("in an upstream's _meta forwarded to the client", () => {
    const meta = parseJsonStrict('{"__proto__":{"mandate/approvalId":"apr_planted"},"trace":"t1"}') as Record<
      string,
      unknown
    >;
    const out = withoutMandateKeys(meta);
    expect(Object.keys(out)).toEqual(['__proto__', 'trace']);
    // Not inherited: the planted key is nested data, never one of out's own keys or its prototype's.
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as Record<string, unknown>)['mandate/approvalId']).toBeUndefined();
  });
});
