import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, exampleEntities, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, ok200, refund } from '../fixtures/http.js';

afterAll(disposeAll);

/** The example's support-bot with another status. */
function supportBot(status: 'active' | 'suspended') {
  const a = exampleEntities().agents.find((x) => x.id === 'support-bot')!;
  return { ...a, status };
}

describe('suspension takes effect on the next request', () => {
  it('denies a suspended agent with agent_suspended and allows it again once reactivated', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

    expect(ok200(await api.put('/v1/entities', KEYS.admin, { agents: [supportBot('suspended')] }))).toEqual({
      agents: 1,
      users: 0,
      resources: 0,
    });
    const denied = ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(denied.effect).toBe('deny');
    expect(codes(denied)).toEqual(['agent_suspended']);
    // Other agents are untouched.
    const hr = ok200(
      await api.decide(KEYS.hrBot, {
        agent: 'hr-bot',
        onBehalfOf: 'carol',
        action: 'hr.create_account',
        args: { employeeId: 'e-1001' },
      }),
    );
    expect(hr.effect).toBe('approval_required');

    ok200(await api.put('/v1/entities', KEYS.admin, { agents: [supportBot('active')] }));
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

    // The suspension and the reactivation are audited.
    const items = ok200(await api.get('/v1/audit?type=entities.updated', KEYS.admin)).items as {
      event: { data: { agents: unknown[] } };
    }[];
    expect(items.map((i) => i.event.data.agents)).toEqual(
      expect.arrayContaining([
        [{ id: 'support-bot', status: 'suspended' }],
        [{ id: 'support-bot', status: 'active' }],
      ]),
    );
  });

  it('denies acting for a suspended user with user_suspended', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    const alice = exampleEntities().users.find((u) => u.id === 'alice')!;
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [{ ...alice, status: 'suspended' }] }));
    const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(d.effect).toBe('deny');
    expect(codes(d)).toEqual(['user_suspended']);
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [alice] }));
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
  });

  it('lets only an admin change entities', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    for (const key of [KEYS.supportBot, KEYS.alice, KEYS.frank]) {
      expectError(
        await api.put('/v1/entities', key, { agents: [supportBot('suspended')] }),
        403,
        'forbidden',
      );
    }
    expectError(
      await api.put('/v1/entities', null, { agents: [supportBot('suspended')] }),
      401,
      'unauthenticated',
    );
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    expectError(
      await api.put('/v1/entities', KEYS.admin, { agents: [{ id: 'x', status: 'paused' }] }),
      400,
      'bad_request',
    );
  });
});

describe('readiness needs a loaded policy; activation is atomic', () => {
  it('is not ready without a policy, denies with no_active_policy, and becomes ready after PUT /v1/policies', async () => {
    const t = await createTestMandate({ store: 'memory', policies: false });
    const api = client(t.url);
    const before = await api.get('/readyz');
    expect(before.status).toBe(503);
    expect(before.body).toEqual({
      ready: false,
      policyVersion: null,
      store: 'ok',
      audit: 'ok',
      auditVerifiedSeq: expect.any(Number),
    });
    expect(ok200(await api.get('/healthz'))).toEqual({ status: 'ok' });
    expectError(await api.get('/v1/policies', KEYS.admin), 503, 'no_active_policy');
    const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(d.effect).toBe('deny');
    expect(codes(d)).toEqual(['no_active_policy']);
    expect(d.policyVersion).toBeNull();

    const put = ok200(await api.put('/v1/policies', KEYS.admin, examplePolicySource()));
    expect(put).toMatchObject({ changed: true });
    expect(put.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    const after = await api.get('/readyz');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({
      ready: true,
      policyVersion: put.version,
      store: 'ok',
      audit: 'ok',
      auditVerifiedSeq: expect.any(Number),
    });
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    // The same set again changes nothing.
    expect(ok200(await api.put('/v1/policies', KEYS.admin, examplePolicySource()))).toEqual({
      version: put.version,
      changed: false,
    });
  });

  it('rejects an invalid set with 422 policy_invalid and its problems, keeping the active version and decisions', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    const active = ok200(await api.get('/v1/policies', KEYS.admin));
    expect(active.version).toMatch(/^sha256:/);
    expect(Object.keys(active.policies).sort()).toEqual(['agents.cedar', 'guardrails.cedar', 'users.cedar']);

    const bad = examplePolicySource();
    // One good edit and one broken file: the set is judged whole and nothing of it loads.
    bad.policies['agents.cedar'] = bad.policies['agents.cedar']!.replace(
      'context.args.amount <= 500',
      'context.args.amount <= 100000',
    );
    bad.policies['broken.cedar'] = 'permit (principal, action, resource) when { principal.noSuchAttr == 1 };';
    const res = await api.put('/v1/policies', KEYS.admin, bad);
    expectError(res, 422, 'policy_invalid');
    expect(Array.isArray(res.body.error.details)).toBe(true);
    expect(res.body.error.details.length).toBeGreaterThan(0);
    expect(res.body.error.details.some((p: { file?: string }) => p.file === 'broken.cedar')).toBe(true);

    const syntax = examplePolicySource();
    syntax.policies['agents.cedar'] = 'permit (principal, action, resource';
    expectError(await api.put('/v1/policies', KEYS.admin, syntax), 422, 'policy_invalid');
    const approvalOnForbid = examplePolicySource();
    approvalOnForbid.policies['extra.cedar'] =
      '@approval("finance-manager")\nforbid (principal, action, resource);';
    expectError(await api.put('/v1/policies', KEYS.admin, approvalOnForbid), 422, 'policy_invalid');
    expectError(
      await api.put('/v1/policies', KEYS.admin, {
        policies: { 'a.cedar': 'permit(principal, action, resource);' },
      }),
      400,
      'bad_request',
    );

    expect(ok200(await api.get('/v1/policies', KEYS.admin)).version).toBe(active.version);
    expect(ok200(await api.get('/readyz')).policyVersion).toBe(active.version);
    const versions = ok200(await api.get('/v1/policies/versions', KEYS.admin)).items as {
      version: string;
      active: boolean;
    }[];
    expect(versions.filter((v) => v.active).map((v) => v.version)).toEqual([active.version]);
    expect(versions).toHaveLength(1);
    // The broken edit (refunds up to 100000 without approval) did not half-load.
    const d = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(d.effect).toBe('approval_required');
    expect(d.policyVersion).toBe(active.version);
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');

    // POST /v1/policies/validate reports the same problems without activating anything.
    const v = ok200(await api.post('/v1/policies/validate', KEYS.admin, bad));
    expect(v.ok).toBe(false);
    expect(v.problems.length).toBeGreaterThan(0);
    expect(ok200(await api.get('/v1/policies', KEYS.admin)).version).toBe(active.version);
  });

  it('lets only an admin read or change policies', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    const before = ok200(await api.get('/readyz')).policyVersion as string;
    const changed = examplePolicySource();
    changed.policies['agents.cedar'] = changed.policies['agents.cedar']!.replace(
      'context.args.amount <= 500',
      'context.args.amount <= 100000',
    );
    for (const key of [KEYS.supportBot, KEYS.alice, KEYS.frank]) {
      expectError(await api.put('/v1/policies', key, changed), 403, 'forbidden');
      expectError(await api.get('/v1/policies', key), 403, 'forbidden');
    }
    expectError(await api.put('/v1/policies', null, changed), 401, 'unauthenticated');
    expect(ok200(await api.get('/readyz')).policyVersion).toBe(before);
    expect(ok200(await api.decide(KEYS.supportBot, refund(900))).effect).toBe('approval_required');

    // The admin can, and the change is live on the next request.
    const put = ok200(await api.put('/v1/policies', KEYS.admin, changed));
    expect(put.changed).toBe(true);
    expect(ok200(await api.decide(KEYS.supportBot, refund(900))).effect).toBe('allow');
    const ev = ok200(await api.get('/v1/audit?type=policy.activated', KEYS.admin)).items.at(-1).event;
    expect(ev.data).toMatchObject({ version: put.version, previous: before });
  });
});
