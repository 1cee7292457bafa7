import { afterEach, describe, expect, it } from 'vitest';
import type { ApprovalVote } from '../../src/storage/index.js';
import { createTestMandate, disposeAll, durableStoreKinds, type StoreKind } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund, type Client, type Json } from '../fixtures/http.js';

afterEach(disposeAll);

/**
 * A probe killed a node while second votes were being cast: votes were left in the store without
 * their `approval.approved` record (stored, then recorded in another transaction), and such a vote
 * made the quorum of an allow whose trail showed no one approving it. Before an approval is spent,
 * each part of it missing from the trail is recorded, marked late (approvals/recorded.ts).
 */
describe.each(durableStoreKinds())(
  'an approval is spent only once it is on the record, on %s',
  (kind: StoreKind) => {
    async function setup() {
      const t = await createTestMandate({ store: kind });
      return { t, api: client(t.url) };
    }
    async function audit(api: Client, query: string): Promise<Json[]> {
      const res = await api.get(`/v1/audit?limit=1000&${query}`, KEYS.admin);
      expect(res.status, res.text).toBe(200);
      return res.body.items;
    }
    /** A vote as a node stopped between storing and recording it leaves it: stored, not recorded. */
    async function voteStoredOnly(
      t: Awaited<ReturnType<typeof setup>>['t'],
      id: string,
      approver: string,
      at = new Date(),
    ) {
      const a = (await t.m.store.getApproval(id))!;
      const vote: ApprovalVote = {
        approver,
        verdict: 'approve',
        comment: null,
        at: at.toISOString(),
        signature: null,
      };
      const stored = await t.m.store.updateApproval(
        { ...a, votes: [vote], status: 'approved', resolvedAt: vote.at },
        'pending',
        0,
      );
      expect(stored).toBe(true);
    }

    it('a vote stored without its record is recorded, late, before the allow it makes possible', async () => {
      const { t, api } = await setup();
      const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
      expect(ask.effect).toBe('approval_required');
      const id = ask.approval!.id;
      await voteStoredOnly(t, id, 'frank');
      expect(await audit(api, `type=approval.approved&decisionId=${ask.decisionId}`)).toHaveLength(0);

      const used = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
      expect(used.effect).toBe('allow');
      const votes = await audit(api, `type=approval.approved&decisionId=${ask.decisionId}`);
      expect(votes).toHaveLength(1);
      expect(votes[0]!.event.data).toMatchObject({ approvalId: id, approver: 'frank', late: true });
      // On the record before the allow's own record (audit before act).
      const [allowRecord] = await audit(api, `type=decision&decisionId=${used.decisionId}`);
      expect(votes[0]!.seq).toBeLessThan(allowRecord!.seq);
    });

    it('a vote that no longer counts spends nothing and records nothing late', async () => {
      const { t, api } = await setup();
      const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
      const id = ask.approval!.id;
      // dave holds no finance-manager role: his stored vote makes no quorum.
      await voteStoredOnly(t, id, 'dave');
      const used = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
      expect(used.effect).toBe('deny');
      expect(used.errors.map((e) => e.code)).toContain('approval_voided');
      expect(await audit(api, `type=approval.approved&decisionId=${ask.decisionId}`)).toHaveLength(0);
      expect((await t.m.store.getApproval(id))!.status).toBe('approved');
    });

    it('a use a stop left unrecorded is recorded at the next start, marked late; a recorded one is not', async () => {
      const { t, api } = await setup();
      const used = async () => {
        const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
        expect((await api.approve(ask.approval!.id, KEYS.frank)).status).toBe(200);
        return ask.approval!.id;
      };
      // One used as usual (recorded); one consumed as a node stopped right after the compare-and-set
      // leaves it: spent, naming a decision that never reached the trail.
      const recordedId = await used();
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: recordedId }))).effect).toBe(
        'allow',
      );
      const strandedId = await used();
      const a = (await t.m.store.getApproval(strandedId))!;
      const at = new Date().toISOString();
      expect(
        await t.m.store.updateApproval(
          { ...a, status: 'consumed', consumedAt: at, consumedBy: 'dec_01STRANDED0000000000000000' },
          'approved',
          a.votes.length,
        ),
      ).toBe(true);
      expect(await audit(api, 'type=approval.consumed')).toHaveLength(1);
      await t.close();

      const again = await createTestMandate({ reuse: t });
      const api2 = client(again.url);
      const uses = await audit(api2, 'type=approval.consumed');
      expect(uses).toHaveLength(2);
      const late = uses.find((r) => r.event.data.approvalId === strandedId)!;
      expect(late.event).toMatchObject({
        decisionId: 'dec_01STRANDED0000000000000000',
        data: { late: true, decision: 'unrecorded' },
      });
      expect(uses.find((r) => r.event.data.approvalId === recordedId)!.event.data.late).toBeUndefined();
      // Looked for once: a later start finds nothing left to record.
      await again.close();
      const third = await createTestMandate({ reuse: t });
      expect(await audit(client(third.url), 'type=approval.consumed')).toHaveLength(2);
    });

    it('a vote a stop left unrecorded is recorded at the next start even if its approval is never used', async () => {
      const { t, api } = await setup();
      const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
      // Cast half a minute before the stop: no writer can still be between its two writes.
      await voteStoredOnly(t, ask.approval!.id, 'frank', new Date(Date.now() - 30_000));
      await t.close();
      const again = await createTestMandate({ reuse: t });
      const votes = await audit(client(again.url), `type=approval.approved&decisionId=${ask.decisionId}`);
      expect(votes).toHaveLength(1);
      expect(votes[0]!.event.data).toMatchObject({
        approvalId: ask.approval!.id,
        approver: 'frank',
        late: true,
      });
      // The request was on the record already: not recorded again.
      expect(
        await audit(client(again.url), `type=approval.requested&decisionId=${ask.decisionId}`),
      ).toHaveLength(1);
      await again.close();
      const third = await createTestMandate({ reuse: t });
      expect(
        await audit(client(third.url), `type=approval.approved&decisionId=${ask.decisionId}`),
      ).toHaveLength(1);
    });

    it('a vote recorded as usual is not recorded twice', async () => {
      const { api } = await setup();
      const ask = ok200(await api.decide(KEYS.supportBot, refund(900)));
      const id = ask.approval!.id;
      expect((await api.approve(id, KEYS.frank)).status).toBe(200);
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id }))).effect).toBe('allow');
      const votes = await audit(api, `type=approval.approved&decisionId=${ask.decisionId}`);
      expect(votes).toHaveLength(1);
      expect(votes[0]!.event.data.late).toBeUndefined();
      expect(await audit(api, `type=approval.requested&decisionId=${ask.decisionId}`)).toHaveLength(1);
    });
  },
);
