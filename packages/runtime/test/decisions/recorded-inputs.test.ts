// The recorded policy inputs (`data.policyInputs`, ADR 0025) and the event's redacted `args` and
// `intent` are computed once per decision: the args copy is reused for the record when the engine
// saw the args unconverted, the replaced paths are noted while redacting (Redactor.tracking), and
// the intent is redacted once. Each must equal the direct computation: a plain redactor whose
// replaced paths are found by comparing input and copy, the intent redacted for each use.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String, owner?: String, token?: String, badge?: Long };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
action "pay.send" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { amount: decimal, note?: String }, time: Time, intent?: String }
};
action "note.write" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { text: String }, time: Time, intent?: String }
};
`;

const POLICIES = {
  'p.cedar': `
@id("pay") permit (principal is Agent, action == Action::"pay.send", resource)
when { context.args.amount.lessThanOrEqual(decimal("500.0")) && principal has token && principal has badge };
@id("note") permit (principal is Agent, action == Action::"note.write", resource);
`,
};

const TOOLS = [
  {
    action: 'pay.send',
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'number' }, note: { type: 'string' }, card: {}, apiKey: {}, nested: {} },
      required: ['amount'],
    },
  },
  {
    action: 'note.write',
    redact: ['nested.*.pin'],
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, additionalProperties: true },
  },
];

const AGENT = {
  id: 'files-bot',
  roles: ['files'],
  status: 'active',
  // Read by the policies, so recorded: a secret-shaped string and a card-shaped number are redacted.
  attributes: { token: 'sk-abcdefghijklmnopqrstuvwx', badge: 4111111111111111, name: 'unread' },
};

const CASES: [string, Record<string, unknown>, string | undefined][] = [
  [
    'pay.send',
    { amount: 37, note: 'sk-abcdefghijklmnopqrstuvwx', apiKey: 'k', card: '4111 1111 1111 1111' },
    'x',
  ],
  [
    'pay.send',
    { amount: 12.5, nested: { password: '[REDACTED:secret]', ok: [1, 'ghp_' + 'a'.repeat(36)] } },
    undefined,
  ],
  [
    'note.write',
    { text: 'hello', card: { number: '4111111111111111' }, nested: [{ pin: 1 }, { pin: '[REDACTED]' }] },
    'pay with 4111 1111 1111 1111',
  ],
  ['note.write', { text: 'plain' }, 'Bearer abcdef1234567890'],
  ['note.write', { text: 'plain', secret: null, token: true }, 'nothing secret'],
];

/** The event without what differs between two runs (ids, clocks, latency). */
function comparable(e: AuditEvent) {
  const { decisionId: _d, ...rest } = e;
  const { latencyUs: _l, ...data } = e.data as Record<string, unknown>;
  return JSON.stringify({ ...rest, data });
}

async function run(plainRedactor: boolean, redactPaths: string[]) {
  const h = await decisionHarness({
    schema: SCHEMA,
    policies: POLICIES,
    tools: TOOLS,
    entities: { agents: [AGENT as never] },
    redactPaths,
    plainRedactor,
  });
  for (const [action, args, intent] of CASES) {
    await h.decide(action, args, intent === undefined ? {} : { intent });
  }
  return h.events.filter((e) => e.type === 'decision');
}

describe('recorded policy inputs: computed once, equal to the direct computation', () => {
  for (const paths of [[], ['note', 'card.number'], ['*']]) {
    it(`audit.redact ${JSON.stringify(paths)}: same events with a tracking and a plain redactor`, async () => {
      const [tracked, direct] = await Promise.all([run(false, paths), run(true, paths)]);
      expect(tracked).toHaveLength(CASES.length);
      expect(tracked.map(comparable)).toEqual(direct.map(comparable));
      // Something was redacted in each, so the comparison is not of empty lists.
      for (const e of tracked) {
        const rec = e.data.policyInputs as { redacted: string[] };
        expect(rec.redacted.length, e.action).toBeGreaterThan(0);
      }
    });
  }

  it('the recorded paths name what was replaced (args reused, converted args, entities, intent)', async () => {
    const [pay, payDecimal, note, , nothing] = await run(false, ['card.number']);
    const red = (e: AuditEvent | undefined) => (e!.data.policyInputs as { redacted: string[] }).redacted;
    expect(pay!.effect).toBe('allow');
    // In the args' key order, which is the call hash's (decisions/args-keys.ts), not the agent's.
    expect(red(pay)).toEqual([
      'context.args.apiKey',
      'context.args.card',
      'context.args.note',
      'entities.Agent::files-bot.token',
      'entities.Agent::files-bot.badge',
    ]);
    expect(red(payDecimal)).toEqual([
      'context.args.nested.ok.1',
      'entities.Agent::files-bot.token',
      'entities.Agent::files-bot.badge',
    ]);
    expect(red(note)).toEqual([
      'context.args.card.number',
      'context.args.nested.0.pin',
      'context.intent',
      'entities.Agent::files-bot.token',
      'entities.Agent::files-bot.badge',
    ]);
    // A null or boolean under a secret name is kept, so nothing of the args is listed.
    expect(red(nothing)).toEqual(['entities.Agent::files-bot.token', 'entities.Agent::files-bot.badge']);
    // Reused for the record only when the engine saw the args as sent (no decimal converted).
    const rec = (e: AuditEvent | undefined) => e!.data.policyInputs as { context: { args: unknown } };
    expect(rec(note).context.args).toEqual(note!.data.args);
    expect(rec(pay).context.args).toEqual({
      ...(pay!.data.args as object),
      amount: { __extn: { fn: 'decimal', arg: '37.0' } },
    });
    expect(note!.data.intent).toBe('pay with [REDACTED:secret]');
    expect((rec(note) as { context: { intent?: string } }).context.intent).toBe('pay with [REDACTED:secret]');
  });
});
