// A suspended principal delegates and signs off nothing, and what it handed on stops with it; the
// attempts are on the record. Each refusal sits next to the same request succeeding while active.
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import {
  REFUND_HELPER_KEY as HELPER_KEY,
  WITH_REFUND_HELPER,
  createTestMandate,
  disposeAll,
  exampleEntities,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, ok200, refund, type Client } from '../fixtures/http.js';

afterAll(disposeAll);

/** The example plus `refund-helper`, a support agent support-bot can pass its grant to. */
async function setup(): Promise<{ t: TestMandate; api: Client; parentId: string }> {
  const t = await createTestMandate({ store: 'sqlite', ...WITH_REFUND_HELPER });
  const api = client(t.url);
  const parent = ok200(await api.get('/v1/grants?user=alice&agent=support-bot', KEYS.admin)).items[0];
  return { t, api, parentId: parent.id as string };
}

const subGrant = (parentId: string) => ({
  agent: 'refund-helper',
  parentId,
  actions: ['payments.refund'],
  expiresIn: '1h',
});
const helperRefund = (amount: number) => ({ ...refund(amount), agent: 'refund-helper' });

async function setStatus(api: Client, kind: 'agents' | 'users', id: string, status: string) {
  const all = exampleEntities()[kind] as { id: string }[];
  const base =
    kind === 'agents' && id === 'refund-helper'
      ? { id, roles: ['support'], owner: 'support-team', attributes: { tenant: 'acme' } }
      : all.find((x) => x.id === id)!;
  ok200(await api.put('/v1/entities', KEYS.admin, { [kind]: [{ ...base, status }] }));
}

async function refused(t: TestMandate, code: string): Promise<AuditEvent[]> {
  await t.m.refusals.flush();
  const recs = await t.m.store.queryAudit({ type: 'request.refused', limit: 1000 });
  return recs.map((r) => JSON.parse(r.eventText) as AuditEvent).filter((e) => e.data.code === code);
}

describe('suspension stops delegation', () => {
  it('a suspended agent cannot pass its grant on (recorded); active, it can', async () => {
    const { t, api, parentId } = await setup();
    await setStatus(api, 'agents', 'support-bot', 'suspended');
    expectError(await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId)), 403, 'agent_suspended');
    expect(ok200(await api.get('/v1/grants?agent=refund-helper', KEYS.admin)).items).toEqual([]);
    const [ev] = await refused(t, 'agent_suspended');
    expect(ev?.data).toMatchObject({
      route: 'POST /v1/grants',
      caller: { role: 'agent', subject: 'support-bot' },
    });
    // Nor can an admin hang a sub-grant under a chain that passes through it.
    expectError(
      await api.post('/v1/grants', KEYS.admin, { ...subGrant(parentId), user: 'alice' }),
      403,
      'grant_revoked',
    );

    await setStatus(api, 'agents', 'support-bot', 'active');
    const created = await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId));
    expect(created.status, created.text).toBe(201);
    expect(ok200(await api.decide(HELPER_KEY, helperRefund(120))).effect).toBe('allow');
  });

  it('what a suspended agent passed on stops while it is suspended and comes back when it is resumed', async () => {
    const { api, parentId } = await setup();
    const sub = await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId));
    expect(sub.status, sub.text).toBe(201);
    expect(ok200(await api.decide(HELPER_KEY, helperRefund(120))).effect).toBe('allow');

    await setStatus(api, 'agents', 'support-bot', 'suspended');
    const denied = ok200(await api.decide(HELPER_KEY, helperRefund(120)));
    expect(denied.effect).toBe('deny');
    // Not agent_suspended: refund-helper itself is active (that code raises the suspended-agent alert).
    expect(codes(denied)).toEqual(['grant_revoked']);
    expect(denied.errors[0]!.message).toContain('support-bot, which is suspended');

    await setStatus(api, 'agents', 'support-bot', 'active');
    const back = ok200(await api.decide(HELPER_KEY, helperRefund(120)));
    expect(back.effect).toBe('allow');
    expect(back.grantId).toBe(sub.body.id);
  });

  it('a recorded allow of the sub-agent is not replayed while the agent that passed the grant on is suspended', async () => {
    const { api, parentId } = await setup();
    expect((await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId))).status).toBe(201);
    const send = () =>
      api.request('POST', '/v1/decisions', {
        key: HELPER_KEY,
        json: helperRefund(120),
        headers: { 'idempotency-key': 'helper-refund-1' },
      });
    const first = await send();
    expect(first.body.effect).toBe('allow');
    await setStatus(api, 'agents', 'support-bot', 'suspended');
    const retried = await send();
    expect(retried.body.effect).toBe('deny');
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a suspended user cannot grant, nor have a grant made in their name (recorded); active, they can', async () => {
    const { t, api, parentId } = await setup();
    const grant = { agent: 'support-bot', actions: ['crm.read_customer'], expiresIn: '1h' };
    await setStatus(api, 'users', 'alice', 'suspended');
    expectError(await api.post('/v1/grants', KEYS.alice, grant), 403, 'user_suspended');
    // Nor in her name: by an admin, or by an agent passing on her grant (a probe found both made).
    expectError(await api.post('/v1/grants', KEYS.admin, { ...grant, user: 'alice' }), 403, 'user_suspended');
    expectError(await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId)), 403, 'user_suspended');
    expect(await refused(t, 'user_suspended')).toHaveLength(3);
    await setStatus(api, 'users', 'alice', 'active');
    expect((await api.post('/v1/grants', KEYS.alice, grant)).status).toBe(201);
    expect((await api.post('/v1/grants', KEYS.supportBot, subGrant(parentId))).status).toBe(201);
  });
});

describe('suspension stops sign-off', () => {
  it('a suspended approver cannot vote (recorded) and the approval stays pending; resumed, they can', async () => {
    const { t, api } = await setup();
    const d = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(d.effect).toBe('approval_required');
    const id = d.approval!.id;
    await setStatus(api, 'users', 'frank', 'suspended');
    expectError(await api.approve(id, KEYS.frank), 403, 'user_suspended');
    expectError(await api.deny(id, KEYS.frank), 403, 'user_suspended');
    expect(ok200(await api.get(`/v1/approvals/${id}`, KEYS.admin)).status).toBe('pending');
    expect(await refused(t, 'user_suspended')).toHaveLength(2);
    const used = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
    expect(codes(used)).toEqual(['approval_pending']);

    await setStatus(api, 'users', 'frank', 'active');
    expect((await api.approve(id, KEYS.frank)).status).toBe(200);
    expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id }))).effect).toBe('allow');
  });
});

describe('refused delegation and votes are on the record', () => {
  it('a sub-grant wider than its parent, and a vote on an approval already decided', async () => {
    const { t, api, parentId } = await setup();
    const wider = { ...subGrant(parentId), actions: ['payments.*'] };
    expectError(await api.post('/v1/grants', KEYS.supportBot, wider), 403, 'grant_exceeded');
    expect((await refused(t, 'grant_exceeded'))[0]?.data).toMatchObject({
      route: 'POST /v1/grants',
      caller: { subject: 'support-bot' },
    });

    const d = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect((await api.approve(d.approval!.id, KEYS.frank)).status).toBe(200);
    expectError(await api.deny(d.approval!.id, KEYS.fiona), 409, 'conflict');
    const [vote] = await refused(t, 'conflict');
    expect(vote?.data).toMatchObject({
      route: 'POST /v1/approvals/:id/deny',
      caller: { role: 'approver', subject: 'fiona' },
    });
  });
});
