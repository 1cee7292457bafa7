// Issue 14 §1: the shadow set — evaluated beside the active set, off the answer's path.
import { afterAll, describe, expect, it } from 'vitest';
import type { DecisionRequest } from '@mandate/protocol';
import { createTestMandate, disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { eventsOfType, refundThreshold, writePolicyDir } from './helpers.js';

afterAll(disposeAll);

const noUpstreams = (raw: Record<string, unknown>) => {
  raw.gateway = { ...(raw.gateway as object), upstreams: [] };
};

describe.each(durableStoreKinds())('shadow policy set (%s)', (kind) => {
  it('records where the shadow decides otherwise, counts it, reports it, and never changes the answer', async () => {
    const t = await createTestMandate({ store: kind, config: noUpstreams });
    const api = client(t.url);

    // Admin only, validated like PUT /v1/policies.
    expectError(await api.put('/v1/policies/shadow', KEYS.alice, refundThreshold(100)), 403, 'forbidden');
    expectError(
      await api.put('/v1/policies/shadow', KEYS.admin, { policies: { 'x.cedar': 'permit (' }, schema: 's' }),
      422,
      'policy_invalid',
    );
    expectError(await api.get('/v1/policies/shadow', KEYS.admin), 404, 'not_found');

    // Candidate: refunds allowed only up to 100 (the active set allows up to 500).
    const put = ok200(await api.put('/v1/policies/shadow', KEYS.admin, refundThreshold(100)));
    expect(put.changed).toBe(true);
    const active = t.m.policies.active()!.version;
    expect(put.version).not.toBe(active);
    const got = ok200(await api.get('/v1/policies/shadow', KEYS.admin));
    expect(got.version).toBe(put.version);
    // The shadow never becomes the active set.
    expect(t.m.policies.active()!.version).toBe(active);

    // The answers are the active set's: 300 is allowed although the shadow would deny it.
    const big = ok200(await api.decide(KEYS.supportBot, refund(300)));
    expect(big.effect).toBe('allow');
    const small = ok200(await api.decide(KEYS.supportBot, refund(50)));
    expect(small.effect).toBe('allow');
    const read = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'crm.read_customer',
        args: { customerId: 'c-42' },
      }),
    );
    expect(read.effect).toBe('allow');
    await t.m.shadow.evaluator.drain();

    // Exactly one divergence: the 300 refund, with both outcomes and determining policies.
    const div = await eventsOfType(t.m.store, 'policy.shadow_divergence');
    expect(div).toHaveLength(1);
    expect(div[0]).toMatchObject({
      decisionId: big.decisionId,
      agent: 'support-bot',
      user: 'alice',
      action: 'payments.refund',
      data: {
        activeVersion: active,
        shadowVersion: put.version,
        active: { effect: 'allow', policies: ['refund-small', 'user-support-customers'] },
        shadow: {
          effect: 'approval_required',
          policies: ['refund-large-needs-finance', 'user-support-customers'],
        },
      },
    });
    expect(t.m.shadow.evaluator.stats()).toMatchObject({ evaluated: 3, diverged: 1, dropped: 0, failed: 0 });

    const metrics = await api.get('/metrics');
    // Counted under the policies that differ: the permit that stops applying and the one that starts.
    expect(metrics.text).toContain(
      'mandate_shadow_divergences_total{policy="refund-large-needs-finance",from="allow",to="approval_required"} 1',
    );
    expect(metrics.text).toContain(
      'mandate_shadow_divergences_total{policy="refund-small",from="allow",to="approval_required"} 1',
    );
    expect(metrics.text).not.toContain('policy="user-support-customers"');
    expect(metrics.text).toContain('mandate_shadow_evaluations_total 3');

    const report = ok200(await api.get('/v1/policies/shadow/report', KEYS.admin));
    expect(report).toMatchObject({ shadowVersion: put.version, divergences: 1, truncated: false });
    expect(report.groups).toEqual([
      {
        action: 'payments.refund',
        from: 'allow',
        to: 'approval_required',
        fromPolicies: ['refund-small', 'user-support-customers'],
        toPolicies: ['refund-large-needs-finance', 'user-support-customers'],
        count: 1,
        examples: [big.decisionId],
      },
    ]);
    expectError(await api.get('/v1/policies/shadow/report?since=yesterday', KEYS.admin), 400, 'bad_request');
    const later = ok200(
      await api.get(
        `/v1/policies/shadow/report?since=${encodeURIComponent('2999-01-01T00:00:00Z')}`,
        KEYS.admin,
      ),
    );
    expect(later.divergences).toBe(0);

    // Cleared: nothing is evaluated against it any more.
    expect(ok200(await api.del('/v1/policies/shadow', KEYS.admin))).toEqual({
      cleared: true,
      version: put.version,
    });
    expectError(await api.get('/v1/policies/shadow', KEYS.admin), 404, 'not_found');
    expect(ok200(await api.decide(KEYS.supportBot, refund(300))).effect).toBe('allow');
    await t.m.shadow.evaluator.drain();
    expect(await eventsOfType(t.m.store, 'policy.shadow_divergence')).toHaveLength(1);
    expect((await eventsOfType(t.m.store, 'policy.shadow_activated')).map((e) => e.data.version)).toEqual([
      put.version,
    ]);
    expect(await eventsOfType(t.m.store, 'policy.shadow_cleared')).toHaveLength(1);
  });

  it('a shadow set on one node is evaluated by every node on the store', async () => {
    const a = await createTestMandate({ store: kind, config: noUpstreams });
    const b = await createTestMandate({ store: kind, reuse: a, listen: false, config: noUpstreams });
    const { version } = await a.m.shadow.set.activate(refundThreshold(100), 'test');
    // Node B learns of it from the store (notification on PostgreSQL, the poll everywhere).
    const deadline = Date.now() + 5000;
    while (b.m.shadow.set.current()?.version !== version && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(b.m.shadow.set.current()?.version).toBe(version);

    const admin = { role: 'admin' as const, subject: null, keyId: 'test' };
    const out = await b.m.decisions.decide(refund(300) as unknown as DecisionRequest, admin);
    expect(out.decision.effect).toBe('allow');
    await b.m.shadow.evaluator.drain();
    const div = await eventsOfType(a.m.store, 'policy.shadow_divergence');
    expect(div.map((e) => e.decisionId)).toEqual([out.decision.decisionId]);

    // Cleared on A: B stops evaluating.
    await a.m.shadow.set.clear('test');
    const until = Date.now() + 5000;
    while (b.m.shadow.set.current() !== null && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    expect(b.m.shadow.set.current()).toBeNull();
  });

  it('a failing shadow never reaches the answer', async () => {
    const t = await createTestMandate({ store: kind, config: noUpstreams });
    await t.m.shadow.set.activate(refundThreshold(100), 'test');
    t.m.shadow.evaluator.observe = () => {
      throw new Error('shadow exploded');
    };
    const api = client(t.url);
    const out = ok200(await api.decide(KEYS.supportBot, refund(300)));
    expect(out.effect).toBe('allow');
    expect(out.errors).toEqual([]);
  });

  it.runIf(kind === 'sqlite')(
    'mandate policy shadow activate / report / clear',
    async () => {
      ensureBuilt();
      const t = await createTestMandate({ store: kind, config: noUpstreams });
      const dir = writePolicyDir(refundThreshold(100));
      const cli = (...args: string[]) => runCli([...args, '--config', t.configFile], { timeoutMs: 120_000 });
      const on = await cli('policy', 'shadow', 'activate', dir);
      expect(on.code, on.stderr).toBe(0);
      expect(on.stdout).toMatch(/^sha256:[0-9a-f]{64} is now the shadow set/);
      // The serving node picks it up from the store.
      const deadline = Date.now() + 5000;
      while (!t.m.shadow.set.current() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const big = ok200(await client(t.url).decide(KEYS.supportBot, refund(300)));
      await t.m.shadow.evaluator.drain();
      const report = await cli('policy', 'shadow', 'report', '--json');
      expect(report.code, report.stderr).toBe(0);
      expect(JSON.parse(report.stdout)).toMatchObject({
        divergences: 1,
        groups: [
          { action: 'payments.refund', from: 'allow', to: 'approval_required', examples: [big.decisionId] },
        ],
      });
      const off = await cli('policy', 'shadow', 'clear');
      expect(off.code, off.stderr).toBe(0);
      expect(off.stdout).toMatch(/^cleared shadow set sha256:/);
      expect(await t.m.store.getShadowPolicy()).toBeNull();
    },
    240_000,
  );
});
