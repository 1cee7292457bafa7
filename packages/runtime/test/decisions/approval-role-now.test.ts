// An approval is checked against the role and quorum the call needs *now* before it is spent. It
// was consumed first: when an entity attribute changed after the approval (same policy version) so
// that the call needed another role, the use was denied `approval_mismatch` — but the approval was
// burnt, and `approval.consumed` recorded for a decision that ran nothing (found by a black-box
// probe, 2026-12-01).
import { describe, expect, it } from 'vitest';
import type { Agent } from '@mandate/protocol';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String, tenant?: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
action "doc.read" appliesTo {
  principal: [Agent, User], resource: Tool, context: { args: { docId: String }, time: Time, intent?: String }
};
`;

const POLICIES = {
  'docs.cedar': `
@id("read-acme")
@approval("finance-manager")
permit (principal is Agent, action == Action::"doc.read", resource)
when { principal has tenant && principal.tenant == "acme" };

@id("read-globex")
@approval("auditor")
permit (principal is Agent, action == Action::"doc.read", resource)
when { principal has tenant && principal.tenant == "globex" };

@id("read-acme-board")
@approval("finance-manager")
@quorum("2")
permit (principal is Agent, action == Action::"doc.read", resource)
when { principal has tenant && principal.tenant == "acme-board" };
`,
};

const TOOLS = [
  {
    action: 'doc.read',
    inputSchema: { type: 'object', properties: { docId: { type: 'string' } }, required: ['docId'] },
  },
];

const bot = (tenant: string): Agent => ({
  id: 'files-bot',
  roles: ['files'],
  status: 'active',
  attributes: { tenant },
});

describe('an approval used by a call that now needs another role or quorum', () => {
  it.each([
    ['another role', 'globex'],
    ['a higher quorum', 'acme-board'],
  ])('(%s) is refused and left unused; the call it was asked for uses it once', async (_what, moved) => {
    const h = await decisionHarness({
      schema: SCHEMA,
      policies: POLICIES,
      tools: TOOLS,
      entities: {
        agents: [bot('acme')],
        users: [{ id: 'frank', roles: ['finance-manager'], status: 'active', attributes: {} }],
      },
    });
    const args = { docId: 'd-1' };
    const asked = (await h.decide('doc.read', args)).decision;
    expect(asked.effect).toBe('approval_required');
    expect(asked.approval).toMatchObject({ role: 'finance-manager', quorum: 1 });
    const id = asked.approval!.id;
    await h.approvals.vote(id, { id: 'frank', roles: ['finance-manager'] }, 'approve', null, null);

    await h.store.putEntities({ agents: [bot(moved)], users: [], resources: [] });
    const refused = (await h.decide('doc.read', args, { approvalId: id })).decision;
    expect(refused.effect).toBe('deny');
    expect(refused.errors.map((e) => e.code)).toEqual(['approval_mismatch']);
    // Not spent, and not recorded as spent.
    expect((await h.approvals.get(id))?.status).toBe('approved');
    expect(h.events.filter((e) => e.type === 'approval.consumed')).toEqual([]);

    // The twin: back where it was asked, the call uses it — once.
    await h.store.putEntities({ agents: [bot('acme')], users: [], resources: [] });
    const used = (await h.decide('doc.read', args, { approvalId: id })).decision;
    expect(used.effect).toBe('allow');
    expect((await h.approvals.get(id))?.status).toBe('consumed');
    expect(h.events.filter((e) => e.type === 'approval.consumed')).toMatchObject([
      { decisionId: used.decisionId, data: { approvalId: id } },
    ]);
    const again = (await h.decide('doc.read', args, { approvalId: id })).decision;
    expect(again.errors.map((e) => e.code)).toEqual(['approval_consumed']);
  });

  it('a vote that no longer counts is still refused approval_voided, not consumed', async () => {
    const h = await decisionHarness({
      schema: SCHEMA,
      policies: POLICIES,
      tools: TOOLS,
      entities: {
        agents: [bot('acme')],
        users: [{ id: 'frank', roles: ['finance-manager'], status: 'active', attributes: {} }],
      },
    });
    const args = { docId: 'd-2' };
    const id = (await h.decide('doc.read', args)).decision.approval!.id;
    await h.approvals.vote(id, { id: 'frank', roles: ['finance-manager'] }, 'approve', null, null);
    await h.store.putEntities({
      agents: [],
      users: [{ id: 'frank', roles: [], status: 'active', attributes: {} }],
      resources: [],
    });
    const refused = (await h.decide('doc.read', args, { approvalId: id })).decision;
    expect(refused.errors.map((e) => e.code)).toEqual(['approval_voided']);
    expect((await h.approvals.get(id))?.status).toBe('approved');
  });
});
