import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { approvalVoteMessage } from '../../src/approvals/index.js';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  exampleEntities,
  examplePolicySource,
  type StoreKind,
  type TestMandateOptions,
} from '../fixtures/mandate.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { KEYS, client, codes, expectError, ok200, refund, type Client, type Json } from '../fixtures/http.js';

// Each test starts its own Mandate: closed after it, so a PostgreSQL run holds one pool at a time.
afterEach(disposeAll);

const HENRY = 'henry-approver-key';
const SAM = 'sam-approver-key';

/** The example plus henry, a second HR manager with an approver key. */
const WITH_HENRY: Pick<TestMandateOptions, 'entities' | 'config'> = {
  entities: (doc) => {
    doc.users.push({ id: 'henry', roles: ['hr-manager'], status: 'active', attributes: { tenant: 'acme' } });
  },
  config: (c) => {
    c.apiKeys.push({ name: 'henry-approver', secret: HENRY, role: 'approver', subject: 'henry' });
  },
};

/** hr-bot asks to create e-1001's account for carol (routed to hr-manager). */
const hrCall = (extra: Record<string, unknown> = {}) => ({
  agent: 'hr-bot',
  onBehalfOf: 'carol',
  action: 'hr.create_account',
  args: { employeeId: 'e-1001' },
  ...extra,
});

/** A user of the example entities file, as `PUT /v1/entities` takes it, with `change` applied. */
function userAs(id: string, change: Record<string, unknown>) {
  const u = exampleEntities().users.find((x) => x.id === id)!;
  return { ...u, ...change };
}

/** The two ways an approver stops being one: the role taken away, or the person suspended. */
const LOSSES = [
  ['loses the role', (id: string) => userAs(id, { roles: [] })],
  ['is suspended', (id: string) => userAs(id, { status: 'suspended' })],
] as const;

describe.each(durableStoreKinds())('approval votes on %s', (kind: StoreKind) => {
  async function setup(opts: Omit<TestMandateOptions, 'store'> = {}) {
    const t = await createTestMandate({ ...opts, store: kind });
    return { t, api: client(t.url) };
  }
  async function setUser(api: Client, user: Record<string, unknown>) {
    ok200(await api.put('/v1/entities', KEYS.admin, { users: [user] }));
  }
  async function pending(api: Client, key: string, req: Record<string, unknown>): Promise<string> {
    const d = ok200(await api.decide(key, req));
    expect(d.effect).toBe('approval_required');
    return d.approval!.id;
  }
  /** Activates the example policies with the agents' annotation `from` replaced by `to`. */
  async function annotate(api: Client, from: string, to: string) {
    const src = examplePolicySource();
    src.policies['agents.cedar'] = src.policies['agents.cedar']!.replace(from, to);
    ok200(await api.put('/v1/policies', KEYS.admin, src));
  }
  const approval = async (api: Client, id: string): Promise<Json> =>
    ok200(await api.get(`/v1/approvals/${id}`, KEYS.admin));

  describe('a vote counts only while its approver may still approve', () => {
    it.each(LOSSES)(
      'quorum 2: hana approves, then %s; henry’s vote does not make the quorum and the retry is not allowed',
      async (_how, lose) => {
        const { api } = await setup(WITH_HENRY);
        await annotate(api, '@approval("hr-manager")', '@approval("hr-manager")\n@quorum("2")');
        const id = await pending(api, KEYS.hrBot, hrCall());
        expect(ok200(await api.approve(id, KEYS.hana)).status).toBe('pending');
        await setUser(api, lose('hana'));

        const afterHenry = ok200(await api.approve(id, HENRY));
        expect(afterHenry.status).toBe('pending');
        expect(afterHenry.lapsedVotes).toEqual(['hana']);
        const retry = ok200(await api.decide(KEYS.hrBot, hrCall({ approvalId: id })));
        expect(retry.effect).toBe('deny');
        expect(codes(retry)).toEqual(['approval_pending']);
        expect(await approval(api, id)).toMatchObject({ status: 'pending', lapsedVotes: ['hana'] });
      },
    );

    it('quorum 2: hana and henry approve, both still hr managers → the retry is allowed (the allow-twin)', async () => {
      const { api } = await setup(WITH_HENRY);
      await annotate(api, '@approval("hr-manager")', '@approval("hr-manager")\n@quorum("2")');
      const id = await pending(api, KEYS.hrBot, hrCall());
      expect(ok200(await api.approve(id, KEYS.hana)).status).toBe('pending');
      // Another change to hana that keeps her an active hr manager changes nothing.
      await setUser(api, userAs('hana', { attributes: { tenant: 'acme', department: 'hr' } }));
      const approved = ok200(await api.approve(id, HENRY));
      expect(approved.status).toBe('approved');
      expect(approved.lapsedVotes).toBeUndefined();
      const retry = ok200(await api.decide(KEYS.hrBot, hrCall({ approvalId: id })));
      expect(retry.effect).toBe('allow');
      expect(retry.approval).toMatchObject({ id, status: 'consumed' });
    });

    it.each(LOSSES)(
      'quorum 1: frank approves, then %s → the retry is denied approval_voided and the approval is not used',
      async (_how, lose) => {
        const { api } = await setup();
        const id = await pending(api, KEYS.supportBot, refund(900));
        expect(ok200(await api.approve(id, KEYS.frank)).status).toBe('approved');
        await setUser(api, lose('frank'));

        const retry: Decision = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
        expect(retry.effect).toBe('deny');
        expect(codes(retry)).toEqual(['approval_voided']);
        expect(retry.errors[0]!.message).toMatch(/frank/);
        // Not consumed, and not shown as if its quorum held.
        expect(await approval(api, id)).toMatchObject({
          status: 'approved',
          consumedBy: null,
          lapsedVotes: ['frank'],
        });
        const listed = ok200(await api.get('/v1/approvals?status=approved', KEYS.admin)).items as Json[];
        expect(listed.find((a) => a.id === id)).toMatchObject({ lapsedVotes: ['frank'] });
        // Once frank may approve again, his vote counts again: the same approval is used, once.
        await setUser(api, userAs('frank', {}));
        const allowed = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
        expect(allowed.effect).toBe('allow');
        expect(allowed.approval).toMatchObject({ id, status: 'consumed' });
      },
    );

    it('quorum 1: frank approves and stays a finance manager → allowed (the allow-twin)', async () => {
      const { api } = await setup();
      const id = await pending(api, KEYS.supportBot, refund(900));
      ok200(await api.approve(id, KEYS.frank));
      expect((await approval(api, id)).lapsedVotes).toBeUndefined();
      const allowed = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
      expect(allowed.effect).toBe('allow');
    });

    it('@approval("self"): alice’s confirmation lapses if she is gone from the store; stands while she is active', async () => {
      const { t, api } = await setup();
      await annotate(api, '@approval("finance-manager")', '@approval("self")');
      const binding = {
        agent: 'support-bot',
        user: 'alice',
        action: 'payments.refund',
        args: { customerId: 'c-42', amount: 900 },
        resource: 'Customer::c-42',
        policyVersion: 'sha256:v',
      };
      const ask = () =>
        t.m.approvals.request({
          ...binding,
          decisionId: 'dec_x',
          role: 'self',
          quorum: 1,
          summary: 's',
          redactedArgs: binding.args,
        });
      const alice = { id: 'alice', roles: [], via: 'user' as const };
      // The twin first: alice active, her confirmation is used.
      const kept = await ask();
      await t.m.approvals.vote(kept.id, alice, 'approve', null, null);
      expect(
        await t.m.approvals.consume(kept.id, binding, 'dec_1', { role: 'self', quorum: 1 }),
      ).toMatchObject({ ok: true });
      // Suspended after confirming: void (the decision denies a suspended user anyway; the
      // approval itself does not stand either).
      const lapsed = await ask();
      await t.m.approvals.vote(lapsed.id, alice, 'approve', null, null);
      await setUser(api, userAs('alice', { status: 'suspended' }));
      expect(
        await t.m.approvals.consume(lapsed.id, binding, 'dec_2', { role: 'self', quorum: 1 }),
      ).toMatchObject({
        ok: false,
        code: 'approval_voided',
      });
      expect((await t.m.approvals.get(lapsed.id))!.status).toBe('approved');
    });
  });

  describe('a signed vote names its approval and its verdict', () => {
    async function withFionaKey() {
      const s = await setup();
      const keys = generateKeyPairSync('ed25519');
      const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await setUser(s.api, userAs('fiona', { attributes: { tenant: 'acme', approvalPublicKey: pem } }));
      return { ...s, priv: keys.privateKey };
    }
    const signed = (priv: KeyObject, approvalId: string, verdict: 'approve' | 'deny', callHash: string) =>
      sign(null, Buffer.from(approvalVoteMessage({ approvalId, verdict, callHash })), priv).toString(
        'base64',
      );

    it('fiona’s signed deny of approval A cannot be copied onto approval B of the same call, nor onto approve', async () => {
      const { api, priv } = await withFionaKey();
      const a = await pending(api, KEYS.supportBot, refund(900));
      const { callHash } = await approval(api, a);
      const denial = signed(priv, a, 'deny', callHash);
      expect(ok200(await api.deny(a, KEYS.fiona, { signature: denial })).status).toBe('denied');

      // The agent asks the same call again: another approval, the same call hash.
      const b = await pending(api, KEYS.supportBot, refund(900));
      expect(b).not.toBe(a);
      expect((await approval(api, b)).callHash).toBe(callHash);
      // The agent can read the signature (GET /v1/approvals/A); it is good for nothing else.
      const copied = (ok200(await api.get(`/v1/approvals/${a}`, KEYS.supportBot)).votes as Json[])[0]
        .signature;
      expect(copied).toBe(denial);
      expectError(await api.approve(b, KEYS.fiona, { signature: copied }), 400, 'invalid_signature');
      expectError(await api.deny(b, KEYS.fiona, { signature: copied }), 400, 'invalid_signature');
      // Nor is a signed approve of B good for denying it, and the reverse.
      expectError(
        await api.deny(b, KEYS.fiona, { signature: signed(priv, b, 'approve', callHash) }),
        400,
        'invalid_signature',
      );
      // The call hash alone, as signed before: refused.
      expectError(
        await api.approve(b, KEYS.fiona, {
          signature: sign(null, Buffer.from(callHash), priv).toString('base64'),
        }),
        400,
        'invalid_signature',
      );
      expect(await approval(api, b)).toMatchObject({ status: 'pending', votes: [] });
      const retry = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: b })));
      expect(codes(retry)).toEqual(['approval_pending']);
    });

    it('`mandate approvals deny|approve --sign` signs the vote: its deny of A is refused on B, its approve of B runs', async () => {
      ensureBuilt();
      const { t, api, priv } = await withFionaKey();
      const keyFile = join(t.dir, 'fiona.pem');
      writeFileSync(keyFile, priv.export({ type: 'pkcs8', format: 'pem' }));
      const cli = (verdict: string, id: string) =>
        runCli(['approvals', verdict, id, '--sign', keyFile, '--url', t.url, '--key', KEYS.fiona, '--json']);
      const a = await pending(api, KEYS.supportBot, refund(900));
      const denied = await cli('deny', a);
      expect(denied.code, denied.stderr).toBe(0);
      const copied = (await approval(api, a)).votes[0].signature as string;
      const b = await pending(api, KEYS.supportBot, refund(900));
      expectError(await api.approve(b, KEYS.fiona, { signature: copied }), 400, 'invalid_signature');
      const approved = await cli('approve', b);
      expect(approved.code, approved.stderr).toBe(0);
      expect(await approval(api, b)).toMatchObject({ status: 'approved', votes: [{ approver: 'fiona' }] });
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: b }))).effect).toBe('allow');
    });

    it('the allow-twin: fiona’s signature over B and approve is kept, and the call runs', async () => {
      const { api, priv } = await withFionaKey();
      const b = await pending(api, KEYS.supportBot, refund(900));
      const { callHash } = await approval(api, b);
      const sig = signed(priv, b, 'approve', callHash);
      const approved = ok200(await api.approve(b, KEYS.fiona, { signature: sig }));
      expect(approved).toMatchObject({ status: 'approved', votes: [{ approver: 'fiona', signature: sig }] });
      expect(ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: b }))).effect).toBe('allow');
    });
  });

  describe('the vote record names the credential that cast it', () => {
    it('approval.approved and approval.denied carry caller: the key id, as decision records do', async () => {
      const { api } = await setup();
      const approved = await pending(api, KEYS.supportBot, refund(900));
      ok200(await api.approve(approved, KEYS.frank));
      const denied = await pending(api, KEYS.supportBot, refund(901));
      ok200(await api.deny(denied, KEYS.fiona));
      const items = ok200(await api.get('/v1/audit?limit=1000', KEYS.admin)).items as { event: Json }[];
      const event = (type: string, id: string) =>
        items.find((i) => i.event.type === type && i.event.data.approvalId === id)!.event;
      expect(event('approval.approved', approved).data).toMatchObject({
        approver: 'frank',
        via: 'approver',
        caller: 'key_demo-finance-manager',
      });
      expect(event('approval.denied', denied).data).toMatchObject({
        approver: 'fiona',
        caller: 'key_demo-finance-manager-2',
      });
    });
  });

  describe('"self" is never a role', () => {
    /** The example plus sam, an approver; his role is set in the store directly (as older data may hold it). */
    const WITH_SAM: Pick<TestMandateOptions, 'entities' | 'config'> = {
      entities: (doc) => {
        doc.users.push({ id: 'sam', roles: ['support'], status: 'active', attributes: { tenant: 'acme' } });
      },
      config: (c) => {
        c.apiKeys.push({ name: 'sam-approver', secret: SAM, role: 'approver', subject: 'sam' });
      },
    };

    it('an approver holding a role named "self" sees no one’s @approval("self") approvals; alice sees hers', async () => {
      const { t, api } = await setup(WITH_SAM);
      await t.m.store.putEntities({
        agents: [],
        users: [{ id: 'sam', roles: ['self'], status: 'active', attributes: { tenant: 'acme' } }],
        resources: [],
      });
      await annotate(api, '@approval("finance-manager")', '@approval("self")');
      const id = await pending(api, KEYS.supportBot, refund(900));

      const samList = ok200(await api.get('/v1/approvals?status=pending', SAM)).items as Json[];
      expect(samList.map((a) => a.id)).not.toContain(id);
      expectError(await api.get(`/v1/approvals/${id}`, SAM), 404, 'not_found');
      expectError(await api.get(`/v1/approvals/${id}/history`, SAM), 404, 'not_found');
      expectError(await api.approve(id, SAM), 404, 'not_found');
      // The twin: alice, the user it waits for, sees it and confirms it.
      const aliceList = ok200(await api.get('/v1/approvals?status=pending', KEYS.alice)).items as Json[];
      expect(aliceList.map((a) => a.id)).toContain(id);
      ok200(await api.get(`/v1/approvals/${id}/history`, KEYS.alice));
      expect(ok200(await api.approve(id, KEYS.alice)).status).toBe('approved');
    });

    it('PUT /v1/entities refuses a user role named "self" (400); any other role name is taken', async () => {
      const { api } = await setup(WITH_SAM);
      const refused = await api.put('/v1/entities', KEYS.admin, {
        users: [{ id: 'sam', roles: ['support', 'self'] }],
      });
      expectError(refused, 400, 'bad_request');
      expect(refused.body.error.message).toMatch(/"self" is reserved/);
      ok200(
        await api.put('/v1/entities', KEYS.admin, { users: [{ id: 'sam', roles: ['support', 'selfie'] }] }),
      );
    });
  });
});
