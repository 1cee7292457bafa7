// Erasing a user blanks their approvals through the store's compare-and-set (docs/audit.md
// "Erasure"): a lost CAS is read again and retried, every page is reached, and a whole-record write
// made from a read taken before the blanking is blanked again by the next pass.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createManualClock } from '../../src/kernel/index.js';
import { createPersonalData, ERASED_SUMMARY } from '../../src/audit/personal.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { approval } from '../../src/storage/contract/index.js';
import type { ApprovalRecord, ApprovalVote, Store } from '../../src/storage/port.js';

const vote = (approver: string): ApprovalVote => ({
  approver,
  verdict: 'approve',
  comment: null,
  at: '2025-01-01T00:10:00.000Z',
  signature: null,
});

function setup(store: Store) {
  const events: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
  const personal = createPersonalData({
    store,
    clock: createManualClock(Date.parse('2025-01-01T00:00:00Z')),
    hmacKey: 'k'.repeat(64),
    keep: ['args'],
    record: async (e) => void events.push(e),
  });
  return { personal, events };
}

const BLANK_ARGS = { amount: 'erased', customerId: 'erased', note: 'erased' };

describe('erasure blanks the approvals of the user', () => {
  it('retries a lost compare-and-set on the fresh approval, keeping the vote that won', async () => {
    const store = createMemoryStore();
    await store.createApproval(approval('ap1'));
    const update = store.updateApproval.bind(store);
    let raced = false;
    store.updateApproval = async (next, status, votes) => {
      if (!raced) {
        // A vote lands between the erasure's read and its write.
        raced = true;
        expect(await update({ ...approval('ap1'), votes: [vote('frank')] }, 'pending', 0)).toBe(true);
      }
      return update(next, status, votes);
    };
    const { personal, events } = setup(store);
    await personal.erase('user-1', 'admin:k');
    const a = (await store.getApproval('ap1'))!;
    expect(a).toEqual({
      ...approval('ap1'),
      votes: [vote('frank')],
      summary: ERASED_SUMMARY,
      args: BLANK_ARGS,
    });
    expect(events.map((e) => e.data)).toEqual([
      { subject: expect.stringMatching(/^psn_/), records: 0, approvals: 1, by: 'admin:k' },
    ]);
  });

  it('blanks again what a write from an earlier read brought back, counting the approval once', async () => {
    const store = createMemoryStore();
    await store.createApproval(approval('ap1'));
    const stale = (await store.getApproval('ap1'))!;
    const update = store.updateApproval.bind(store);
    let restored = false;
    store.updateApproval = async (next, status, votes) => {
      const ok = await update(next, status, votes);
      if (ok && !restored && next.summary === ERASED_SUMMARY) {
        // A vote that read the approval before the blanking: the CAS (pending, 0 votes) still holds.
        restored = true;
        const approved: ApprovalRecord = { ...stale, votes: [vote('frank')], status: 'approved' };
        expect(await update(approved, 'pending', 0)).toBe(true);
        expect((await store.getApproval('ap1'))!.summary).toBe('Refund 120 to c-1');
      }
      return ok;
    };
    const { personal, events } = setup(store);
    await personal.erase('user-1', 'admin:k');
    expect(await store.getApproval('ap1')).toMatchObject({
      status: 'approved',
      votes: [vote('frank')],
      summary: ERASED_SUMMARY,
      args: BLANK_ARGS,
    });
    expect(events[0]!.data).toMatchObject({ approvals: 1 });
  });

  it('reaches every page of the user’s approvals, whatever their status, and no other user’s', async () => {
    const store = createMemoryStore();
    const statuses = ['pending', 'approved', 'denied', 'expired', 'consumed'] as const;
    for (let i = 0; i < 450; i++) {
      const id = `ap${String(i).padStart(3, '0')}`;
      await store.createApproval(
        approval(id, { status: statuses[i % 5]!, user: i % 9 === 0 ? 'bob' : 'user-1' }),
      );
    }
    const { personal, events } = setup(store);
    await personal.erase('user-1', 'admin:k');
    const all = await store.listApprovals({ limit: 1000 });
    const mine = all.filter((a) => a.user === 'user-1');
    expect(mine).toHaveLength(400);
    for (const a of mine)
      expect({ summary: a.summary, args: a.args }).toEqual({ summary: ERASED_SUMMARY, args: BLANK_ARGS });
    // Nothing else of them changed.
    for (const a of mine)
      expect({ ...a, summary: 'x', args: {} }).toEqual({
        ...approval(a.id, { status: a.status }),
        summary: 'x',
        args: {},
      });
    for (const a of all.filter((x) => x.user === 'bob'))
      expect(a).toEqual(approval(a.id, { status: a.status, user: 'bob' }));
    expect(events[0]!.data).toMatchObject({ approvals: 400 });
    // Again: nothing left to blank.
    await personal.erase('user-1', 'admin:k');
    expect(events[1]!.data).toMatchObject({ approvals: 0 });
  });
});
