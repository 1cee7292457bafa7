// A value of another type than the policy schema declares for it in `context.args` is refused, as
// Cedar's own request validation would refuse it (text where ipaddr, datetime or duration is
// declared is read as such, as Cedar reads JSON by its schema; an entity-typed arg is refused). It was handed to the engine as it came: Cedar
// compares values of different types as unequal without an error, so a forbid-by-inequality policy
// (`context.args.to != "ceo@acme.example"`) allowed `["ceo@acme.example"]`, `{"addr": …}` or 42 for
// a tool whose JSON schema left `to` untyped — the ordinary case for MCP tools, whose input schemas
// the gateway takes from the upstream (found by a black-box probe, 2026-12-01).
import { describe, expect, it } from 'vitest';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
namespace Acme { entity Team; }
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
type Mail = {
  to: String, cc?: Set<String>, urgent?: Bool, team?: Acme::Team, from?: ipaddr,
  meta?: { tag: String }
};
action "mail.send" appliesTo {
  principal: [Agent, User], resource: Tool, context: { args: Mail, time: Time, intent?: String }
};
`;

const POLICIES = {
  'mail.cedar': `
@id("mail-not-ceo")
permit (principal is Agent, action == Action::"mail.send", resource)
when {
  context.args.to != "ceo@acme.example" &&
  !(context.args has cc && context.args.cc.contains("ceo@acme.example")) &&
  !(context.args has urgent && context.args.urgent == true) &&
  !(context.args has team && context.args.team == Acme::Team::"board") &&
  !(context.args has from && context.args.from == ip("10.0.0.1")) &&
  !(context.args has meta && context.args.meta.tag == "secret")
};
`,
};

// As an upstream MCP server might declare it: nothing typed.
const TOOLS = [{ action: 'mail.send', inputSchema: { type: 'object' } }];

const ceo = 'ceo@acme.example';

describe('an arg of another type than the policy schema declares', () => {
  let shared: ReturnType<typeof decisionHarness> | undefined;
  const h = () => (shared ??= decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS }));

  it('the allow and the deny of well-typed args', async () => {
    expect((await (await h()).decide('mail.send', { to: 'bob@acme.example' })).decision.effect).toBe('allow');
    expect((await (await h()).decide('mail.send', { to: ceo })).decision.effect).toBe('deny');
    const typed = {
      to: 'bob@acme.example',
      cc: ['ann@acme.example'],
      urgent: false,
      from: '10.0.0.2',
      meta: { tag: 'plain' },
    };
    expect((await (await h()).decide('mail.send', typed)).decision.effect).toBe('allow');
    for (const [k, v] of [
      ['cc', [ceo]],
      ['urgent', true],
      ['from', '10.0.0.1'],
      ['meta', { tag: 'secret' }],
    ] as const) {
      expect((await (await h()).decide('mail.send', { ...typed, [k]: v })).decision.effect, k).toBe('deny');
    }
  });

  it('is refused with 400 invalid_args naming it, never decided (each of these was allowed)', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ to: [ceo] }, 'args.to', /declares String; got an array/],
      [{ to: { addr: ceo } }, 'args.to', /declares String; got an object/],
      [{ to: 42 }, 'args.to', /declares String; got a whole number/],
      [{ to: null }, 'args.to', /declares String; got null/],
      [{ to: 'x', cc: ceo }, 'args.cc', /declares a Set/],
      [{ to: 'x', cc: [[ceo]] }, 'args.cc[0]', /declares String/],
      [{ to: 'x', urgent: 'true' }, 'args.urgent', /declares Bool/],
      // An entity named by an arg would reach Cedar without its parents or attributes: refused.
      [
        { to: 'x', team: 'board' },
        'args.team',
        /declares an entity \(Acme::Team\); args cannot name entities/,
      ],
      [{ to: 'x', team: ['board'] }, 'args.team', /args cannot name entities/],
      [{ to: 'x', from: 167772161 }, 'args.from', /declares ip \(its text\); got a whole number/],
      [{ to: 'x', meta: 'secret' }, 'args.meta', /declares a record/],
      [{ to: 'x', meta: { tag: ['secret'] } }, 'args.meta.tag', /declares String/],
    ];
    for (const [args, path, message] of cases) {
      const e = await (await h()).refusal('mail.send', args);
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.details?.path, JSON.stringify(args)).toBe(path);
      expect(e.message, JSON.stringify(args)).toMatch(message);
    }
  });

  it('an attribute the schema does not declare is left alone', async () => {
    const { decision } = await (
      await h()
    ).decide('mail.send', { to: 'bob@acme.example', extra: [1, { a: 2 }] });
    expect(decision.effect).toBe('allow');
  });
});
