import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  approvalVoteMessage,
  callHash,
  createApprovalService,
  type CallBinding,
} from '../../src/approvals/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { approval } from '../../src/storage/contract/index.js';
import { canonicalize, createManualClock, sha256Hex, silentLogger } from '../../src/kernel/index.js';
import type { AuditEvent } from '@mandate/protocol';
import { REDACTED_SECRET as S } from '../../src/audit/redact.js';
import type { ApprovalRecord } from '../../src/storage/port.js';

const binding: CallBinding = {
  agent: 'support-bot',
  user: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount: 900 },
  resource: 'Customer::c-42',
  policyVersion: 'sha256:v1',
};

function setup(
  opts: { quorum?: number; ttlSeconds?: number; maxPending?: number; maxPendingPerUser?: number } = {},
) {
  const store = createMemoryStore();
  const clock = createManualClock();
  const events: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
  /** What the webhook would be sent when an approval is resolved. */
  const sent: ApprovalRecord[] = [];
  const service = createApprovalService(
    {
      store,
      clock,
      logger: silentLogger,
      audit: async (e) => void events.push(e),
      notify: (kind, a) => void (kind === 'approval.resolved' && sent.push(a)),
    },
    {
      ttlSeconds: opts.ttlSeconds ?? 3600,
      maxPendingPerAgent: opts.maxPending ?? 20,
      maxPendingPerAgentUser: opts.maxPendingPerUser ?? opts.maxPending ?? 20,
    },
  );
  // The approvers, as the store holds them: a vote counts only while its approver is active and holds the role.
  const seeded = store.putEntities({
    agents: [],
    users: ['frank', 'fiona'].map((id) => ({
      id,
      roles: ['finance-manager'],
      status: 'active' as const,
      attributes: {},
    })),
    resources: [],
  });
  const request = async (b: CallBinding = binding) => {
    await seeded;
    return service.request({
      ...b,
      decisionId: 'dec_1',
      role: 'finance-manager',
      quorum: opts.quorum ?? 1,
      summary: 'Refund 900 to customer c-42',
      redactedArgs: b.args,
    });
  };
  return { store, clock, service, events, sent, request };
}

const frank = { id: 'frank', roles: ['finance-manager'] };
/** What the calls of these tests need when they use their approval: what `request` asked for. */
const routed = { role: 'finance-manager', quorum: 1 };
const fiona = { id: 'fiona', roles: ['finance-manager'] };

describe('exact-call hash', () => {
  const k = 'a'.repeat(64);
  it('changes with every bound field and ignores everything else', () => {
    const h = callHash(binding, k);
    expect(callHash({ ...binding, args: { amount: 900, customerId: 'c-42' } }, k)).toBe(h);
    expect(callHash({ ...binding, ...{ decisionId: 'other', summary: 'x' } } as CallBinding, k)).toBe(h);
    for (const changed of [
      { agent: 'other-bot' },
      { user: 'bob' },
      { user: null },
      { action: 'payments.charge' },
      { args: { customerId: 'c-42', amount: 9000 } },
      { resource: 'Customer::c-43' },
      { policyVersion: 'sha256:v2' },
      { toolHash: 'sha256:def1' },
    ]) {
      expect(callHash({ ...binding, ...changed }, k)).not.toBe(h);
    }
    // No tool definition is the hash it always was.
    expect(callHash({ ...binding, toolHash: null }, k)).toBe(h);
    expect(callHash({ ...binding, toolHash: 'sha256:def1' }, k)).not.toBe(
      callHash({ ...binding, toolHash: 'sha256:def2' }, k),
    );
  });

  it('is keyed: without the deployment key the args cannot be found by trying values', () => {
    // A probe recovered a redacted PIN from the published hash in 51 ms, by trying every value.
    expect(callHash(binding, k)).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(callHash(binding, k)).not.toBe(callHash(binding, 'b'.repeat(64)));
  });
});

describe('the published hash', () => {
  const unkeyed = (b: CallBinding) =>
    'sha256:' + sha256Hex('mandate.approval.v1\0' + canonicalize({ ...b, toolHash: undefined }));

  it('is keyed with the store secret: the record cannot be matched against guessed args', async () => {
    const { store, events, request } = setup();
    const a = await request();
    const published = events.find((e) => e.type === 'approval.requested')!.data as { callHash: string };
    expect(published.callHash).toBe(a.callHash);
    // Guessing the args (amount 900) and hashing them as the hash was made before gives nothing.
    expect(published.callHash).not.toBe(unkeyed(binding));
    // The one key of the deployment, shared by every node through the store.
    const key = await store.ensureSecret('approval-binding', 'unused');
    expect(published.callHash).toBe(callHash(binding, key));
  });

  it('an approval requested before (unkeyed) is still bound to its call, and only to it', async () => {
    const { store, service } = setup();
    await store.createApproval(
      approval('apr_legacy', {
        callHash: unkeyed(binding),
        agent: binding.agent,
        user: binding.user,
        action: binding.action,
        resource: binding.resource,
        policyVersion: binding.policyVersion,
        role: 'finance-manager',
        quorum: 1,
        args: binding.args,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
    await service.vote('apr_legacy', frank, 'approve', null, null);
    const other = { ...binding, args: { customerId: 'c-42', amount: 9000 } };
    expect(await service.consume('apr_legacy', other, 'dec_1', routed)).toMatchObject({
      ok: false,
      code: 'approval_mismatch',
    });
    expect(await service.consume('apr_legacy', binding, 'dec_2', routed)).toMatchObject({ ok: true });
  });
});

describe('approvals bound to a pinned tool definition (ADR 0017)', () => {
  const pinned: CallBinding = { ...binding, toolHash: 'sha256:def1' };

  it('is used with the definition it was asked for, and kept with the approval', async () => {
    const { service, request } = setup();
    const a = await request(pinned);
    expect(a.toolHash).toBe('sha256:def1');
    await service.vote(a.id, frank, 'approve', null, null);
    expect(await service.consume(a.id, pinned, 'dec_2', routed)).toMatchObject({ ok: true });
  });

  it('is refused under another definition, or none, and stays unused', async () => {
    const { service, request } = setup();
    const a = await request(pinned);
    await service.vote(a.id, frank, 'approve', null, null);
    for (const other of [
      { ...pinned, toolHash: 'sha256:def2' },
      { ...pinned, toolHash: null },
    ]) {
      const r = await service.consume(a.id, other, 'dec_2', routed);
      expect(r).toMatchObject({ ok: false, code: 'approval_mismatch' });
    }
    expect((await service.get(a.id))?.status).toBe('approved');
  });

  it('is void once its definition was changed and approved again since it was asked for (v1, v2, v1)', async () => {
    // A probe: refused after v2 was approved, the approval ran again once v1 came back and was
    // approved again. A pin of its definition that changed since it was asked for voids it.
    const { service, request, store, clock } = setup();
    const pin = (hash: string, at: number) => ({
      server: 'pay',
      tool: 'refund',
      hash,
      definition: { name: 'refund', hash },
      status: 'approved' as const,
      firstSeenAt: new Date(0).toISOString(),
      updatedAt: new Date(at).toISOString(),
      approvedBy: 'tofu',
      approvedHash: hash,
      approvedDefinition: { name: 'refund', hash },
    });
    await store.putToolPin(pin('sha256:def1', clock.now()));
    clock.advance(1000);
    const a = await request(pinned);
    const b = await request({ ...pinned, args: { customerId: 'c-42', amount: 901 } });
    for (const x of [a, b]) await service.vote(x.id, frank, 'approve', null, null);
    // The same pin, unchanged: used.
    expect(await service.consume(b.id, { ...pinned, args: b.args }, 'dec_2', routed)).toMatchObject({
      ok: true,
    });
    clock.advance(1000);
    await store.putToolPin(pin('sha256:def2', clock.now()));
    clock.advance(1000);
    await store.putToolPin(pin('sha256:def1', clock.now()));
    const r = await service.consume(a.id, pinned, 'dec_3', routed);
    expect(r).toMatchObject({ ok: false, code: 'approval_voided' });
    expect((await service.get(a.id))?.status).toBe('approved');
    // A fresh approval under the definition as it is now is used.
    const c = await request({ ...pinned, args: { customerId: 'c-42', amount: 902 } });
    await service.vote(c.id, frank, 'approve', null, null);
    expect(await service.consume(c.id, { ...pinned, args: c.args }, 'dec_4', routed)).toMatchObject({
      ok: true,
    });
  });

  it("another agent's or user's use of it is not found, as an unknown id, naming nothing of it", async () => {
    const { service, request } = setup();
    const a = await request(pinned);
    await service.vote(a.id, frank, 'approve', null, null);
    for (const other of [
      { ...pinned, agent: 'trade-bot', toolHash: 'sha256:other' },
      { ...pinned, user: 'bob' },
      { ...pinned, user: null },
    ]) {
      const r = await service.consume(a.id, other, 'dec_2', routed);
      expect(r).toEqual({ ok: false, code: 'approval_not_found', message: `no approval ${a.id}` });
    }
    expect((await service.get(a.id))?.status).toBe('approved');
  });
});

describe('approval service', () => {
  it('asking again for the same pending call returns the same approval; another call gets another one', async () => {
    const { request } = setup();
    const a = await request();
    expect((await request()).id).toBe(a.id);
    expect((await request({ ...binding, args: { customerId: 'c-42', amount: 901 } })).id).not.toBe(a.id);
  });

  it('quorum 2 needs two distinct approvers: one person twice is refused', async () => {
    const { service, request } = setup({ quorum: 2 });
    const a = await request();
    expect((await service.vote(a.id, frank, 'approve', null, null)).status).toBe('pending');
    await expect(service.vote(a.id, frank, 'approve', null, null)).rejects.toMatchObject({
      code: 'duplicate_approver',
    });
    expect((await service.consume(a.id, binding, 'dec_2', routed)).ok).toBe(false);
    expect((await service.vote(a.id, fiona, 'approve', null, null)).status).toBe('approved');
    expect((await service.consume(a.id, binding, 'dec_2', routed)).ok).toBe(true);
  });

  it('the requesting agent and its user cannot vote; the wrong role cannot either, and is told no more than GET tells it', async () => {
    const { service, request } = setup();
    const a = await request();
    await expect(
      service.vote(a.id, { id: 'alice', roles: ['finance-manager'] }, 'approve', null, null),
    ).rejects.toMatchObject({ code: 'self_approval' });
    await expect(
      service.vote(a.id, { id: 'support-bot', roles: ['finance-manager'] }, 'approve', null, null),
    ).rejects.toMatchObject({ code: 'self_approval' });
    await expect(
      service.vote(a.id, { id: 'hana', roles: ['hr-manager'] }, 'approve', null, null),
    ).rejects.toMatchObject({ code: 'not_found', message: `no approval ${a.id}` });
    expect((await service.get(a.id))?.votes).toHaveLength(0);
  });

  // Found by a probe: a vote on an approval the voter may not see (GET answers 404) answered with
  // its state ("already approved", "expired at …"), who it waits for ("is for alice to confirm"),
  // and whether the voter was its agent or user (self_approval) — to any key of any tenant.
  it('a vote on an approval the voter may not see is answered not_found, whatever its state, and keeps its reason for the record', async () => {
    const { service, request, clock } = setup({ ttlSeconds: 60 });
    const ask = (amount: number, over: Partial<CallBinding> = {}) =>
      request({ ...binding, args: { customerId: 'c-42', amount }, ...over });
    const pending = await ask(601);
    const approved = await ask(602);
    await service.vote(approved.id, frank, 'approve', null, null);
    const denied = await ask(603);
    await service.vote(denied.id, frank, 'deny', null, null);
    const consumed = await ask(604);
    await service.vote(consumed.id, frank, 'approve', null, null);
    const used = { ...binding, args: { customerId: 'c-42', amount: 604 } };
    expect(await service.consume(consumed.id, used, 'dec_9', routed)).toMatchObject({ ok: true });
    // Unseen by: an approver without the role; the agent's own id and its user's id, voting through an
    // approver credential without the role; another user's own credential.
    const voters = [
      { id: 'hana', roles: ['hr-manager'] },
      { id: 'support-bot', roles: ['hr-manager'] },
      { id: 'alice', roles: ['hr-manager'] },
      { id: 'dave', roles: [], via: 'user' as const },
    ];
    const answer = async (id: string, voter: (typeof voters)[number], verdict: 'approve' | 'deny') => {
      try {
        await service.vote(id, voter, verdict, null, null);
      } catch (err) {
        const e = err as { code: string; message: string; recorded?: string };
        return { code: e.code, message: e.message, recorded: e.recorded };
      }
      throw new Error(`${voter.id} voted on ${id}`);
    };
    const check = async (ids: string[]) => {
      for (const id of ids)
        for (const voter of voters)
          for (const verdict of ['approve', 'deny'] as const)
            expect(await answer(id, voter, verdict), `${voter.id} ${verdict} ${id}`).toEqual({
              code: 'not_found',
              message: `no approval ${id}`,
              recorded: expect.stringMatching(
                new RegExp(`^a vote on approval ${id}, which the voter may not see`),
              ),
            });
    };
    await check([pending.id, approved.id, denied.id, consumed.id]);
    // The twin: one who may see it is told its state.
    await expect(service.vote(approved.id, fiona, 'approve', null, null)).rejects.toMatchObject({
      code: 'conflict',
      message: `approval ${approved.id} is already approved`,
    });
    clock.advance(61_000);
    await check([pending.id]);
    await expect(service.vote(pending.id, fiona, 'approve', null, null)).rejects.toMatchObject({
      code: 'approval_expired',
    });
    // An id that names nothing: the same answer.
    await expect(service.vote('apr_nothing', voters[0]!, 'approve', null, null)).rejects.toMatchObject({
      code: 'not_found',
      message: 'no approval apr_nothing',
    });
    expect((await service.get(pending.id))?.votes).toEqual([]);
  });

  it('@approval("self"): only that user, by their own word, sees it and votes; anyone else is answered not_found without the user named', async () => {
    const { service, store } = setup();
    await store.putEntities({
      agents: [],
      users: [{ id: 'alice', roles: [], status: 'active', attributes: {} }],
      resources: [],
    });
    const self = await service.request({
      ...binding,
      decisionId: 'dec_1',
      role: 'self',
      quorum: 1,
      summary: 'Refund 900 to customer c-42',
      redactedArgs: binding.args,
    });
    for (const voter of [
      { id: 'dave', roles: [], via: 'user' as const },
      // Her approver credential holds a role, not her own word (ADR 0008); nor does a role named self.
      { id: 'alice', roles: ['finance-manager'] },
      { id: 'frank', roles: ['self'] },
      { id: 'support-bot', roles: ['self'] },
    ]) {
      const refused = service.vote(self.id, voter, 'approve', null, null);
      await expect(refused, voter.id).rejects.toMatchObject({
        code: 'not_found',
        message: `no approval ${self.id}`,
      });
      await expect(refused).rejects.not.toThrow(/alice/);
    }
    const mine = await service.vote(self.id, { id: 'alice', roles: [], via: 'user' }, 'approve', null, null);
    expect(mine.status).toBe('approved');
  });

  it('a signature by the approver’s registered Ed25519 key over the vote is verified and kept; a bad one is refused', async () => {
    const { service, request } = setup();
    const a = await request();
    const mine = generateKeyPairSync('ed25519');
    const theirs = generateKeyPairSync('ed25519');
    const pem = mine.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const vote = { approvalId: a.id, verdict: 'approve' as const, callHash: a.callHash };
    const good = sign(null, Buffer.from(approvalVoteMessage(vote)), mine.privateKey).toString('base64');
    const forged = sign(null, Buffer.from(approvalVoteMessage(vote)), theirs.privateKey).toString('base64');
    const otherCall = sign(
      null,
      Buffer.from(approvalVoteMessage({ ...vote, callHash: 'sha256:something-else' })),
      mine.privateKey,
    ).toString('base64');
    // The call hash alone (what was signed before the vote was): good for any approval of the call.
    const hashOnly = sign(null, Buffer.from(a.callHash), mine.privateKey).toString('base64');
    for (const bad of [forged, otherCall, hashOnly, 'not-base64!']) {
      await expect(
        service.vote(a.id, { ...frank, publicKeyPem: pem }, 'approve', null, bad),
      ).rejects.toMatchObject({ code: 'invalid_signature' });
    }
    await expect(service.vote(a.id, frank, 'approve', null, good)).rejects.toMatchObject({
      code: 'invalid_signature',
    });
    const approved = await service.vote(a.id, { ...frank, publicKeyPem: pem }, 'approve', 'ok', good);
    expect(approved.status).toBe('approved');
    expect(approved.votes[0]).toMatchObject({ approver: 'frank', signature: good, comment: 'ok' });
  });

  it('expires with the clock, and an expired approval can be neither approved nor used', async () => {
    const { service, request, clock, events } = setup({ ttlSeconds: 60 });
    const a = await request();
    clock.advance(61_000);
    await expect(service.vote(a.id, frank, 'approve', null, null)).rejects.toMatchObject({
      code: 'approval_expired',
    });
    const used = await service.consume(a.id, binding, 'dec_2', routed);
    expect(used).toMatchObject({ ok: false, code: 'approval_expired' });
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
  });

  it('an approved approval that expires before use cannot be used', async () => {
    const { service, request, clock } = setup({ ttlSeconds: 60 });
    const a = await request();
    await service.vote(a.id, frank, 'approve', null, null);
    clock.advance(61_000);
    expect(await service.consume(a.id, binding, 'dec_2', routed)).toMatchObject({
      ok: false,
      code: 'approval_expired',
    });
  });

  it('a denied approval is never usable; ten racing consumers of an approved one: exactly one wins', async () => {
    const { service, request } = setup();
    const denied = await request({ ...binding, args: { customerId: 'c-42', amount: 700 } });
    await service.vote(denied.id, frank, 'deny', 'no', null);
    expect(
      await service.consume(
        denied.id,
        { ...binding, args: { customerId: 'c-42', amount: 700 } },
        'd',
        routed,
      ),
    ).toMatchObject({ ok: false, code: 'approval_denied' });

    const a = await request();
    await service.vote(a.id, frank, 'approve', null, null);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => service.consume(a.id, binding, `dec_${i}`, routed)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.code === 'approval_consumed')).toBe(true);
  });

  // Found by a probe: an approval was consumed, and `approval.consumed` recorded, before its role
  // and quorum were compared with what the call needed now — the call was denied, the approval spent.
  it('is not spent on a call that now needs another role or a higher quorum', async () => {
    const { service, request, events } = setup();
    const a = await request();
    await service.vote(a.id, frank, 'approve', null, null);
    for (const need of [
      { role: 'hr-manager', quorum: 1 },
      { role: 'finance-manager', quorum: 2 },
    ]) {
      expect(await service.consume(a.id, binding, 'dec_2', need), JSON.stringify(need)).toEqual({
        ok: false,
        code: 'approval_mismatch',
        message: 'the approval was routed to another role or quorum',
      });
      expect((await service.get(a.id))?.status).toBe('approved');
    }
    expect(events.map((e) => e.type)).not.toContain('approval.consumed');
    // What it was asked for: used once.
    expect(await service.consume(a.id, binding, 'dec_3', routed)).toMatchObject({ ok: true });
    expect(events.filter((e) => e.type === 'approval.consumed')).toMatchObject([{ decisionId: 'dec_3' }]);
  });

  it('caps pending approvals per agent (flooding the approver)', async () => {
    const { request } = setup({ maxPending: 2 });
    await request({ ...binding, args: { customerId: 'c-42', amount: 601 } });
    await request({ ...binding, args: { customerId: 'c-42', amount: 602 } });
    await expect(request({ ...binding, args: { customerId: 'c-42', amount: 603 } })).rejects.toMatchObject({
      code: 'approval_backlog',
    });
  });

  it("caps pending approvals per agent and user: one user's backlog leaves room for the others, up to the agent's cap", async () => {
    const { request } = setup({ maxPending: 3, maxPendingPerUser: 2 });
    const ask = (user: string, amount: number) =>
      request({ ...binding, user, args: { customerId: 'c-42', amount } });
    await ask('alice', 601);
    await ask('alice', 602);
    await expect(ask('alice', 603)).rejects.toMatchObject({
      code: 'approval_backlog',
      message: expect.stringContaining('for user alice'),
    });
    // bob is not blocked by alice's backlog …
    await expect(ask('bob', 601)).resolves.toMatchObject({ status: 'pending', user: 'bob' });
    // … until the agent's cap in all.
    await expect(ask('bob', 602)).rejects.toMatchObject({
      code: 'approval_backlog',
      message: expect.not.stringContaining('for user'),
    });
  });

  // Found by a probe: an approval past its expiry stays `pending` in the store until it is read,
  // and was counted — with TTL 3 s and a per-user cap of 2, the agent's calls for every user were
  // refused `approval_backlog` until someone listed the approvals.
  it('an approval past its expiry no longer counts toward the caps, though nobody has read it', async () => {
    const { store, request, clock } = setup({ ttlSeconds: 3, maxPending: 3, maxPendingPerUser: 2 });
    const ask = (user: string, amount: number) =>
      request({ ...binding, user, args: { customerId: 'c-42', amount } });
    await ask('alice', 1001);
    await ask('alice', 1002);
    await ask('dave', 1003);
    await expect(ask('alice', 1004)).rejects.toMatchObject({ code: 'approval_backlog' });
    clock.advance(3_000);
    // Still `pending` in the store: nothing read them since.
    expect((await store.listApprovals({ status: 'pending' })).length).toBe(3);
    await expect(ask('alice', 1004)).resolves.toMatchObject({ status: 'pending', user: 'alice' });
    await expect(ask('dave', 1005)).resolves.toMatchObject({ status: 'pending', user: 'dave' });
    await ask('alice', 1006);
    // The live ones still count: alice has 2 again.
    await expect(ask('alice', 1007)).rejects.toMatchObject({
      code: 'approval_backlog',
      message: expect.stringContaining('for user alice'),
    });
  });

  // Found by a probe: 60 concurrent approval-required calls with maxPendingPerAgent 20 left 54
  // pending on one node (each counted before any had inserted).
  it('concurrent requests cannot pass the cap together', async () => {
    const { store, request } = setup({ maxPending: 20, maxPendingPerUser: 20 });
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        request({ ...binding, args: { customerId: 'c-42', amount: 2000 + i } }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
    expect(
      results.every(
        (r) => r.status === 'fulfilled' || (r.reason as { code: string }).code === 'approval_backlog',
      ),
    ).toBe(true);
    expect(await store.listApprovals({ status: 'pending', limit: 1000 })).toHaveLength(20);
  });
});

// SECURITY (probe): a vote's free-text comment was stored and recorded unredacted — in
// `approval.approved` / `approval.denied` (hashed, unerasable), the approval record and the
// webhook (`card 4111 1111 1111 1111`, `password=hunter2`, `sk_live_…`). It now goes through the
// same free-text redaction as a decision's intent before it is stored or recorded.
describe('an approver’s comment', () => {
  it('is stored, recorded and sent with each secret-shaped span replaced', async () => {
    const { store, service, events, sent, request } = setup({ quorum: 2 });
    const a = await request();
    await service.vote(a.id, frank, 'approve', 'ok, card 4111 1111 1111 1111 checked', null);
    const denied = await service.vote(
      a.id,
      fiona,
      'deny',
      'no: he sent password=hunter2 and sk_live_LEAKCMT9abcdefghij in the ticket',
      null,
    );
    const first = `ok, card ${S} checked`;
    // What follows a credential name goes with it, to the end of the text (audit/redact-pieces.test.ts).
    const second = `no: he sent password=${S}`;
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
    const { service, events, request } = setup({ quorum: 1 });
    const a = await request();
    const plain = 'checked with the customer on ticket 88, refund of order ORD-2026-000123 is fine';
    const approved = await service.vote(a.id, frank, 'approve', plain, null);
    expect(approved.votes[0]!.comment).toBe(plain);
    expect(events.find((e) => e.type === 'approval.approved')!.data.comment).toBe(plain);
    const other = setup({ quorum: 1 });
    const b = await other.request();
    const none = await other.service.vote(b.id, frank, 'approve', null, null);
    expect(none.votes[0]!.comment).toBeNull();
    expect(other.events.find((e) => e.type === 'approval.approved')!.data.comment).toBeNull();
  });
});
