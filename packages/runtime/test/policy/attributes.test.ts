// Which attribute names a policy reads (policy/attributes.ts) decides what of each entity reaches
// the engine and the answer memo. A walk that took every object key `has`, `.` or `Value` of the
// policy's JSON form for an operator read a Record literal's key `has` as an attribute access:
// `{"has": principal has banned}["has"]` never collected `banned`, the attribute was pruned from
// the entity given to Cedar, and the forbid never fired — in both engines (found by a probe,
// 2026-12-01).
import { afterEach, describe, expect, it } from 'vitest';
import { attributeUse } from '../../src/policy/attributes.js';
import { analyse } from '../../src/policy/cedar/analysis.js';
import { createCedarEngine, type CompiledPolicySet, type PolicyRequest } from '../../src/policy/index.js';
import { decisionHarness } from '../decisions/harness.js';
import { SCHEMA, request, source } from './fixtures.js';

const BANNED_SCHEMA = SCHEMA.replace(
  'entity Agent { roles: Set<String>, tenant: String, status: String };',
  'entity Agent { roles: Set<String>, tenant: String, status: String, banned?: Bool };',
);

/** The analysis of a one-policy set with `condition`, read from Cedar's own JSON form. */
const analysed = (condition: string) =>
  analyse(
    source(
      { 'p.cedar': `@id("p") forbid (principal is Agent, action, resource) when { ${condition} };` },
      BANNED_SCHEMA,
    ),
  );

/** The attribute use of each condition of a one-policy set (a valid one). */
function useOf(condition: string) {
  const a = analysed(condition);
  expect(a.problems.map((p) => p.message)).toEqual([]);
  return a.policies[0]!.uses;
}

describe('attributeUse: the EST walked by its structure', () => {
  it('a Record literal’s keys are data: `{"has": principal has banned}["has"]` reads banned', () => {
    const u = useOf('{"has": principal has banned}["has"]');
    expect([...u.names]).toContain('banned');
    expect(u.wholeContext).toBe(false);
  });

  it('record keys named like other operators (".", "Value", "Var", "hasTag") are data too', () => {
    const u = useOf(
      '{".": principal.tenant == "t", "Value": principal has banned, "Var": context.args has n, "hasTag": true}["."]',
    );
    expect([...u.names].sort()).toEqual(expect.arrayContaining(['tenant', 'banned', 'args', 'n', '.']));
    expect(u.wholeContext).toBe(false);
    expect(u.tags).toBe(false);
  });

  it('context.args (or context) as a whole value is refused: undeclared args are in it; one by one is valid', () => {
    for (const whole of [
      'context.args == {"n": 1}',
      '[context.args].contains({"n": 1})',
      '{"a": context.args}["a"] == {"n": 1}',
      'context == context',
      'if true then context.args == {"n": 1} else false',
    ]) {
      const a = analysed(whole);
      expect(
        a.problems.map((p) => p.message),
        whole,
      ).toEqual(
        // (Cedar's validator may refuse the comparison's types too; Mandate refuses the whole value.)
        expect.arrayContaining([expect.stringContaining('uses context.args (or context) as a whole value')]),
      );
    }
    for (const oneByOne of [
      'context.args has n && context.args.n == 1',
      'context.args has n',
      'context has args && context.args has n',
    ])
      expect(useOf(oneByOne).wholeArgs, oneByOne).toBe(false);
  });

  it('the legitimate forms are read as before: attribute access, has, context keys, whole context', () => {
    const plain = useOf('principal has banned && principal.banned');
    expect([...plain.names].sort()).toEqual(['banned']);
    expect(plain.wholeContext).toBe(false);
    const ctx = useOf('context.args has n && context.args.n > 1');
    expect([...ctx.names].sort()).toEqual(['args', 'n']);
    expect(ctx.wholeContext).toBe(false);
    // `context` inside a Record literal's value is the whole context; inside a literal it is data.
    expect(analysed('{"c": context}["c"] == context').policies[0]!.uses.wholeContext).toBe(true);
    expect(useOf('{"c": "context"}["c"] == "x"').wholeContext).toBe(false);
    expect(useOf('[principal.tenant == "t", principal has banned].contains(true)').names).toEqual(
      new Set(['tenant', 'banned']),
    );
    expect(useOf('if principal has banned then principal.banned else false').names).toEqual(
      new Set(['banned']),
    );
  });

  it('an unknown form is read conservatively: every string a name, any context whole', () => {
    const u = attributeUse([
      {
        body: {
          '&&': {
            left: { futureOp: { deep: { '.': { left: { Var: 'principal' }, attr: 'secret' } } } },
            right: { weird: { x: { Var: 'context' } }, extra: 1 },
          },
        },
      },
    ]);
    expect(u.names.has('secret')).toBe(true);
    expect(u.wholeContext).toBe(true);
    // A literal holds data only: nothing in it is a name, `{ Var: context }` in it is not the context.
    const lit = attributeUse([{ body: { Value: { Var: 'context', '.': { attr: 'x' } } } }]);
    expect(lit.names.size).toBe(0);
    expect(lit.wholeContext).toBe(false);
  });

  it('an expression nested past any bound is refused, not read short', () => {
    let body: unknown = { Var: 'principal' };
    for (let i = 0; i < 600; i++) body = { '!': { arg: body } };
    expect(() => attributeUse([{ body }])).toThrow(/nested too deeply/);
  });
});

describe('the forbid on a Record literal’s attribute fires (both engines, and the decision path)', () => {
  const POLICIES = {
    'p.cedar': `@id("all") permit (principal, action, resource);
@id("banned") forbid (principal is Agent, action, resource) when { {"has": principal has banned}["has"] };`,
  };
  const live: CompiledPolicySet[] = [];
  afterEach(() => {
    for (const s of live.splice(0)) s.dispose();
  });
  const withAgent = (attrs: Record<string, unknown>): PolicyRequest => {
    const r = request();
    r.entities = r.entities.map((e) =>
      e.uid.type === 'Agent' ? { ...e, attrs: { ...e.attrs, ...attrs } } : e,
    );
    return r;
  };

  for (const evaluator of ['cedar', 'compiled'] as const) {
    it(`${evaluator}: denies the banned agent, allows the other`, () => {
      const set = createCedarEngine({ evaluator }).compile(source(POLICIES, BANNED_SCHEMA));
      live.push(set);
      const banned = set.evaluate(withAgent({ banned: true }));
      expect(banned.effect).toBe('deny');
      expect(banned.satisfied.map((s) => s.policyId)).toEqual(['banned']);
      // The memo keys on what is sent: the same request without the attribute is another answer.
      expect(set.evaluate(withAgent({})).effect).toBe('allow');
      expect(set.evaluate(withAgent({ banned: true })).effect).toBe('deny');
    });
  }

  it('decision path: a stored agent with banned: true is denied by the forbid', async () => {
    const schema = `
entity User = { roles: Set<String>, status: String };
entity Agent = { roles: Set<String>, status: String, banned?: Bool };
entity Tool;
action "doc.read" appliesTo { principal: [Agent, User], resource: Tool, context: {} };
`;
    const h = await decisionHarness({
      schema,
      policies: {
        'doc.cedar': `@id("read") permit (principal is Agent, action == Action::"doc.read", resource);
@id("banned") forbid (principal is Agent, action, resource) when { {"has": principal has banned}["has"] };`,
      },
      tools: [{ action: 'doc.read', inputSchema: { type: 'object' } }],
    });
    expect((await h.decide('doc.read', {})).decision.effect).toBe('allow');
    await h.store.putEntities({
      agents: [{ id: 'files-bot', roles: ['files'], status: 'active', attributes: { banned: true } }],
      users: [],
      resources: [],
    });
    const d = (await h.decide('doc.read', {})).decision;
    expect(d.effect).toBe('deny');
    expect(JSON.stringify(d)).toContain('banned');
  });
});
