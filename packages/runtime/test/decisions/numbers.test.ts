// Issue 8 §3: numbers mean one thing. A tool arg the policy schema declares `decimal` is handed to
// Cedar as a decimal; one it cannot hold exactly is refused naming the arg.
import { describe, expect, it } from 'vitest';
import { recordedReason, type MandateError } from '../../src/kernel/index.js';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String, owner?: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
type Money = decimal;
action "pay.send" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { amount: Money, fees?: Set<decimal>, memo?: String, count?: Long }, time: Time, intent?: String }
};
`;

const POLICIES = {
  'pay.cedar': `
@id("pay-up-to-500")
permit (principal is Agent, action == Action::"pay.send", resource)
when { context.args.amount.lessThanOrEqual(decimal("500.0")) };

@id("no-big-fees")
forbid (principal, action == Action::"pay.send", resource)
when { context.args has fees && context.args.fees.contains(decimal("99.9999")) };

@id("count-small")
forbid (principal, action == Action::"pay.send", resource)
when { context.args has count && context.args.count > 10 };
`,
};

const TOOLS = [
  {
    action: 'pay.send',
    inputSchema: {
      type: 'object',
      properties: {
        amount: { type: 'number' },
        fees: { type: 'array', items: { type: 'number' } },
        memo: { type: 'string' },
        count: { type: 'number' },
      },
      required: ['amount'],
    },
  },
];

describe('an arg declared decimal', () => {
  let shared: ReturnType<typeof decisionHarness> | undefined;
  const h = () => (shared ??= decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS }));

  it('given as an integer (37) is decided as decimal 37.0 — allowed, not a policy_error', async () => {
    const { decision, args } = await (await h()).decide('pay.send', { amount: 37 });
    expect(decision.errors).toEqual([]);
    expect(decision.effect).toBe('allow');
    // What is forwarded is still the JSON the caller sent.
    expect(args).toEqual({ amount: 37 });
  });

  it('given as an integer above the line (501) is denied by default, without errors', async () => {
    const { decision } = await (await h()).decide('pay.send', { amount: 501 });
    expect(decision.effect).toBe('deny');
    expect(decision.errors).toEqual([]);
  });

  it('with up to four decimals is decided exactly (500.0001 is over, 499.9999 is not)', async () => {
    expect((await (await h()).decide('pay.send', { amount: 499.9999 })).decision.effect).toBe('allow');
    expect((await (await h()).decide('pay.send', { amount: 500.0001 })).decision.effect).toBe('deny');
  });

  it('with five decimals is refused with 400 invalid_args naming args.amount (not a policy_error naming no policy)', async () => {
    const e = await (await h()).refusal('pay.send', { amount: 37.12345 });
    expect(e.code).toBe('invalid_args');
    expect(e.details?.path).toBe('args.amount');
    expect(e.message).toMatch(/^args\.amount: a number with more than 4 fractional digits/);
    expect(e.message).not.toContain('37.12345');
  });

  it('beyond the range of decimal is refused', async () => {
    const e = await (await h()).refusal('pay.send', { amount: 1e15 });
    expect(e.code).toBe('invalid_args');
    expect(e.details?.path).toBe('args.amount');
  });

  it('inside a set: integers are converted, so a forbid on a fee still matches', async () => {
    const ok = await (await h()).decide('pay.send', { amount: 10, fees: [1, 2.5] });
    expect(ok.decision.effect).toBe('allow');
    const forbidden = await (await h()).decide('pay.send', { amount: 10, fees: [1, 99.9999] });
    expect(forbidden.decision.effect).toBe('deny');
    expect(forbidden.decision.reasons.map((r) => r.policyId)).toEqual(['no-big-fees']);
    const e = await (await h()).refusal('pay.send', { amount: 10, fees: [1, 0.123456] });
    expect(e.details?.path).toBe('args.fees[1]');
  });
});

describe('a refusal by schema type names the arg, never the value', () => {
  // A probe: `args.count: 4711.5 is not an integer` was the reason recorded in the hashed, unerasable
  // request.refused event, so an arg redaction keeps out of every record (a pin typed Long) was
  // written there when it was refused.
  it.each([
    ['a fraction where Long is declared', { amount: 1, count: 4711.5 }, 'args.count', '4711'],
    ['five decimals where decimal is declared', { amount: 4711.12345 }, 'args.amount', '4711'],
    ['beyond the range of decimal', { amount: 4711e12 }, 'args.amount', '4711'],
  ])('%s', async (_, args, path, value) => {
    const h = await decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS });
    const e = await h.refusal('pay.send', args);
    expect(e.code).toBe('invalid_args');
    expect(e.details?.path).toBe(path);
    expect(recordedReason(e as MandateError)).toMatch(new RegExp(`^${path.replace('.', '\\.')}: a number`));
    expect(recordedReason(e as MandateError)).not.toContain(value);
    expect(e.message).not.toContain(value);
  });
});

describe('a schema refusal is recorded by the schema place, not the keys the call used', () => {
  it('a bad value under a map key: the caller is told the key, the record says [*]', async () => {
    // A probe: `args.headers.x-session-4f9a2c7e1b: must be string` was the recorded reason, the
    // map's key (a session token, say) in the hashed, unerasable request.refused event.
    const tools = [
      {
        action: 'pay.send',
        inputSchema: {
          type: 'object',
          properties: {
            amount: { type: 'number' },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
          },
          required: ['amount'],
        },
      },
    ];
    const h = await decisionHarness({ schema: SCHEMA, policies: POLICIES, tools });
    const e = await h.refusal('pay.send', { amount: 1, headers: { 'x-session-4f9a2c7e1b': 1 } });
    expect(e.code).toBe('invalid_args');
    expect(e.message).toBe('args.headers.x-session-4f9a2c7e1b: must be string');
    expect(recordedReason(e as MandateError)).toBe('args.headers[*]: must be string');
    const missing = await h.refusal('pay.send', {});
    expect(recordedReason(missing as MandateError)).toBe("args.amount: must have required property 'amount'");
  });
});

describe('an arg declared Long given a fraction', () => {
  it('is refused with 400 invalid_args naming it (the allow next to it: an integer)', async () => {
    const h = await decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS });
    expect((await h.decide('pay.send', { amount: 1, count: 3 })).decision.effect).toBe('allow');
    expect((await h.decide('pay.send', { amount: 1, count: 11 })).decision.effect).toBe('deny');
    const e = await h.refusal('pay.send', { amount: 1, count: 10.5 });
    expect(e.code).toBe('invalid_args');
    expect(e.details?.path).toBe('args.count');
  });
});
