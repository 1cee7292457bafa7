// SECURITY (probe): a vote's free-text comment was stored and recorded unredacted — in
// `approval.approved` / `approval.denied` (hashed, unerasable), the approval record and the
// webhook (`card 4111 1111 1111 1111`, `password=hunter2`, `sk_live_…`). It now goes through the
// same free-text redaction as a decision's intent before it is stored or recorded.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createApprovalService, type CallBinding } from '../../src/approvals/index.js';
import { REDACTED_SECRET as S } from '../../src/audit/redact.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import type { ApprovalRecord } from '../../src/storage/port.js';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';

const binding: CallBinding = {
  agent: 'support-bot',
  user: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount: 900 },
  resource: 'Customer::c-42',
  policyVersion: 'sha256:v1',
};

async function setup(quorum: number) {
  const store = createMemoryStore();
  const events: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
  const sent: ApprovalRecord[] = [];
  const service = createApprovalService(
    {
      store,
      clock: createManualClock(),
      logger: silentLogger,
      audit: async (e) => void events.push(e),
      notify: (kind, a) => void (kind === 'approval.resolved' && sent.push(a)),
    },
    { ttlSeconds: 3600, maxPendingPerAgent: 20, maxPendingPerAgentUser: 20 },
  );
  await store.putEntities({
    agents: [],
    users: ['frank', 'fiona'].map((id) => ({
      id,
      roles: ['finance-manager'],
      status: 'active' as const,
      attributes: {},
    })),
    resources: [],
  });
  const a = await service.request({
    ...binding,
    decisionId: 'dec_1',
    role: 'finance-manager',
    quorum,
    summary: 'Refund 900 to customer c-42',
    redactedArgs: binding.args,
  });
  return { store, service, events, sent, a };
}

const frank = { id: 'frank', roles: ['finance-manager'] };
const fiona = { id: 'fiona', roles: ['finance-manager'] };

describe('an approver’s comment', () => {
  it('is stored, recorded and sent with each secret-shaped span replaced', async () => {
    const { store, service, events, sent, a } = await setup(2);
    await service.vote(a.id, frank, 'approve', 'ok, card 4111 1111 1111 1111 checked', null);
    const denied = await service.vote(
      a.id,
      fiona,
      'deny',
      'no: he sent password=hunter2 and sk_live_LEAKCMT9abcdefghij in the ticket',
      null,
    );
    const first = `ok, card ${S} checked`;
    const second = `no: he sent password=${S} and ${S} in the ticket`;
    expect(denied.votes.map((v) => v.comment)).toEqual([first, second]);
    expect((await store.getApproval(a.id))!.votes.map((v) => v.comment)).toEqual([first, second]);
    expect(
      events
        .filter((e) => e.type.startsWith('approval.') && e.type !== 'approval.requested')
        .map((e) => [e.type, e.data.comment]),
    ).toEqual([
      ['approval.approved', first],
      ['approval.denied', second],
    ]);
    expect(sent.map((s) => s.votes.map((v) => v.comment))).toEqual([[first, second]]);
    const everything = JSON.stringify({ events, sent, stored: await store.getApproval(a.id) });
    for (const leak of ['4111 1111 1111 1111', 'hunter2', 'sk_live_LEAKCMT9'])
      expect(everything).not.toContain(leak);
  });

  it('an ordinary comment, and none, are kept as they are', async () => {
    const { service, events, a } = await setup(1);
    const plain = 'checked with the customer on ticket 88, refund of order ORD-2026-000123 is fine';
    const approved = await service.vote(a.id, frank, 'approve', plain, null);
    expect(approved.votes[0]!.comment).toBe(plain);
    expect(events.find((e) => e.type === 'approval.approved')!.data.comment).toBe(plain);
    const other = await setup(1);
    const none = await other.service.vote(other.a.id, frank, 'approve', null, null);
    expect(none.votes[0]!.comment).toBeNull();
    expect(other.events.find((e) => e.type === 'approval.approved')!.data.comment).toBeNull();
  });
});
