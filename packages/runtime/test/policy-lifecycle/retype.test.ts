// Replay and shadow judge a candidate on the args as ITS schema types them (ADR 0036): a candidate
// that retypes an arg (`amount: decimal` → `amount: Long`) and loosens a cap must not pass the gate
// on comparisons that cannot hold between the two types.
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/kernel/index.js';
import { createCedarEngine } from '../../src/policy/index.js';
import { createShadowEvaluator } from '../../src/decisions/shadow.js';
import type { DecisionSeen } from '../../src/decisions/service.js';
import { ARGS_REFUSED_ID, retypeInputs } from '../../src/decisions/retype.js';
import { semanticDiff } from '../../src/policy/semantic-diff.js';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

const REFUND_ARGS = 'args: { customerId: String, amount: Long }';

/** The example schema with the refund amount declared as `type`, and one permit and one cap. */
function refundSet(type: string, cap: string): { policies: Record<string, string>; schema: string } {
  const { schema } = examplePolicySource();
  if (!schema.includes(REFUND_ARGS)) throw new Error('the example refund args moved');
  return {
    schema: schema.replace(REFUND_ARGS, `args: { customerId: String, amount: ${type} }`),
    policies: {
      'refund.cedar':
        '@id("refund")\npermit (principal, action == Action::"payments.refund", resource);\n' +
        `@id("refund-cap")\nforbid (principal, action == Action::"payments.refund", resource) when { ${cap} };\n`,
    },
  };
}

const ACTIVE = refundSet('decimal', 'context.args.amount.greaterThan(decimal("1000.0"))');
/** Loosens the cap to 100,000 and retypes the amount Long. */
const LOOSER = refundSet('Long', 'context.args.amount > 100000');
/** Keeps the cap at 1,000, the amount retyped Long: the same answers. */
const SAME = refundSet('Long', 'context.args.amount > 1000');
/** Declares the amount a String: a number is refused (400) under it. */
const STRINGLY = refundSet('String', 'context.args.amount == "x"');

describe('replay retypes the recorded args by the candidate schema', () => {
  it('reports a loosening candidate that retypes the arg, and passes one that does not loosen', async () => {
    const t = await createTestMandate({
      config: (raw) => {
        raw.gateway = { ...(raw.gateway as object), upstreams: [] };
      },
    });
    const api = client(t.url);
    const from = new Date(Date.now() - 60_000).toISOString();
    ok200(await api.put('/v1/policies', KEYS.admin, ACTIVE));
    const denied = ok200(await api.decide(KEYS.supportBot, refund(5000)));
    expect(denied.effect).toBe('deny');
    const allowed = ok200(await api.decide(KEYS.supportBot, refund(50)));
    expect(allowed.effect).toBe('allow');
    const replay = async (policies: unknown, failOn: string) =>
      ok200(await api.post('/v1/policies/replay', KEYS.admin, { policies, from, failOn }));

    const looser = await replay(LOOSER, 'deny-to-allow');
    expect(looser).toMatchObject({ replayed: 2, unchanged: 1, changes: { 'deny->allow': 1 }, failed: true });
    expect(looser.groups[0]).toMatchObject({ from: 'deny', to: 'allow', examples: [denied.decisionId] });

    const same = await replay(SAME, 'any');
    expect(same).toMatchObject({ replayed: 2, unchanged: 2, changes: {}, failed: false });

    // Args the candidate's schema refuses: the call would not run — a change to deny, not `unchanged`.
    const refused = await replay(STRINGLY, 'allow-to-deny');
    expect(refused).toMatchObject({ replayed: 2, unchanged: 1, changes: { 'allow->deny': 1 }, failed: true });
    expect(refused.groups[0]).toMatchObject({
      toPolicies: [ARGS_REFUSED_ID],
      examples: [allowed.decisionId],
    });

    // What the replay foretold: activated, the looser candidate allows the call recorded as denied.
    ok200(await api.put('/v1/policies', KEYS.admin, LOOSER));
    expect(ok200(await api.decide(KEYS.supportBot, refund(5000))).effect).toBe('allow');
  });
});

describe('the shadow evaluator retypes the live args by the shadow schema', () => {
  const engine = createCedarEngine();

  /** A live refund of `amount` under ACTIVE: the args as the active schema typed them (decimal). */
  function seen(amount: number, effect: 'allow' | 'deny'): DecisionSeen {
    return {
      decisionId: `dec_${amount}`,
      action: 'payments.refund',
      policyVersion: 'sha256:active',
      inputs: {
        agent: 'support-bot',
        user: null,
        resource: { type: 'Customer', id: 'c-42' },
        context: {
          args: { customerId: 'c-42', amount: { __extn: { fn: 'decimal', arg: `${amount}.0` } } },
          time: { hour: 12, minute: 0, weekday: 'mon', date: '2026-01-05', epochSeconds: 0 },
        },
        entities: [
          {
            uid: { type: 'Agent', id: 'support-bot' },
            attrs: { roles: ['support'], status: 'active' },
            parents: [],
          },
          { uid: { type: 'Customer', id: 'c-42' }, attrs: { tenant: 'acme', tags: [] }, parents: [] },
        ],
      },
      outcome: effect === 'deny' ? { effect, policies: ['refund-cap'] } : { effect, policies: ['refund'] },
    };
  }

  async function divergences(source: { policies: Record<string, string>; schema: string }) {
    const set = engine.compile(source);
    const recorded: unknown[] = [];
    const ev = createShadowEvaluator({
      shadow: () => set,
      record: (e) => {
        recorded.push(e.data);
        return Promise.resolve();
      },
      logger: silentLogger,
      maxQueue: 10,
    });
    ev.observe(seen(5000, 'deny'));
    ev.observe(seen(50, 'allow'));
    await ev.drain();
    expect(ev.stats().failed).toBe(0);
    set.dispose();
    return recorded;
  }

  it('records the deny the looser shadow turns into an allow, and no divergence for an equal one', async () => {
    expect(await divergences(LOOSER)).toEqual([
      expect.objectContaining({
        active: { effect: 'deny', policies: ['refund-cap'] },
        shadow: { effect: 'allow', policies: ['refund'] },
      }),
    ]);
    expect(await divergences(SAME)).toEqual([]);
  });

  it('records args the shadow schema refuses as a deny naming the refusal', async () => {
    expect(await divergences(STRINGLY)).toEqual([
      expect.objectContaining({
        active: { effect: 'allow', policies: ['refund'] },
        shadow: { effect: 'deny', policies: [ARGS_REFUSED_ID] },
      }),
    ]);
  });
});

describe('retypeInputs', () => {
  const engine = createCedarEngine();

  it('turns typed args back into JSON and types them by the other schema; the same object when nothing is typed', () => {
    const long = engine.compile(SAME);
    const dec = engine.compile(ACTIVE);
    const typed = {
      agent: 'a',
      user: null,
      resource: { type: 'Customer', id: 'c' },
      context: { args: { customerId: 'c', amount: { __extn: { fn: 'decimal', arg: '5000.0' } } } },
      entities: [],
    };
    const r = retypeInputs(long, 'payments.refund', typed);
    expect('inputs' in r && r.inputs.context.args).toEqual({ customerId: 'c', amount: 5000 });
    // Under the schema that typed them, the very same inputs come back.
    const back = retypeInputs(dec, 'payments.refund', typed);
    expect('inputs' in back && back.inputs).toEqual(typed);
    const plain = { ...typed, context: { args: { customerId: 'c', amount: 5000 } } };
    const same = retypeInputs(long, 'payments.refund', plain);
    expect('inputs' in same && same.inputs).toBe(plain);
    long.dispose();
    dec.dispose();
  });
});

describe('the semantic diff asks each set with the args its own schema types', () => {
  const engine = createCedarEngine();
  const both = (source: { policies: Record<string, string>; schema: string }) => ({
    set: engine.compile(source),
    source,
  });

  it('finds what the looser candidate allows that the active set denies', { timeout: 60_000 }, async () => {
    const d = await semanticDiff(both(ACTIVE), both(LOOSER), { requestsPerAction: 400 });
    const refunds = d.differences.filter((x) => x.action === 'payments.refund');
    expect(refunds).toContainEqual(
      expect.objectContaining({
        a: { effect: 'deny', policies: ['refund-cap'] },
        b: { effect: 'allow', policies: ['refund'] },
      }),
    );
    // Nothing the other way round: the candidate denies nothing the active set allows.
    expect(refunds.filter((x) => x.a.effect !== 'deny')).toEqual([]);
  });

  it('finds no difference when the retyped cap is the same', { timeout: 60_000 }, async () => {
    const d = await semanticDiff(both(ACTIVE), both(SAME), { requestsPerAction: 400 });
    expect(d.differences).toEqual([]);
    expect(d.actions.find((a) => a.action === 'payments.refund')?.searched).toBe(400);
  });
});
