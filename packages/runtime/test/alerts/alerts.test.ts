// Issue 12 §2: alert rules over the audit stream — each rule firing and not firing, alerts as audit
// events (so they reach the sinks), a Slack-compatible webhook, acknowledgement and audited mutes.
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { AlertRuleSchema, AlertsSchema, type AlertRule } from '../../src/config/alerts-schema.js';
import { createRuleEngine } from '../../src/alerts/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund, type Json } from '../fixtures/http.js';

afterAll(disposeAll);

const rule = (r: Record<string, unknown>): AlertRule => AlertRuleSchema.parse(r);
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const decision = (ms: number, over: Partial<AuditEvent> = {}, errors: string[] = []): AuditEvent => ({
  type: 'decision',
  time: at(ms),
  nodeId: 'n',
  agent: 'bot',
  action: 'payments.refund',
  effect: 'deny',
  data: { errors: errors.map((code) => ({ code, message: code })) },
  ...over,
});

/** Feeds events in order; returns the rules that fired, with the seq of the record that tipped each. */
function feed(
  rules: AlertRule[],
  events: AuditEvent[],
): { rule: string; agent: string | null; seq: number }[] {
  const engine = createRuleEngine(rules);
  return events.flatMap((e, i) =>
    engine.observe(i + 1, e).map((a) => ({ rule: a.rule, agent: a.agent, seq: a.triggerSeq })),
  );
}

describe('alert rules', () => {
  it('deny_spike fires once when an agent’s denies in a window reach the line over its own baseline, not below it', () => {
    const r = rule({
      name: 'spike',
      type: 'deny_spike',
      windowSeconds: 60,
      minDenies: 10,
      factor: 3,
      baselineWindows: 10,
    });
    const events: AuditEvent[] = [];
    // Ten quiet minutes: 4 denies a minute for `bot` (baseline 4 → the line is 12), 1 for `calm`.
    for (let w = 0; w < 10; w++)
      for (let k = 0; k < 4; k++) events.push(decision(w * 60_000 + k * 1000, k === 0 ? {} : {}));
    for (let w = 0; w < 10; w++) events.push(decision(w * 60_000 + 5000, { agent: 'calm' }));
    events.sort((a, b) => a.time.localeCompare(b.time));
    expect(feed([r], events)).toEqual([]);
    // Minute 11: `bot` gets 11 denies (below 3 × 4 = 12: no alert), `calm` 10 (its line is max(10, 3)): alert.
    const spike: AuditEvent[] = [];
    for (let k = 0; k < 11; k++) spike.push(decision(600_000 + k * 100));
    for (let k = 0; k < 10; k++) spike.push(decision(600_000 + 5000 + k * 100, { agent: 'calm' }));
    const fired = feed([r], [...events, ...spike]);
    expect(fired).toEqual([{ rule: 'spike', agent: 'calm', seq: events.length + 21 }]);
    // The twelfth deny of `bot` in that minute crosses its line: exactly one alert, not one per deny.
    const more = [...events, ...spike, decision(600_000 + 9000), decision(600_000 + 9100)];
    expect(feed([r], more).filter((a) => a.agent === 'bot')).toEqual([
      { rule: 'spike', agent: 'bot', seq: events.length + 22 },
    ]);
  });

  it('policy_error fires on a decision that carries one, not on an ordinary deny', () => {
    const r = rule({ name: 'perr', type: 'policy_error' });
    expect(feed([r], [decision(0), decision(1, {}, ['no_grant'])])).toEqual([]);
    expect(feed([r], [decision(0), decision(1, {}, ['policy_error'])])).toEqual([
      { rule: 'perr', agent: 'bot', seq: 2 },
    ]);
  });

  it('approval_flood fires on the request past the maximum in a window, not at the maximum', () => {
    const r = rule({ name: 'flood', type: 'approval_flood', windowSeconds: 300, max: 3 });
    const asks = (n: number) =>
      Array.from({ length: n }, (_, i) => decision(i * 1000, { effect: 'approval_required' }));
    expect(feed([r], asks(3))).toEqual([]);
    expect(feed([r], asks(6))).toEqual([{ rule: 'flood', agent: 'bot', seq: 4 }]);
    // Spread over two windows, three each: no flood.
    const spread = [
      ...asks(3),
      ...asks(3).map((e) => ({ ...e, time: at(Date.parse(e.time) - T0 + 300_000) })),
    ];
    expect(feed([r], spread)).toEqual([]);
    // Dry runs (`mandate check`) request no approval: they are no flood.
    const dry = asks(6).map((e) => ({ ...e, data: { ...e.data, dryRun: true } }));
    expect(feed([r], dry)).toEqual([]);
  });

  it('tool_quarantined, audit_verification_failed and suspended_agent_calling fire on their events only', () => {
    const rules = [
      rule({ name: 'q', type: 'tool_quarantined' }),
      rule({ name: 'v', type: 'audit_verification_failed' }),
      rule({ name: 's', type: 'suspended_agent_calling' }),
    ];
    const other: AuditEvent[] = [
      { type: 'tool.pinned', time: at(0), nodeId: 'n', data: { server: 'x', tool: 'y' } },
      decision(1, {}, ['no_grant']),
      decision(2, { effect: 'allow' }),
    ];
    expect(feed(rules, other)).toEqual([]);
    const hits: AuditEvent[] = [
      { type: 'tool.quarantined', time: at(0), nodeId: 'n', data: { server: 'x', tool: 'y' } },
      { type: 'audit.verify_failed', time: at(1), nodeId: 'n', data: {} },
      decision(2, {}, ['agent_suspended']),
    ];
    expect(feed(rules, hits)).toEqual([
      { rule: 'q', agent: null, seq: 1 },
      { rule: 'v', agent: null, seq: 2 },
      { rule: 's', agent: 'bot', seq: 3 },
    ]);
  });
});

describe('alerts through the API', () => {
  it('the alert webhook follows no redirect: the signed alert goes nowhere else, and no URL carries credentials', async () => {
    // A second-round probe: a 307 re-posted the signed alert to another origin.
    const elsewhere: string[] = [];
    const other = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        elsewhere.push(req.method ?? '');
        res.end('ok');
      });
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}/catch`;
    let redirected = 0;
    const hook = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        redirected++;
        res.writeHead(307, { location: otherUrl }).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/alerts`;
      const t = await createTestMandate({
        config: (c) => {
          c.alerts = {
            rules: [
              { name: 'flood', type: 'approval_flood', windowSeconds: 3600, max: 1, cooldownSeconds: 0 },
            ],
            webhook: { url: hookUrl, format: 'json', secret: 'x'.repeat(32) },
          };
        },
      });
      const api = client(t.url);
      for (const amount of [900, 901])
        expect((await api.decide(KEYS.supportBot, refund(amount))).body.effect).toBe('approval_required');
      for (let i = 0; i < 100 && redirected === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(redirected).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(elsewhere).toEqual([]);
      expect(() =>
        AlertsSchema.parse({ rules: [], webhook: { url: 'https://ops:pw-12345@hooks.example/x' } }),
      ).toThrow(/must not carry credentials/);
    } finally {
      hook.close();
      other.close();
    }
  });

  it('fires as an audit event and a Slack-compatible webhook; acknowledged once; a mute (with its reason on the record) silences it; unmute restores', async () => {
    const posts: Json[] = [];
    const hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        posts.push(JSON.parse(b));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/slack`;
    const t = await createTestMandate({
      config: (c) => {
        c.alerts = {
          rules: [
            { name: 'refund-flood', type: 'approval_flood', windowSeconds: 3600, max: 2, cooldownSeconds: 0 },
          ],
          webhook: { url: hookUrl, format: 'slack' },
        };
      },
    });
    const api = client(t.url);
    const waitFor = async <T>(f: () => Promise<T | undefined>, what: string): Promise<T> => {
      for (let i = 0; i < 100; i++) {
        const v = await f();
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const openAlerts = async () => (await api.get('/v1/alerts?status=open', KEYS.admin)).body.items as Json[];

    // Two large refunds wait for approval: at the maximum, no alert.
    for (let i = 0; i < 2; i++)
      expect((await api.decide(KEYS.supportBot, refund(900 + i))).body.effect).toBe('approval_required');
    await new Promise((r) => setTimeout(r, 600));
    expect(await openAlerts()).toEqual([]);
    // The third is past it: one alert.
    await api.decide(KEYS.supportBot, refund(903));
    const [alert] = await waitFor(
      async () => ((await openAlerts()).length ? await openAlerts() : undefined),
      'the alert',
    );
    expect(alert).toMatchObject({
      rule: 'refund-flood',
      ruleType: 'approval_flood',
      agent: 'support-bot',
      acknowledged: null,
    });
    // On the audit trail (hence in every sink), and posted in Slack's shape.
    const fired = await api.get('/v1/audit?type=alert.fired', KEYS.admin);
    expect(fired.body.items.map((r: Json) => r.event.data.alertId)).toEqual([alert.alertId]);
    await waitFor(async () => (posts.length ? true : undefined), 'the webhook');
    expect(posts[0].text).toContain('refund-flood');

    // Only admins see or act on alerts.
    expectError(await api.get('/v1/alerts', KEYS.supportBot), 403, 'forbidden');
    // The comment is free text on the hashed record: a secret pasted into it is redacted there.
    const ack = await api.post(`/v1/alerts/${alert.alertId}/acknowledge`, KEYS.admin, {
      comment: 'looking, key sk_live_ALERTLEAK12345abcdef',
    });
    expect(ack.status).toBe(200);
    expect(ack.body.acknowledged.comment).toMatch(/^looking, key \[REDACTED/);
    const acked = await api.get('/v1/audit?type=alert.acknowledged', KEYS.admin);
    expect(acked.text).toContain('looking, key [REDACTED');
    expect(acked.text).not.toContain('ALERTLEAK');
    expectError(await api.post(`/v1/alerts/${alert.alertId}/acknowledge`, KEYS.admin, {}), 409, 'conflict');
    expectError(await api.post('/v1/alerts/alr_nope/acknowledge', KEYS.admin, {}), 404, 'not_found');
    expect(await openAlerts()).toEqual([]);

    // A mute needs a reason; it is an audit event with it.
    expectError(
      await api.post('/v1/alerts/mutes', KEYS.admin, { rule: 'refund-flood', agent: 'support-bot' }),
      400,
      'bad_request',
    );
    const mute = await api.post('/v1/alerts/mutes', KEYS.admin, {
      rule: 'refund-flood',
      agent: 'support-bot',
      reason: 'load test today',
    });
    expect(mute.status).toBe(201);
    const muted = await api.get('/v1/audit?type=alert.muted', KEYS.admin);
    expect(muted.body.items[0].event.data).toMatchObject({
      rule: 'refund-flood',
      agent: 'support-bot',
      reason: 'load test today',
    });
    await api.decide(KEYS.supportBot, refund(904));
    await new Promise((r) => setTimeout(r, 800));
    expect((await api.get('/v1/alerts', KEYS.admin)).body.items).toHaveLength(1);

    // Unmuted, the next request past the maximum fires again.
    expect(
      (await api.post('/v1/alerts/unmute', KEYS.admin, { rule: 'refund-flood', agent: 'support-bot' }))
        .status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    await api.decide(KEYS.supportBot, refund(905));
    await waitFor(
      async () => ((await openAlerts()).length === 1 ? true : undefined),
      'the alert after unmute',
    );
    await new Promise<void>((r) => hook.close(() => r()));
  });
});
