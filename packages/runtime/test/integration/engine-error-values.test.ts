// Found by a black-box probe: Cedar's evaluation errors quote the value they failed on, and the
// decision's `errors` are hashed into the chain. An arg redacted on the record (or kept aside as
// personal data, erasable) came back through `policy_error`'s message.
import { afterAll, describe, expect, it } from 'vitest';
import { createWithTool, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, ok200 } from '../fixtures/http.js';

afterAll(disposeAll);

const TYPES = `
entity Tool;
action "net.check" appliesTo {
  principal: [Agent, User], resource: Tool, context: { args: { addr: ipaddr }, time: Time, intent?: String }
};
`;
const POLICY = `@id("private-only") permit (principal is Agent, action == Action::"net.check", resource)
when { context.args.addr.isInRange(ip("10.0.0.0/8")) };`;

describe('an engine error about a redacted arg', () => {
  it.each(['cedar', 'compiled'] as const)(
    'is a policy_error on the record without the value (%s engine); a readable address is decided',
    async (engine) => {
      const t = await createWithTool(engine, {
        action: 'net.check',
        description: 'Check a host.',
        redact: ['addr'],
      });
      const api = client(t.url);
      const src = examplePolicySource();
      src.schema += TYPES;
      delete src.policies['guardrails.cedar'];
      src.policies['net.cedar'] = POLICY;
      ok200(await api.put('/v1/policies', KEYS.admin, src));
      const check = (addr: string) => ({ agent: 'support-bot', action: 'net.check', args: { addr } });

      const ok = ok200(await api.decide(KEYS.supportBot, check('10.1.2.3')));
      expect(ok.effect, JSON.stringify(ok)).toBe('allow');
      const secret = 'sk_live_LEAKIP40abcdefgh';
      const d = ok200(await api.decide(KEYS.supportBot, check(secret)));
      expect(d.effect).toBe('deny');
      expect(d.errors.map((e: { code: string }) => e.code)).toContain('policy_error');
      expect(JSON.stringify(d.errors), 'the answer').not.toContain(secret);
      const records = await t.m.store.queryAudit({ decisionId: d.decisionId, limit: 10 });
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) expect(r.eventText, 'the hashed record').not.toContain(secret);
      // The error still says what went wrong, without the value.
      expect(JSON.stringify(d.errors)).toContain('[VALUE]');
    },
  );
});
