// Records the policy schema declares are closed, in args and in entity attributes, through the
// HTTP API and with either engine. A black-box probe (2026-12-01) found two wrong allows:
// - an attribute the schema does not declare inside a declared record was handed to Cedar, so the
//   record no longer equalled the one a policy names: `forbid … when { context.args.target ==
//   {"kind":"db","id":"prod"} }` (or `.targets.contains(…)`) did not fire for `{"kind":"db",
//   "id":"prod","x":1}`, nor `principal.profile == {…}` for a stored profile with an extra key.
//   Cedar's own request validation refuses such a request ("record attribute `x` should not exist
//   according to the schema");
// - a declared record attribute named `__proto__` was never type-checked (the schema's resolver
//   set the prototype instead of declaring it), so `{"__proto__": ["root"]}` passed and a forbid
//   on `r["__proto__"] == "root"` did not fire.
import { afterAll, describe, expect, it } from 'vitest';
import { createWithTool, disposeAll, exampleEntities, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, reasonIds } from '../fixtures/http.js';

afterAll(disposeAll);

const TYPES = `
type Target = { kind: String, id: String };
type Touch = {
  target?: Target, targets?: Set<Target>, r?: { "__proto__": String, a: String },
  opt?: { need: String, maybe?: Long }
};
entity Tool;
action "ops.touch" appliesTo {
  principal: [Agent, User], resource: Tool, context: { args: Touch, time: Time, intent?: String }
};
`;

const POLICIES = `
@id("touch") permit (principal is Agent, action == Action::"ops.touch", resource);
@id("no-prod") forbid (principal, action == Action::"ops.touch", resource)
when { context.args has target && context.args.target == {"kind": "db", "id": "prod"} };
@id("no-prod-in-set") forbid (principal, action == Action::"ops.touch", resource)
when { context.args has targets && context.args.targets.contains({"kind": "db", "id": "prod"}) };
@id("no-root") forbid (principal, action == Action::"ops.touch", resource)
when { context.args has r && context.args.r["__proto__"] == "root" };
@id("no-maybe-9") forbid (principal, action == Action::"ops.touch", resource)
when { context.args has opt && context.args.opt has maybe && context.args.opt.maybe == 9 };
@id("no-red-1") forbid (principal, action == Action::"ops.touch", resource)
when { principal has profile && principal.profile == {"level": 1, "team": "red"} };
`;

/** The example set, with `ops.touch` and an agent `profile` record declared. */
function source() {
  const src = examplePolicySource();
  const agent = /entity Agent = \{([^}]*)\};/;
  expect(src.schema).toMatch(agent);
  src.schema =
    src.schema.replace(agent, 'entity Agent = {$1, profile?: { level: Long, team: String } };') + TYPES;
  // Its guardrails read `resource.tags`, which a Tool (the resource of a tool without a mapping) has not.
  delete src.policies['guardrails.cedar'];
  src.policies['touch.cedar'] = POLICIES;
  return src;
}

const supportBot = () => exampleEntities().agents.find((a) => a.id === 'support-bot')!;

describe.each(['cedar', 'compiled'] as const)('declared records are closed (engine %s)', (engine) => {
  async function mandate() {
    const t = await createWithTool(engine, { action: 'ops.touch', description: 'Touch a target.' });
    return { t, api: client(t.url) };
  }
  const touch = (args: Record<string, unknown>) => ({ agent: 'support-bot', action: 'ops.touch', args });

  it('args: an undeclared attribute inside a declared record is 400 invalid_args naming it (each was an allow)', async () => {
    const { t, api } = await mandate();
    ok200(await api.put('/v1/policies', KEYS.admin, source()));

    // The legitimate cases decide as before.
    const decide = async (args: Record<string, unknown>) =>
      ok200(await api.decide(KEYS.supportBot, touch(args)));
    const prod = { kind: 'db', id: 'prod' };
    const staging = { kind: 'db', id: 'staging' };
    expect((await decide({})).effect).toBe('allow');
    expect((await decide({ target: staging })).effect).toBe('allow');
    expect(reasonIds(await decide({ target: prod }))).toEqual(['no-prod']);
    expect((await decide({ targets: [staging] })).effect).toBe('allow');
    expect(reasonIds(await decide({ targets: [staging, prod] }))).toEqual(['no-prod-in-set']);
    expect((await decide({ opt: { need: 'x' } })).effect).toBe('allow'); // `maybe` is optional
    expect((await decide({ opt: { need: 'x', maybe: 3 } })).effect).toBe('allow');
    expect(reasonIds(await decide({ opt: { need: 'x', maybe: 9 } }))).toEqual(['no-maybe-9']);
    // A top-level arg the schema does not declare is left alone (the tool's JSON schema governs it).
    expect((await decide({ target: staging, extra: { x: 1 } })).effect).toBe('allow');

    for (const [args, path] of [
      [{ target: { ...prod, x: 1 } }, 'args.target.x'],
      [{ targets: [staging, { ...prod, x: 1 }] }, 'args.targets[1].x'],
      [{ opt: { need: 'x', maybe: 9, other: true } }, 'args.opt.other'],
    ] as const) {
      const res = await api.post('/v1/decisions', KEYS.supportBot, touch(args));
      expect(res.body.effect, `decided: ${res.text}`).toBeUndefined();
      expectError(res, 400, 'invalid_args');
      expect(res.body.error.message, JSON.stringify(args)).toBe(`${path}: not declared by the schema`);
      expect(res.body.error.details, JSON.stringify(args)).toEqual({ path });
    }
    // The caller's key is not written into the hashed record (it may be a secret).
    const secretKey = 'sk_live_UNDECLARED77abcdef';
    const res = await api.post(
      '/v1/decisions',
      KEYS.supportBot,
      touch({ target: { ...prod, [secretKey]: 1 } }),
    );
    expect(res.body.error.message).toBe(`args.target.${secretKey}: not declared by the schema`);
    const refused = await t.m.store.queryAudit({ type: 'request.refused', limit: 100 });
    const last = JSON.parse(refused.at(-1)!.eventText) as { data: { reason: string } };
    expect(last.data.reason).toBe('args.target: an attribute not declared by the schema');
    expect(refused.some((r) => r.eventText.includes('UNDECLARED77'))).toBe(false);
  });

  it('args: a declared attribute named __proto__ is type-checked like any other', async () => {
    const { api } = await mandate();
    ok200(await api.put('/v1/policies', KEYS.admin, source()));
    const decide = async (raw: string) =>
      api.request('POST', '/v1/decisions', {
        key: KEYS.supportBot,
        raw: `{"agent":"support-bot","action":"ops.touch","args":{"r":${raw}}}`,
      });
    expect(ok200(await decide('{"__proto__":"user","a":"x"}')).effect).toBe('allow');
    expect(reasonIds(ok200(await decide('{"__proto__":"root","a":"x"}')))).toEqual(['no-root']);

    const mistyped = await decide('{"__proto__":["root"],"a":"x"}');
    expect(mistyped.body.effect, `decided: ${mistyped.text}`).toBeUndefined();
    expectError(mistyped, 400, 'invalid_args');
    expect(mistyped.body.error.message).toBe(
      'args.r.__proto__: the policy schema declares String; got an array',
    );
    // The other attribute of the same record was, and is, checked.
    expectError(await decide('{"__proto__":"user","a":["root"]}'), 400, 'invalid_args');
  });

  it('entities: an undeclared attribute inside a declared record attribute is refused, and denies', async () => {
    const { t, api } = await mandate();
    const bot = supportBot();
    const withProfile = (profile: Record<string, unknown>) => ({
      agents: [{ ...bot, attributes: { ...bot.attributes, profile } }],
    });
    // Stored while the schema declares no `profile`: accepted, as it is today.
    ok200(await api.put('/v1/entities', KEYS.admin, withProfile({ level: 1, team: 'red', since: 2020 })));
    ok200(await api.put('/v1/policies', KEYS.admin, source()));

    // Each decision checks against the set in force: denied, invalid_entity naming the attribute.
    const d = ok200(await api.decide(KEYS.supportBot, touch({})));
    expect(d.effect).toBe('deny');
    expect(d.errors).toEqual([
      {
        code: 'invalid_entity',
        message: 'entity Agent::"support-bot" attribute profile.since: not declared by the policy schema',
      },
    ]);

    // PUT /v1/entities refuses it at once against the active set; nothing is stored.
    const bad = await api.put('/v1/entities', KEYS.admin, withProfile({ level: 2, team: 'blue', since: 1 }));
    expectError(bad, 400, 'invalid_entity');
    expect(bad.body.error.message).toMatch(/attribute profile\.since: not declared by the policy schema/);
    expect((await t.m.store.getAgent('support-bot'))!.attributes.profile).toEqual({
      level: 1,
      team: 'red',
      since: 2020,
    });

    // The legitimate records decide as before.
    ok200(await api.put('/v1/entities', KEYS.admin, withProfile({ level: 1, team: 'red' })));
    expect(reasonIds(ok200(await api.decide(KEYS.supportBot, touch({}))))).toEqual(['no-red-1']);
    ok200(await api.put('/v1/entities', KEYS.admin, withProfile({ level: 2, team: 'red' })));
    expect(ok200(await api.decide(KEYS.supportBot, touch({}))).effect).toBe('allow');
  });
});
