// Issue 9 §4: the approvals inbox filters in the store before the limit, and pages with a cursor.
import { afterAll, describe, expect, it } from 'vitest';
import { SELF_CONFIRMATION } from '../../src/approvals/index.js';
import type { ApprovalRecord } from '../../src/storage/port.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError } from '../fixtures/http.js';

afterAll(disposeAll);

function approval(id: string, user: string, role = SELF_CONFIRMATION): ApprovalRecord {
  const now = Date.now();
  return {
    id,
    callHash: `hash-${id}`,
    decisionId: `dec_${id}`,
    agent: 'support-bot',
    user,
    action: 'payments.refund',
    resource: 'Customer::c-42',
    policyVersion: 'sha256:x',
    toolHash: null,
    policy: null,
    role,
    quorum: 1,
    summary: `Refund for ${user}`,
    args: { customerId: 'c-42', amount: 1 },
    status: 'pending',
    requestedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3600e3).toISOString(),
    votes: [],
    resolvedAt: null,
    consumedAt: null,
    consumedBy: null,
  };
}

describe('GET /v1/approvals for a user', () => {
  it('returns the user’s own pending confirmations up to the limit, and pages on with nextCursor', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    for (const id of ['apr_a1', 'apr_a2', 'apr_a3']) await t.m.store.createApproval(approval(id, 'alice'));
    // Newer approvals of someone else come first in the store: they must not eat alice's page.
    for (const id of ['apr_d1', 'apr_d2']) await t.m.store.createApproval(approval(id, 'dave'));
    await t.m.store.createApproval(approval('apr_f1', 'alice', 'finance-manager'));

    const first = await api.get('/v1/approvals?status=pending&limit=2', KEYS.alice);
    expect(first.status).toBe(200);
    expect(first.body.items.map((a: { id: string }) => a.id)).toEqual(['apr_a3', 'apr_a2']);
    expect(first.body.nextCursor).toBe('apr_a2');
    const second = await api.get(
      `/v1/approvals?status=pending&limit=2&cursor=${first.body.nextCursor}`,
      KEYS.alice,
    );
    expect(second.body.items.map((a: { id: string }) => a.id)).toEqual(['apr_a1']);
    expect(second.body.nextCursor).toBeNull();
    expectError(await api.get('/v1/approvals?cursor=%3Cscript%3E', KEYS.alice), 400, 'bad_request');
  });

  it('pages an approver’s inbox too', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    for (const id of ['apr_1', 'apr_2', 'apr_3'])
      await t.m.store.createApproval(approval(id, 'alice', 'finance-manager'));
    const first = (await api.get('/v1/approvals?limit=2', KEYS.frank)).body;
    expect(first.items.map((a: { id: string }) => a.id)).toEqual(['apr_3', 'apr_2']);
    const second = (await api.get(`/v1/approvals?limit=2&cursor=${first.nextCursor}`, KEYS.frank)).body;
    expect(second.items.map((a: { id: string }) => a.id)).toEqual(['apr_1']);
    // hana (hr-manager) sees none of them.
    expect((await api.get('/v1/approvals', KEYS.hana)).body.items).toEqual([]);
  });
});
