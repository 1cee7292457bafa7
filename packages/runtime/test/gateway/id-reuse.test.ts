// A black-box probe: call A (id 7) was held for approval and its client abandoned the POST; call B
// reused id 7 and was accepted (the in-use check looked only at open streams); the approver
// approved A and denied B, and the client got A's result as B's answer — a denied call shown as a
// success. An id now stays in use until its call is answered or cancelled, and a held call whose
// client went away is not made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  ECHO_SCHEMA,
  eventually,
  readLog,
  startMandate,
  toolServerUpstream,
} from './helpers.js';
import { toolCall, wirePost, wireSession } from './wire.js';

const SCHEMA = `${ECHO_SCHEMA}
action "tools.hang" appliesTo { principal: [Agent, User], resource: Tool };
action "tools.refund" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { customerId: String, amount: Long } } };
`;
const POLICIES = `
@id("echo") permit (principal is Agent, action in [Action::"tools.echo", Action::"tools.hang"], resource);
@id("refund") @approval("finance-manager") permit (principal is Agent, action == Action::"tools.refund", resource);
`;
const BOT = 'secret-bot-key';

describe('MCP gateway: a request id stays in use until its call settles', () => {
  let m: Mandate;
  let url: string;
  const callLog = join(tmpdir(), `gw-id-reuse-${process.pid}-${Date.now()}.jsonl`);

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog })],
        holdForApprovalMs: 30_000,
      },
    }));
  }, 60_000);
  afterAll(async () => {
    await m?.close();
  });

  const calls = (tool: string) => readLog(callLog).filter((e) => e.tool === tool);
  const refunds = (amount: number) =>
    calls('refund').filter((e) => (e.args as { amount: number }).amount === amount);
  /** A POST the client abandons: the request is sent, then the connection is dropped when told. */
  const abandoning = (sessionId: string, body: unknown) => {
    const ac = new AbortController();
    const sent = wirePost(url, BOT, sessionId, body, ac.signal).catch(() => 'abandoned');
    return {
      abandon: async () => {
        ac.abort();
        expect(await sent).toBe('abandoned');
        // Time for the server to see the connection close (loopback: well under this).
        await new Promise((r) => setTimeout(r, 300));
      },
    };
  };
  const pendingApproval = (amount: number) =>
    eventually(
      async () =>
        (await m.store.listApprovals({ status: 'pending', limit: 100 })).find(
          (a) => (a.args as { amount?: number }).amount === amount,
        ),
      (a) => a !== undefined,
    );
  const vote = (approvalId: string, verdict: 'approve' | 'deny') =>
    fetch(`${url}/v1/approvals/${approvalId}/${verdict}`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-approver-key', 'content-type': 'application/json' },
      body: '{}',
    });

  it('refuses a new request reusing the id of an abandoned call still running; once cancelled, the id answers its own call', async () => {
    const { sessionId } = await wireSession(url, BOT);
    const a = abandoning(sessionId, toolCall(7, 'tools.hang'));
    await eventually(
      () => calls('hang').length,
      (n) => n > 0,
    );
    await a.abandon();

    const b = await wirePost(url, BOT, sessionId, toolCall(7, 'tools.echo', { text: 'B' }));
    expect(b.status, b.text).toBe(400);
    expect(b.messages[0]?.error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/request id 7 is already in use/),
    });
    expect(calls('echo')).toEqual([]);

    // Cancelled, A settles (upstream too) and its id is free: the next call under it gets its own answer.
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } };
    expect((await wirePost(url, BOT, sessionId, cancel)).status).toBe(202);
    const c = await wirePost(url, BOT, sessionId, toolCall(7, 'tools.echo', { text: 'C' }));
    expect(c.status, c.text).toBe(200);
    expect(c.messages.at(-1)).toMatchObject({ id: 7 });
    expect(JSON.stringify(c.messages.at(-1)?.result?.content)).toContain('\\"text\\":\\"C\\"');
  });

  it('a held call whose client stays is made once approved, and answered on its own stream', async () => {
    const { sessionId } = await wireSession(url, BOT);
    const held = wirePost(
      url,
      BOT,
      sessionId,
      toolCall(8, 'tools.refund', { customerId: 'c-1', amount: 502 }),
    );
    const approval = await pendingApproval(502);
    expect((await vote(approval!.id, 'approve')).status).toBe(200);
    const answer = await held;
    expect(answer.messages.at(-1)).toMatchObject({ id: 8, result: { content: expect.any(Array) } });
    expect(answer.messages.at(-1)?.result?.isError).toBeFalsy();
    expect(JSON.stringify(answer.messages.at(-1)?.result?.content)).toContain('502');
    expect(refunds(502)).toHaveLength(1);
  });

  it('a held call whose client went away stops waiting and is not made, even once approved', async () => {
    const { sessionId } = await wireSession(url, BOT);
    const a = abandoning(sessionId, toolCall(9, 'tools.refund', { customerId: 'c-1', amount: 501 }));
    const approval = await pendingApproval(501);
    await a.abandon();
    // The held call settles: its id is free again (a ping under it is answered).
    const ping = await eventually(
      () => wirePost(url, BOT, sessionId, { jsonrpc: '2.0', id: 9, method: 'ping' }),
      (r) => r.status === 200,
      5000,
    );
    expect(ping.status, ping.text).toBe(200);
    expect((await vote(approval!.id, 'approve')).status).toBe(200);
    // Nothing ran (a held call sees an approval within 250 ms) and the approval was not consumed:
    // an agent asking again may still use it.
    await eventually(
      () => refunds(501).length,
      (n) => n > 0,
      1500,
    );
    const consumed = await m.store.queryAudit({ type: 'approval.consumed', limit: 100 });
    expect(consumed.map((r) => r.eventText).join()).not.toContain(approval!.id);
    expect(refunds(501)).toEqual([]);
  });
});
