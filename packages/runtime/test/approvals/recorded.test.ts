import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { recordWhatAStopLeft, recordWhatIsMissing } from '../../src/approvals/recorded.js';
import { sealEvents } from '../../src/audit/chain.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { approval } from '../../src/storage/contract/index.js';

const vote = (approver: string, verdict: 'approve' | 'deny' = 'approve') => ({
  approver,
  verdict,
  comment: null,
  at: '2025-01-01T00:10:00.000Z',
  signature: null,
});

/** What a node stopped between storing an approval's parts and recording them leaves on the trail. */
async function setup(recorded: Omit<AuditEvent, 'time' | 'nodeId'>[]) {
  const store = createMemoryStore();
  if (recorded.length > 0)
    await store.appendAudit(
      recorded.map((e) => ({ ...e, time: '2025-01-01T00:00:00.000Z', nodeId: 'n1' }) as AuditEvent),
      sealEvents,
    );
  const appended: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
  let flushed = 0;
  const deps = {
    store,
    audit: async (e: Omit<AuditEvent, 'time' | 'nodeId'>) => void appended.push(e),
    flushAudit: async () => void flushed++,
  };
  return { deps, appended, flushed: () => flushed };
}

describe('recordWhatIsMissing (approvals/recorded.ts)', () => {
  const a = approval('apr_1', { status: 'approved', votes: [vote('frank'), vote('fiona')] });
  const requested = {
    type: 'approval.requested' as const,
    decisionId: a.decisionId,
    agent: a.agent,
    action: a.action,
    data: { approvalId: a.id },
  };
  const voted = (approver: string, approvalId = a.id) => ({
    type: 'approval.approved' as const,
    decisionId: a.decisionId,
    agent: a.agent,
    action: a.action,
    data: { approvalId, approver },
  });

  it('records, late, the request and each vote the trail does not hold', async () => {
    const { deps, appended, flushed } = await setup([voted('frank')]);
    await recordWhatIsMissing(deps, a);
    expect(flushed()).toBe(1);
    expect(appended.map((e) => [e.type, e.data?.approver ?? null, e.data?.late])).toEqual([
      ['approval.requested', null, true],
      ['approval.approved', 'fiona', true],
    ]);
    expect(appended.every((e) => e.decisionId === a.decisionId && e.data?.approvalId === a.id)).toBe(true);
  });

  it('records nothing when the request and every vote are on the trail', async () => {
    const { deps, appended, flushed } = await setup([requested, voted('frank'), voted('fiona')]);
    await recordWhatIsMissing(deps, a);
    expect(appended).toEqual([]);
    expect(flushed()).toBe(0);
  });

  it("another approval's records under the same decision do not stand for this one's", async () => {
    const { deps, appended } = await setup([requested, voted('frank'), voted('fiona', 'apr_other')]);
    await recordWhatIsMissing(deps, a);
    expect(appended.map((e) => e.data?.approver)).toEqual(['fiona']);
  });
});

describe('recordWhatAStopLeft (approvals/recorded.ts)', () => {
  /** A chain whose last record was written at 00:20, and approvals a stop left behind it. */
  async function stopped(approvals: ReturnType<typeof approval>[]) {
    const { deps, appended } = await setup([]);
    await deps.store.appendAudit(
      [
        {
          type: 'decision',
          decisionId: 'dec_last',
          time: '2025-01-01T00:20:00.000Z',
          nodeId: 'n1',
          data: {},
        } as AuditEvent,
      ],
      sealEvents,
    );
    for (const a of approvals) await deps.store.createApproval(a);
    return { deps, appended };
  }
  const at = (iso: string) => Date.parse(iso);

  it('records the requests and votes of approvals never used, late; not those of the last seconds', async () => {
    const { deps, appended } = await stopped([
      approval('apr_old', { status: 'approved', quorum: 1, votes: [vote('frank')] }),
      approval('apr_new', {
        requestedAt: '2025-01-01T00:19:58.000Z',
        votes: [{ ...vote('fiona'), at: '2025-01-01T00:19:59.000Z' }],
      }),
    ]);
    // Restarted five seconds after the last record: apr_new's parts may be another node's, mid-write.
    const found = await recordWhatAStopLeft(deps, 3600, at('2025-01-01T00:20:05.000Z'));
    expect(found).toEqual({ uses: 0, parts: 2 });
    expect(appended.map((e) => [e.type, e.data?.approvalId, e.data?.approver ?? null, e.data?.late])).toEqual(
      [
        ['approval.requested', 'apr_old', null, true],
        ['approval.approved', 'apr_old', 'frank', true],
      ],
    );
  });

  it('looks no further back than the time to live before the last record', async () => {
    const { deps, appended } = await stopped([
      approval('apr_gone', { requestedAt: '2024-12-31T22:00:00.000Z', votes: [vote('frank')] }),
    ]);
    expect(await recordWhatAStopLeft(deps, 3600, at('2025-01-01T01:00:00.000Z'))).toEqual({
      uses: 0,
      parts: 0,
    });
    expect(appended).toEqual([]);
  });
});
