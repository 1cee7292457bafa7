import { afterEach, describe, expect, it } from 'vitest';
import { isMandateError } from '../../src/kernel/index.js';
import {
  createCedarEngine,
  REQUEST_ERROR_POLICY_ID,
  type CompiledPolicySet,
  type PolicySetSource,
} from '../../src/policy/index.js';
import { request, source } from './fixtures.js';

const engine = createCedarEngine();
const live: CompiledPolicySet[] = [];

function compile(policies: Record<string, string> | PolicySetSource): CompiledPolicySet {
  const set = engine.compile(
    'schema' in policies ? (policies as PolicySetSource) : source(policies as Record<string, string>),
  );
  live.push(set);
  return set;
}

afterEach(() => {
  for (const set of live.splice(0)) set.dispose();
});

const REFUND_SMALL = `
@id("refund-small") @reason("agents may refund small amounts")
permit(principal is Agent, action == Action::"payments.refund", resource)
when { context.args has amount && context.args.amount <= 100 };`;

const REFUND_LARGE_APPROVAL = `
@id("refund-large") @approval("finance_manager") @quorum("2") @reason("large refunds need two managers")
permit(principal is Agent, action == Action::"payments.refund", resource)
when { context.args has amount && context.args.amount > 100 };`;

const LEGAL_HOLD = `
@id("legal-hold") @reason("customer is on legal hold")
forbid(principal, action, resource is Customer) when { resource.tags.contains("legal_hold") };`;

describe('evaluate: the decision semantics', () => {
  it('allows when a plain permit is satisfied, naming it with its reason', () => {
    const set = compile({ 'refunds.cedar': REFUND_SMALL });
    const r = set.evaluate(request({ args: { amount: 50 } }));
    expect(r).toEqual({
      effect: 'allow',
      satisfied: [{ policyId: 'refund-small', effect: 'permit', reason: 'agents may refund small amounts' }],
      errors: [],
      sliceSize: 1,
    });
  });

  it('denies when no permit is satisfied (deny by default)', () => {
    const set = compile({ 'refunds.cedar': REFUND_SMALL });
    const r = set.evaluate(request({ args: { amount: 500 } }));
    expect(r).toEqual({ effect: 'deny', satisfied: [], errors: [], sliceSize: 1 });
  });

  it('denies with the forbid when a forbid and a permit are both satisfied', () => {
    const set = compile({ 'refunds.cedar': REFUND_SMALL, 'holds.cedar': LEGAL_HOLD });
    const r = set.evaluate(request({ args: { amount: 50 }, tags: ['legal_hold'] }));
    expect(r.effect).toBe('deny');
    expect(r.satisfied).toEqual([
      { policyId: 'legal-hold', effect: 'forbid', reason: 'customer is on legal hold' },
    ]);
    expect(set.evaluate(request({ args: { amount: 50 } })).effect).toBe('allow');
  });

  it('denies when a forbid errors at runtime while a permit matches (Cedar alone would allow)', () => {
    // Validates in strict mode (the optional attribute is guarded), overflows Long at runtime.
    const overflow = `
@id("overflow-forbid")
forbid(principal, action == Action::"payments.refund", resource)
when { context.args has amount && context.args.amount * 10000000000000 > 1000000000000000000 };`;
    const permitAll = `@id("permit-refunds") permit(principal, action == Action::"payments.refund", resource);`;
    const set = compile({ 'a.cedar': permitAll, 'b.cedar': overflow });
    expect(set.evaluate(request({ args: { amount: 5 } })).effect).toBe('allow');

    for (const r of [
      set.evaluate(request({ args: { amount: 10_000_000 } })),
      set.evaluateUnsliced(request({ args: { amount: 10_000_000 } })),
    ]) {
      expect(r.effect).toBe('deny');
      expect(r.satisfied).toEqual([]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({ policyId: 'overflow-forbid', effect: 'forbid' });
      expect(r.errors[0]!.message).toMatch(/overflow/);
    }
  });

  it('denies when an erroring permit sits beside a satisfied permit', () => {
    const erroring = `@id("erroring-permit") permit(principal, action, resource) when { context.args has n && context.args.n * 4611686018427387904 > 0 };`;
    const plain = `@id("plain") permit(principal, action, resource);`;
    const r = compile({ 'p.cedar': erroring + plain }).evaluate(request({ args: { n: 3 } }));
    expect(r.effect).toBe('deny');
    expect(r.errors.map((e) => [e.policyId, e.effect])).toEqual([['erroring-permit', 'permit']]);
  });

  it('requires approval, routed to the role with its quorum, when only @approval permits match', () => {
    const set = compile({ 'refunds.cedar': REFUND_SMALL + REFUND_LARGE_APPROVAL });
    const r = set.evaluate(request({ args: { amount: 5000 } }));
    expect(r.effect).toBe('approval_required');
    expect(r.approval).toEqual({ role: 'finance_manager', quorum: 2, policyId: 'refund-large' });
    expect(r.satisfied).toEqual([
      {
        policyId: 'refund-large',
        effect: 'permit',
        reason: 'large refunds need two managers',
        approval: { role: 'finance_manager', quorum: 2, policyId: 'refund-large' },
      },
    ]);
  });

  it('defaults the quorum to 1; @approval permits of one role take its highest quorum, of two roles deny', () => {
    const set = compile({
      'z.cedar': `@id("b-approval") @approval("ops") permit(principal, action == Action::"ops.restart", resource);`,
      'a.cedar': `@id("c-approval") @approval("ops") @quorum("3") permit(principal, action == Action::"ops.restart", resource);`,
    });
    const r = set.evaluate(request({ action: 'ops.restart' }));
    expect(r.effect).toBe('approval_required');
    expect(r.approval).toEqual({ role: 'ops', quorum: 3, policyId: 'c-approval' });
    expect(r.satisfied.map((s) => s.policyId)).toEqual(['b-approval', 'c-approval']);
    const alone = compile({
      'z.cedar': `@id("b-approval") @approval("ops") permit(principal, action == Action::"ops.restart", resource);`,
    });
    expect(alone.evaluate(request({ action: 'ops.restart' })).approval).toEqual({
      role: 'ops',
      quorum: 1,
      policyId: 'b-approval',
    });
    // More in approval-routes.test.ts.
  });

  it('allows when an @approval permit and a plain permit are both satisfied', () => {
    const set = compile({
      'p.cedar': `
@id("needs-approval") @approval("finance_manager") permit(principal, action == Action::"payments.refund", resource);
@id("trusted-agent") permit(principal is Agent, action == Action::"payments.refund", resource) when { principal.roles.contains("trusted") };`,
    });
    const r = set.evaluate(request({ roles: ['trusted'] }));
    expect(r.effect).toBe('allow');
    expect(r.approval).toBeUndefined();
    expect(r.satisfied.map((s) => s.policyId)).toEqual(['needs-approval', 'trusted-agent']);
    expect(set.evaluate(request({ roles: [] })).effect).toBe('approval_required');
  });

  it('denies an @approval permit when a forbid is satisfied (an approval never beats a forbid)', () => {
    const set = compile({ 'r.cedar': REFUND_LARGE_APPROVAL, 'h.cedar': LEGAL_HOLD });
    const r = set.evaluate(request({ args: { amount: 5000 }, tags: ['legal_hold'] }));
    expect(r.effect).toBe('deny');
    expect(r.approval).toBeUndefined();
    expect(r.satisfied.map((s) => s.policyId)).toEqual(['legal-hold']);
  });

  it('enforces a time window through context.time.hour', () => {
    const set = compile({
      'hours.cedar': `
@id("office-hours") permit(principal, action == Action::"crm.read_customer", resource)
when { context.time.hour >= 9 && context.time.hour < 17 };`,
    });
    const at = (hour: number) => set.evaluate(request({ action: 'crm.read_customer', hour })).effect;
    expect([at(8), at(9), at(12), at(16), at(17), at(23)]).toEqual([
      'deny',
      'allow',
      'allow',
      'allow',
      'deny',
      'deny',
    ]);
  });

  it('denies an action the schema does not declare, without evaluating anything', () => {
    const set = compile({ 'all.cedar': `@id("everything") permit(principal, action, resource);` });
    expect(set.evaluate(request({ action: 'payments.refund' })).effect).toBe('allow');
    for (const action of ['payments.refund_all', 'Payments.refund', '', 'payments', 'finance']) {
      expect(set.evaluate(request({ action }))).toEqual({
        effect: 'deny',
        satisfied: [],
        errors: [],
        sliceSize: 0,
      });
    }
  });

  it('denies a principal or resource type the schema does not allow for the action', () => {
    const set = compile({ 'all.cedar': `@id("everything") permit(principal, action, resource);` });
    const wrongPrincipal = { ...request(), principal: { type: 'Customer', id: 'c1' } };
    const wrongResource = { ...request(), resource: { type: 'Agent', id: 'a1' } };
    for (const req of [wrongPrincipal, wrongResource]) {
      const r = set.evaluate(req);
      expect(r.effect).toBe('deny');
      expect(r.errors[0]!.policyId).toBe(REQUEST_ERROR_POLICY_ID);
      expect(r.errors[0]!.message).toMatch(/not allowed for action "payments.refund"/);
      expect(set.evaluateUnsliced(req).effect).toBe('deny');
    }
  });
});

describe('evaluate: request values fail closed', () => {
  const permitAll = `@id("all") permit(principal, action, resource);`;
  const ratio = `@id("ratio") permit(principal, action == Action::"payments.charge", resource)
when { context.args has ratio && context.args.ratio.lessThan(decimal("2.5")) };`;

  it('turns non-integer numbers with at most 4 fractional digits into decimals', () => {
    const set = compile({ 'r.cedar': ratio });
    expect(set.evaluate(request({ action: 'payments.charge', args: { ratio: 1.5 } })).effect).toBe('allow');
    expect(set.evaluate(request({ action: 'payments.charge', args: { ratio: 2.4999 } })).effect).toBe(
      'allow',
    );
    expect(set.evaluate(request({ action: 'payments.charge', args: { ratio: 3.25 } })).effect).toBe('deny');
  });

  it.each([
    ['more than 4 fractional digits', { ratio: 1.23456 }],
    ['an integer beyond 2^53', { amount: 2 ** 60 }],
    ['a null', { amount: null }],
    ['NaN', { amount: Number.NaN }],
    ['an escape mixed with other keys', { customerId: { __entity: { type: 'User', id: 'x' }, extra: 1 } }],
  ])('denies with a request error for %s', (_name, args) => {
    const r = compile({ 'p.cedar': permitAll }).evaluate(request({ args }));
    expect(r.effect).toBe('deny');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.policyId).toBe(REQUEST_ERROR_POLICY_ID);
  });

  it('denies (never throws) when Cedar answers failure', () => {
    // The policy reads args.amount, so the bad extension value is sent to Cedar (unread values are not).
    const set = compile({
      'p.cedar': `@id("amt") permit(principal, action, resource) when { context.args has amount };`,
    });
    const badExtension = request({ args: { amount: { __extn: { fn: 'no_such_fn', arg: '1' } } } });
    const r = set.evaluate(badExtension);
    expect(r.effect).toBe('deny');
    expect(r.errors[0]!.message).toMatch(/^cedar: /);
  });

  it('denies two entities with one uid, even when no policy reads their attributes', () => {
    const set = compile({ 'p.cedar': permitAll });
    const dup = request();
    dup.entities.push({ ...dup.entities[0]!, attrs: { roles: ['other'], tenant: 't2', status: 'active' } });
    const r = set.evaluate(dup);
    expect(r.effect).toBe('deny');
    expect(r.errors[0]!.message).toMatch(/appears twice/);
  });

  it('sends Cedar only the attributes the slice reads, with the same answers', () => {
    const set = compile({
      'p.cedar': `@id("t") permit(principal is Agent, action, resource is Customer) when { principal.tenant == resource.tenant };`,
    });
    const same = request();
    expect(set.evaluate(same).effect).toBe(set.evaluateUnsliced(same).effect);
    const other = request();
    other.entities = other.entities.map((e) =>
      e.uid.type === 'Customer' ? { ...e, attrs: { ...e.attrs, tenant: 'zzz' } } : e,
    );
    expect(set.evaluate(other).effect).toBe('deny');
    expect(set.evaluateUnsliced(other).effect).toBe('deny');
  });

  it('denies a string with a lone surrogate before cedar-wasm; thousands of them leave it answering', () => {
    const set = createCedarEngine({ memoEntries: 0 }).compile(source({ 'refunds.cedar': REFUND_SMALL }));
    live.push(set);
    // Each such call used to fail inside cedar-wasm; after about a thousand, its instance trapped
    // ("memory access out of bounds") and every later decision of the process denied.
    const messages = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const r = set.evaluate(request({ args: { amount: 50, customerId: `c-\ud800${i}` } }));
      expect(r.effect).toBe('deny');
      messages.add(r.errors[0]!.message);
    }
    expect(set.evaluate(request({ args: { amount: 50, customerId: 'c-1' } })).effect).toBe('allow');
    expect([...messages]).toEqual([expect.stringMatching(/^context\.args\.customerId: .*lone surrogate/)]);
  });

  it('reads an attribute named __proto__ as an attribute: the keys under it never become attributes', () => {
    const set = compile({
      'p.cedar': `@id("evil") permit(principal is Agent, action, resource) when { principal.tenant == "evil" };`,
    });
    const withAttrs = (json: string) => {
      const r = request();
      r.entities = r.entities.map((e) =>
        e.uid.type === 'Agent' ? { ...e, attrs: JSON.parse(json) as Record<string, unknown> } : e,
      );
      return r;
    };
    // JSON.parse keeps "__proto__" as an own key; an assignment while converting would have made
    // `tenant` an inherited key, which the attribute pruning then copied to Cedar: a wrong allow.
    const smuggled = set.evaluate(withAttrs('{"roles":[],"status":"active","__proto__":{"tenant":"evil"}}'));
    expect(smuggled.effect).toBe('deny');
    expect(smuggled.errors.map((e) => e.policyId)).toEqual(['evil']);
    expect(set.evaluate(withAttrs('{"roles":[],"status":"active","tenant":"evil"}')).effect).toBe('allow');
  });

  it('remembers answers only under the exact input Cedar reads: a changed arg or attribute is evaluated afresh', () => {
    const set = compile({ 'p.cedar': REFUND_SMALL + LEGAL_HOLD });
    const small = set.evaluate(request({ args: { amount: 50 } }));
    expect(small.effect).toBe('allow');
    // The same input again: the same (remembered) answer, shared and so frozen.
    const again = set.evaluate(request({ args: { amount: 50 } }));
    expect(again).toEqual(small);
    expect(Object.isFrozen(again)).toBe(true);
    expect(Object.isFrozen(again.satisfied)).toBe(true);
    expect(() => (again.satisfied as unknown[]).push('x')).toThrow();
    // An arg the policy reads, and an attribute it reads, each change the answer.
    expect(set.evaluate(request({ args: { amount: 500 } })).effect).toBe('deny');
    expect(set.evaluate(request({ args: { amount: 50 }, tags: ['legal_hold'] })).effect).toBe('deny');
    expect(set.evaluate(request({ args: { amount: 50 } })).effect).toBe('allow');
  });

  it('evaluates every request when the memo is off, with the same answers', () => {
    const off = createCedarEngine({ memoEntries: 0 }).compile(source({ 'p.cedar': REFUND_SMALL }));
    live.push(off);
    const a = off.evaluate(request({ args: { amount: 50 } }));
    const b = off.evaluate(request({ args: { amount: 50 } }));
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
    expect(Object.isFrozen(a)).toBe(false);
  });

  it('rejects Action entities supplied by the request (groups come from the schema only)', () => {
    const set = compile({
      'g.cedar': `@id("crm-group") permit(principal, action, resource) when { action in Action::"crm" };`,
    });
    expect(set.evaluate(request({ action: 'crm.read_customer' })).effect).toBe('allow');
    expect(set.evaluate(request({ action: 'ops.restart' })).effect).toBe('deny');
    const forged = request({ action: 'ops.restart' });
    forged.entities.push({
      uid: { type: 'Action', id: 'ops.restart' },
      attrs: {},
      parents: [{ type: 'Action', id: 'crm' }],
    });
    const r = set.evaluate(forged);
    expect(r.effect).toBe('deny');
    expect(r.errors[0]!.message).toMatch(/action entities come from the schema/);
  });

  it('denies with an error once the set is disposed', () => {
    const set = engine.compile(source({ 'p.cedar': permitAll }));
    expect(set.evaluate(request()).effect).toBe('allow');
    set.dispose();
    set.dispose();
    const r = set.evaluate(request());
    expect(r.effect).toBe('deny');
    expect(r.errors[0]!.message).toMatch(/disposed/);
    expect(set.evaluateUnsliced(request()).effect).toBe('deny');
  });

  it('leaves other compiled instances of the same version intact when one is disposed', () => {
    const a = engine.compile(source({ 'p.cedar': permitAll }));
    const b = compile({ 'p.cedar': permitAll });
    expect(a.version).toBe(b.version);
    expect(a.evaluate(request()).effect).toBe('allow');
    expect(b.evaluate(request()).effect).toBe('allow');
    a.dispose();
    expect(b.evaluate(request()).effect).toBe('allow');
    expect(b.evaluateUnsliced(request()).effect).toBe('allow');
  });
});

describe('slicing by action and principal type', () => {
  const policies = {
    'slices.cedar': `
@id("refund") permit(principal, action == Action::"payments.refund", resource);
@id("charge") permit(principal, action == Action::"payments.charge", resource);
@id("read") permit(principal, action == Action::"crm.read_customer", resource);
@id("read-or-update") permit(principal, action in [Action::"crm.read_customer", Action::"crm.update_customer"], resource);
@id("any-action") forbid(principal, action, resource) when { resource.tags.contains("frozen") };
@id("users-refund") permit(principal is User, action == Action::"payments.refund", resource);
@id("one-user") permit(principal == User::"u1", action, resource);
@id("payments-group") permit(principal, action in Action::"payments", resource) when { context.time.hour < 20 };
@id("finance-group") forbid(principal, action in Action::"finance", resource) when { context.time.hour > 22 };
@id("crm-group") permit(principal is Agent, action in Action::"crm", resource) when { principal.roles.contains("crm") };`,
  };

  it('hands Cedar only the policies that can match the action', () => {
    const set = compile(policies);
    const agent = { type: 'Agent', id: 'a1' } as const;
    expect(set.evaluate(request({ principal: agent, action: 'payments.refund' })).sliceSize).toBe(4); // refund, any-action, payments-group, finance-group
    expect(set.evaluate(request({ principal: agent, action: 'payments.charge' })).sliceSize).toBe(4); // charge, any-action, payments-group, finance-group
    expect(set.evaluate(request({ principal: agent, action: 'crm.read_customer' })).sliceSize).toBe(4); // read, read-or-update, any-action, crm-group
    expect(set.evaluate(request({ principal: agent, action: 'crm.update_customer' })).sliceSize).toBe(3);
    expect(set.evaluate(request({ principal: agent, action: 'ops.restart' })).sliceSize).toBe(1); // any-action
    expect(set.evaluateUnsliced(request({ principal: agent })).sliceSize).toBe(10);
  });

  it('slices by principal type too', () => {
    const set = compile(policies);
    const user = { type: 'User', id: 'u1' } as const;
    // refund, any-action, users-refund, one-user, payments-group, finance-group
    expect(set.evaluate(request({ principal: user, action: 'payments.refund' })).sliceSize).toBe(6);
    // crm-group is for Agents only
    expect(set.evaluate(request({ principal: user, action: 'crm.update_customer' })).sliceSize).toBe(3);
  });

  it('resolves action groups transitively through the schema', () => {
    const set = compile({
      'g.cedar': `@id("finance") @approval("cfo") permit(principal, action in Action::"finance", resource);`,
    });
    for (const action of ['payments.refund', 'payments.charge']) {
      const r = set.evaluate(request({ action }));
      expect(r).toMatchObject({ effect: 'approval_required', sliceSize: 1 });
    }
    expect(set.evaluate(request({ action: 'crm.read_customer' }))).toEqual({
      effect: 'deny',
      satisfied: [],
      errors: [],
      sliceSize: 0,
    });
  });

  it('denies an empty slice without asking Cedar', () => {
    const set = compile({
      'p.cedar': `@id("refund") permit(principal, action == Action::"payments.refund", resource);`,
    });
    expect(set.evaluate(request({ action: 'ops.restart' }))).toEqual({
      effect: 'deny',
      satisfied: [],
      errors: [],
      sliceSize: 0,
    });
    // Even a request Cedar would reject is a plain deny here: nothing could have allowed it.
    expect(set.evaluate(request({ action: 'ops.restart', args: { ratio: 1.234567 } })).effect).toBe('deny');
  });

  it('gives the same answers sliced and unsliced', () => {
    const set = compile(policies);
    for (const action of [
      'payments.refund',
      'payments.charge',
      'crm.read_customer',
      'crm.update_customer',
      'ops.restart',
    ]) {
      for (const principal of [
        { type: 'Agent', id: 'a1' },
        { type: 'User', id: 'u1' },
        { type: 'User', id: 'u2' },
      ] as const) {
        for (const hour of [10, 21, 23]) {
          for (const tags of [[], ['frozen']]) {
            const req = request({ action, principal, hour, tags, roles: ['crm'] });
            const { sliceSize: _a, ...sliced } = set.evaluate(req);
            const { sliceSize: _b, ...whole } = set.evaluateUnsliced(req);
            expect(sliced).toEqual(whole);
          }
        }
      }
    }
  });
});

describe('compile: what a compiled set exposes', () => {
  it('names policies by @id, else <file>#<index> in source order, with file, effect, annotations and text', () => {
    const many = Array.from(
      { length: 12 },
      (_, i) =>
        `permit(principal, action == Action::"ops.restart", resource) when { context.time.hour == ${i} };`,
    ).join('\n');
    const set = compile({ 'b.cedar': many, 'a.cedar': REFUND_SMALL });
    expect(set.policies.map((p) => p.id)).toEqual([
      'refund-small',
      ...Array.from({ length: 12 }, (_, i) => `b.cedar#${i}`),
    ]);
    expect(set.policies[0]).toMatchObject({
      file: 'a.cedar',
      effect: 'permit',
      annotations: { id: 'refund-small', reason: 'agents may refund small amounts' },
    });
    set.policies.slice(1).forEach((p, i) => expect(p.text).toContain(`hour == ${i} }`));
    const r = set.evaluate(request({ action: 'ops.restart', hour: 10 }));
    expect(r.satisfied.map((s) => s.policyId)).toEqual(['b.cedar#10']);
  });

  it('lists the actions the schema declares', () => {
    expect(compile({}).actions).toEqual([
      'crm',
      'crm.read_customer',
      'crm.update_customer',
      'finance',
      'ops.restart',
      'payments',
      'payments.charge',
      'payments.refund',
    ]);
  });

  it('versions by content: stable under file reordering, changed by any text change', () => {
    const a = compile({ 'a.cedar': REFUND_SMALL, 'b.cedar': LEGAL_HOLD });
    const b = compile({ 'b.cedar': LEGAL_HOLD, 'a.cedar': REFUND_SMALL });
    expect(a.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.version).toBe(a.version);
    expect(compile({ 'a.cedar': REFUND_SMALL + ' ', 'b.cedar': LEGAL_HOLD }).version).not.toBe(a.version);
    expect(compile({ 'c.cedar': REFUND_SMALL, 'b.cedar': LEGAL_HOLD }).version).not.toBe(a.version);
    expect(
      compile(source({ 'a.cedar': REFUND_SMALL, 'b.cedar': LEGAL_HOLD }, `${source({}).schema}\n`)).version,
    ).not.toBe(a.version);
  });
});

describe('validate and compile: invalid sets are rejected whole, each problem located', () => {
  const problemsOf = (policies: Record<string, string>, schema?: string) => {
    const result = engine.validate(schema === undefined ? source(policies) : source(policies, schema));
    if (result.ok) throw new Error('expected problems');
    return result.problems;
  };

  it('accepts a valid set', () => {
    expect(
      engine.validate(source({ 'r.cedar': REFUND_SMALL + REFUND_LARGE_APPROVAL, 'h.cedar': LEGAL_HOLD })),
    ).toEqual({ ok: true });
  });

  it('names the file and position of a syntax error', () => {
    const problems = problemsOf({
      'ok.cedar': REFUND_SMALL,
      'broken.cedar': 'permit(principal, action, resource)\nwhen { context.args. };',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.file).toBe('broken.cedar');
    expect(problems[0]!.message).toMatch(/line 2/);
  });

  it('names the file and policy that does not match the schema (strict mode)', () => {
    const problems = problemsOf({
      'ok.cedar': REFUND_SMALL,
      'bad.cedar': `@id("unknown-attr") permit(principal is Agent, action == Action::"payments.refund", resource) when { principal.department == "x" };
@id("optional-unguarded") permit(principal, action == Action::"payments.refund", resource) when { context.args.amount < 10 };
@id("unknown-action") permit(principal, action == Action::"payments.nope", resource);`,
    });
    const ids = new Set(problems.map((p) => p.policyId));
    expect(ids).toEqual(new Set(['unknown-attr', 'optional-unguarded', 'unknown-action']));
    for (const p of problems) {
      expect(p.file).toBe('bad.cedar');
      expect(p.message).not.toMatch(/^for policy/);
    }
  });

  it('rejects duplicate ids across files', () => {
    const problems = problemsOf({
      'a.cedar': `@id("dup") permit(principal, action, resource);`,
      'b.cedar': `@id("dup") forbid(principal, action, resource);`,
    });
    expect(problems).toEqual([
      { file: 'b.cedar', policyId: 'dup', message: 'duplicate policy id "dup" (first defined in a.cedar)' },
    ]);
  });

  it('rejects an explicit @id that collides with a generated <file>#<index> id', () => {
    const problems = problemsOf({
      'a.cedar': `permit(principal, action, resource);`,
      'b.cedar': `@id("a.cedar#0") permit(principal, action, resource);`,
    });
    expect(problems.map((p) => p.policyId)).toEqual(['a.cedar#0']);
  });

  it.each([
    ['@quorum("0")', /integer from 1 to 10/],
    ['@quorum("11")', /integer from 1 to 10/],
    ['@quorum("two")', /integer from 1 to 10/],
    ['@quorum("02")', /integer from 1 to 10/],
    ['@quorum("1.5")', /integer from 1 to 10/],
  ])('rejects %s', (quorum, message) => {
    const problems = problemsOf({
      'q.cedar': `@id("q") @approval("ops") ${quorum} permit(principal, action, resource);`,
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'q.cedar', policyId: 'q' });
    expect(problems[0]!.message).toMatch(message);
  });

  it('accepts @quorum("10") and rejects @quorum without @approval', () => {
    expect(
      engine.validate(
        source({ 'q.cedar': `@approval("ops") @quorum("10") permit(principal, action, resource);` }),
      ),
    ).toEqual({ ok: true });
    expect(
      problemsOf({ 'q.cedar': `@quorum("2") permit(principal, action, resource);` })[0]!.message,
    ).toMatch(/only allowed alongside @approval/);
  });

  it('rejects @approval with an empty role and @approval on a forbid', () => {
    expect(
      problemsOf({ 'a.cedar': `@approval("") permit(principal, action, resource);` })[0]!.message,
    ).toMatch(/non-empty role/);
    expect(problemsOf({ 'a.cedar': `@approval permit(principal, action, resource);` })[0]!.message).toMatch(
      /non-empty role/,
    );
    expect(
      problemsOf({ 'a.cedar': `@approval("ops") forbid(principal, action, resource);` })[0]!.message,
    ).toMatch(/only allowed on permit/);
  });

  it('rejects an empty @id and policy templates', () => {
    expect(problemsOf({ 'a.cedar': `@id("") permit(principal, action, resource);` })[0]!.message).toMatch(
      /@id must not be empty/,
    );
    expect(
      problemsOf({ 'a.cedar': `permit(principal == ?principal, action, resource);` })[0]!.message,
    ).toMatch(/templates/);
  });

  it('rejects a schema that does not parse, and actions inside a namespace', () => {
    const broken = problemsOf({ 'a.cedar': REFUND_SMALL }, 'entity Agent {');
    expect(broken.length).toBeGreaterThan(0);
    expect(broken[0]!.message).toMatch(/^schema: /);
    const namespaced = problemsOf(
      {},
      'namespace Acme { entity Agent; action "x" appliesTo { principal: Agent, resource: Agent }; }',
    );
    expect(namespaced[0]!.message).toMatch(/outside any namespace/);
  });

  it('refuses Cedar entity tags: a tags declaration, hasTag and getTag (a forbid on a tag never fired)', () => {
    // Mandate's entities carry attributes only (a resource's `tags` is a Set<String> attribute), so
    // `resource.hasTag("legal_hold")` validated and was always false: the forbid allowed what it named.
    const tagged = problemsOf(
      { 'a.cedar': REFUND_SMALL },
      source({}).schema.replace(
        'entity Customer {',
        'entity Doc { level: Long } tags String;\nentity Customer {',
      ),
    );
    expect(tagged.map((p) => p.message)).toEqual([
      expect.stringMatching(/^schema: entity type Doc declares tags/),
    ]);
    const has = problemsOf({
      'h.cedar': `@id("hold-tag") forbid (principal, action, resource is Customer) when { resource.hasTag("legal_hold") };`,
    });
    expect(has).toEqual([
      { file: 'h.cedar', policyId: 'hold-tag', message: expect.stringMatching(/uses hasTag or getTag/) },
    ]);
    const get = problemsOf({
      'g.cedar': `@id("get-tag") forbid (principal, action, resource is Customer) when { resource.hasTag("x") && resource.getTag("x") == "y" };`,
    });
    expect(get[0]).toMatchObject({
      policyId: 'get-tag',
      message: expect.stringMatching(/uses hasTag or getTag/),
    });
    // The attribute form is the way, and a record key of that name is not the operator.
    expect(
      engine.validate(
        source({
          'h.cedar': `@id("hold") forbid (principal, action, resource is Customer) when { resource.tags.contains("legal_hold") || {hasTag: 1}.hasTag == 2 };`,
        }),
      ),
    ).toEqual({ ok: true });
  });

  it('reports problems from several files at once', () => {
    const problems = problemsOf({
      'a.cedar': `@id("x") @quorum("3") permit(principal, action, resource);`,
      'b.cedar': 'permit(principal, action, resource',
      'c.cedar': `@id("x") permit(principal, action, resource);`,
    });
    expect(new Set(problems.map((p) => p.file))).toEqual(new Set(['a.cedar', 'b.cedar', 'c.cedar']));
  });

  it('never throws for malformed input', () => {
    const bad: unknown[] = [
      null,
      undefined,
      42,
      {},
      { policies: null, schema: '' },
      { policies: { 'a.cedar': 1 }, schema: '' },
      { policies: {}, schema: 3 },
    ];
    for (const input of bad) {
      const result = engine.validate(input as PolicySetSource);
      expect(result.ok).toBe(false);
    }
  });

  it('refuses @approval("self") with a quorum above 1 (one user confirms: never met); quorum 1 is fine', () => {
    const self = (q: string) =>
      engine.validate(
        source({ 'a.cedar': `@approval("self") @quorum("${q}") permit(principal, action, resource);` }),
      );
    expect(self('1').ok).toBe(true);
    const two = self('2');
    expect(two.ok).toBe(false);
    expect(JSON.stringify(two)).toContain('@quorum above 1 cannot be met by @approval(\\"self\\")');
  });

  it('compile throws policy_invalid with the problems as details', () => {
    try {
      engine.compile(
        source({ 'a.cedar': `@approval("ops") @quorum("0") permit(principal, action, resource);` }),
      );
      expect.unreachable();
    } catch (err) {
      expect(isMandateError(err) && err.code).toBe('policy_invalid');
      expect(isMandateError(err) && err.message).toBe('policy set is invalid');
      expect((err as { details: unknown }).details).toEqual([
        {
          file: 'a.cedar',
          policyId: 'a.cedar#0',
          message: '@quorum must be an integer from 1 to 10, got "0"',
        },
      ]);
    }
  });
});
