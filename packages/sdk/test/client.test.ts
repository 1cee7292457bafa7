import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { MandateApiError, createClient } from '../src/index.js';
import { KEYS, disposeAll, exampleClient, startMandate, type Mode } from './fixtures.js';

afterAll(disposeAll);

const refund = (amount: number, customerId = 'c-42') => ({
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'payments.refund',
  args: { customerId, amount },
});

describe.each<Mode>(['remote', 'embedded'])('the client, %s', (mode) => {
  it('decides allow and deny with the decided args, and reads the decision back', async () => {
    const c = await exampleClient(mode);
    const allow = await c.decide(refund(120));
    expect(allow.effect).toBe('allow');
    expect(allow.args).toStrictEqual({ customerId: 'c-42', amount: 120 });
    const deny = await c.decide(refund(120, 'c-77'));
    expect(deny.effect).toBe('deny');
    const rec = await c.getDecision(allow.decisionId);
    expect(rec).toMatchObject({
      decisionId: allow.decisionId,
      effect: 'allow',
      agent: 'support-bot',
      user: 'alice',
    });
  });

  it('typed errors carry the stable code: another agent, a bad key, duplicate keys in the raw args', async () => {
    const c = await exampleClient(mode);
    await expect(c.decide({ ...refund(120), agent: 'trade-bot' })).rejects.toMatchObject({
      code: 'agent_mismatch',
    });
    await expect(c.withApiKey('nope').decide(refund(120))).rejects.toMatchObject({ code: 'unauthenticated' });
    const { args: _args, ...rest } = refund(120);
    await expect(
      c.decide({ ...rest, argsJson: '{"customerId":"c-42","amount":1,"amount":120}' }),
    ).rejects.toMatchObject({
      code: 'duplicate_key',
    });
    // The allow next to it: the same raw text without the duplicate.
    expect((await c.decide({ ...rest, argsJson: '{"customerId":"c-42","amount":120}' })).effect).toBe(
      'allow',
    );
    await expect(c.decide({ ...rest, argsJson: '{"a":1}, "approvalId": "apr_x"' })).rejects.toBeInstanceOf(
      MandateApiError,
    );
  });

  it('approvals: asked, seen by the approver, approved, then the re-submitted call is allowed once', async () => {
    const c = await exampleClient(mode);
    const asked = await c.decide(refund(900));
    expect(asked.effect).toBe('approval_required');
    const id = asked.approval!.id;
    const frank = c.withApiKey(KEYS.frank);
    expect((await frank.approvals.list({ status: 'pending' })).map((a) => a.id)).toContain(id);
    const waiting = c.approvals.wait(id, { timeoutMs: 5000 });
    await frank.approvals.approve(id, { comment: 'verified' });
    expect((await waiting).status).toBe('approved');
    expect((await c.decide({ ...refund(900), approvalId: id })).effect).toBe('allow');
    const replay = await c.decide({ ...refund(900), approvalId: id });
    expect(replay.effect).toBe('deny');
    expect(replay.errors.map((e) => e.code)).toContain('approval_consumed');
  });

  it('@approval("self"): the user confirms their own call with their own key; an approver cannot', async () => {
    // Found by a black-box probe: embedded mode did not say the vote came with the user's own
    // credential, so alice's key was refused (wrong_role) where the same key confirms over HTTP.
    const c = await exampleClient(mode);
    const admin = c.withApiKey(KEYS.admin);
    const { policies, schema } = await admin.policies.get();
    const agents = policies['agents.cedar']!;
    expect(agents).toContain('@approval("finance-manager")');
    await admin.policies.put({
      schema,
      policies: {
        ...policies,
        'agents.cedar': agents.replace('@approval("finance-manager")', '@approval("self")'),
      },
    });
    const asked = await c.decide(refund(900));
    expect(asked.approval).toMatchObject({ role: 'self', status: 'pending' });
    const id = asked.approval!.id;
    // Deny: an approver's key holds a role, not alice's own word — nor may it see the approval
    // (answered as GET answers it).
    await expect(c.withApiKey(KEYS.frank).approvals.approve(id)).rejects.toMatchObject({
      code: 'not_found',
    });
    // Allow: alice's own key confirms it, recorded as her own word.
    const alice = c.withApiKey(KEYS.alice);
    expect((await alice.approvals.list({ status: 'pending' })).map((a) => a.id)).toContain(id);
    expect(await alice.approvals.approve(id, { comment: 'yes, that was me' })).toMatchObject({
      status: 'approved',
      votes: [expect.objectContaining({ approver: 'alice', verdict: 'approve' })],
    });
    const voted = await admin.audit.query({ type: 'approval.approved' });
    expect(voted.items.map((r) => r.event.data)).toEqual([
      expect.objectContaining({ approver: 'alice', via: 'user' }),
    ]);
    expect((await c.decide({ ...refund(900), approvalId: id })).effect).toBe('allow');
  });

  it('outcomes are reported once; grants, audit, tools and policies answer', async () => {
    const c = await exampleClient(mode);
    const d = await c.decide(refund(120));
    expect(await c.reportOutcome(d.decisionId, { status: 'ok', durationMs: 2 })).toMatchObject({
      status: 'ok',
    });
    await expect(c.reportOutcome(d.decisionId, { status: 'ok', durationMs: 2 })).rejects.toMatchObject({
      code: 'conflict',
    });
    const admin = c.withApiKey(KEYS.admin);
    const page = await admin.audit.query({ decisionId: d.decisionId });
    expect(page.items.map((r) => r.event.type)).toEqual(['decision', 'decision.outcome']);
    expect((await admin.audit.verify()).ok).toBe(true);
    expect((await c.tools.list()).map((t) => t.action)).toContain('payments.refund');
    const grants = await c.withApiKey(KEYS.alice).grants.list();
    expect(grants.some((g) => g.agent === 'support-bot')).toBe(true);
    const policies = await admin.policies.get();
    expect(Object.keys(policies.policies)).toContain('agents.cedar');
    expect(await admin.policies.validate({ policies: policies.policies, schema: policies.schema })).toEqual({
      ok: true,
    });
    await expect(c.audit.verify()).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('every call takes an AbortSignal', async () => {
    const c = await exampleClient(mode);
    const ac = new AbortController();
    ac.abort();
    await expect(c.decide(refund(120), { signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe('remote retries', () => {
  it('a decision retried after a lost answer is recorded once (same idempotency key)', async () => {
    const { url } = await startMandate();
    let calls = 0;
    // The first answer is lost on the way back: the server decided and recorded, the client saw an error.
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (++calls === 1 && String(input).endsWith('/v1/decisions')) {
        await res.text();
        throw new TypeError('fetch failed: socket hang up');
      }
      return res;
    };
    const c = createClient({ url, apiKey: KEYS.supportBot, fetch: lossy });
    const d = await c.decide(refund(120));
    expect(d.effect).toBe('allow');
    expect(calls).toBe(2);
    const audit = await createClient({ url, apiKey: KEYS.admin }).audit.query({ type: 'decision' });
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]!.event.decisionId).toBe(d.decisionId);
  });

  it('a redirect is never followed: the answer is invalid_response, and where it points gets nothing', async () => {
    const servers: Server[] = [];
    const listen = async (handler: Parameters<typeof createServer>[1]) => {
      const s = createServer(handler);
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
    };
    const reached: string[] = [];
    // Wherever the redirect points answers an allow, as a server without any key could.
    const elsewhere = await listen((req, res) => {
      reached.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ decisionId: 'dec_x', effect: 'allow', reasons: [], errors: [], args: {} }));
    });
    const redirecting = await listen((req, res) => {
      res.statusCode = 307;
      res.setHeader('location', req.url === '/v1/decisions' ? `${elsewhere}/v1/decisions` : '/v1/elsewhere');
      res.end();
    });
    try {
      const c = createClient({ url: redirecting, apiKey: KEYS.supportBot, retries: 3 });
      await expect(c.decide(refund(120))).rejects.toMatchObject({
        code: 'invalid_response',
        status: 307,
        message: expect.stringContaining('follows none'),
      });
      await expect(c.getDecision('dec_x')).rejects.toMatchObject({ code: 'invalid_response', status: 307 });
      expect(reached).toEqual([]);
    } finally {
      for (const s of servers) s.close();
    }
  });

  it('a vote is never retried; an unreachable server is a network_error', async () => {
    let calls = 0;
    const down: typeof fetch = async () => {
      calls++;
      throw new TypeError('fetch failed');
    };
    const c = createClient({ url: 'http://127.0.0.1:9', apiKey: KEYS.frank, fetch: down, retries: 3 });
    await expect(c.approvals.approve('apr_x')).rejects.toMatchObject({ code: 'network_error' });
    expect(calls).toBe(1);
    calls = 0;
    await expect(c.approvals.get('apr_x')).rejects.toMatchObject({ code: 'network_error', retryable: true });
    expect(calls).toBe(4);
  });
});
