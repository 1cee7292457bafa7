import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import {
  ALICE_GRANTS_BOT,
  BOT_ENTITIES,
  mcpClient,
  readLog,
  startMandate,
  toolServerUpstream,
} from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.refund" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { customerId: String, amount: Long } } };
`;
// The user the bot acts for confirms each refund themselves; no one else's sign-off is needed.
const POLICIES = `
@id("refund-confirmed-by-user") @approval("self") @reason("refunds are confirmed by the customer's own agent user")
permit (principal is Agent, action == Action::"tools.refund", resource);
@id("users-refund") permit (principal is User, action == Action::"tools.refund", resource);
`;

/** A Mandate whose gateway runs `tools` for bot, acting for alice; elicitation confirms or not. */
function startSelfConfirming(callLog: string, confirmByElicitation: boolean) {
  return startMandate({
    schema: SCHEMA,
    policies: POLICIES,
    entities: BOT_ENTITIES,
    apiKeys: [
      { name: 'bot', secret: 'secret-bot-key', role: 'agent', subject: 'bot' },
      { name: 'alice', secret: 'secret-alice-key', role: 'user', subject: 'alice' },
      { name: 'alice-approver', secret: 'secret-alice-approver-key', role: 'approver', subject: 'alice' },
      { name: 'fm', secret: 'secret-approver-key', role: 'approver', subject: 'frank' },
    ],
    grants: [ALICE_GRANTS_BOT],
    gateway: {
      upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog })],
      onBehalfOf: { bot: 'alice' },
      callTimeoutMs: 5000,
      holdForApprovalMs: 0,
      confirmByElicitation,
    },
  });
}

describe('approval_required answered by the user through MCP elicitation (@approval("self"))', () => {
  let m: Mandate;
  let url: string;
  const callLog = join(tmpdir(), `mandate-self-${process.pid}-calls.jsonl`);
  const clients: Client[] = [];
  let elicited: { message: string }[] = [];
  let answer: 'accept' | 'decline' = 'accept';

  beforeAll(async () => {
    ({ m, url } = await startSelfConfirming(callLog, true));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  const connect = async (elicitation: boolean) => {
    const c = await mcpClient(url, 'secret-bot-key', elicitation ? { elicitation: {} } : {});
    if (elicitation) {
      c.setRequestHandler(ElicitRequestSchema, async (req) => {
        elicited.push({ message: req.params.message });
        return answer === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: 'decline' };
      });
    }
    clients.push(c);
    return c;
  };
  const refunds = () => readLog(callLog).filter((e) => e.tool === 'refund').length;

  it('asks the user with the summary of the real call; confirmed → decided again and forwarded once', async () => {
    const c = await connect(true);
    elicited = [];
    answer = 'accept';
    const before = refunds();
    const r = await c.callTool({ name: 'tools.refund', arguments: { customerId: 'c-1', amount: 40 } });
    expect(r.isError).toBeFalsy();
    expect(elicited).toHaveLength(1);
    expect(elicited[0]!.message).toContain('alice');
    expect(elicited[0]!.message).toContain('"amount":40');
    expect(refunds()).toBe(before + 1);
    const approvals = await m.approvals.list({});
    const used = approvals.find((a) => a.status === 'consumed');
    expect(used?.votes[0]).toMatchObject({ approver: 'alice', verdict: 'approve' });
    // The record says how the confirmation came: through the agent's client, not a user credential.
    const [voted] = await m.store.queryAudit({ type: 'approval.approved', limit: 10, order: 'desc' });
    // And with which credential: the agent session's key.
    expect(JSON.parse(voted!.eventText).data).toMatchObject({
      approver: 'alice',
      via: 'mcp-elicitation',
      caller: 'key_bot',
    });
  });

  it('declined → the upstream is never contacted and the approval is denied', async () => {
    const c = await connect(true);
    elicited = [];
    answer = 'decline';
    const before = refunds();
    const r = await c.callTool({ name: 'tools.refund', arguments: { customerId: 'c-2', amount: 41 } });
    expect(r.isError).toBe(true);
    expect((r.content as { text: string }[])[0]!.text).toMatch(/declined/);
    expect(refunds()).toBe(before);
    expect((await m.approvals.list({ status: 'denied' })).length).toBeGreaterThan(0);
  });

  it('a client without elicitation gets the approval id to wait for, and nothing is forwarded', async () => {
    const c = await connect(false);
    const before = refunds();
    const r = await c.callTool({ name: 'tools.refund', arguments: { customerId: 'c-3', amount: 42 } });
    expect(r.isError).toBe(true);
    expect((r.content as { text: string }[])[0]!.text).toMatch(/approval required/);
    expect(refunds()).toBe(before);
  });

  it('over HTTP: the user sees and confirms their own pending call with a user key; an approver cannot', async () => {
    const c = await connect(false);
    await c.callTool({ name: 'tools.refund', arguments: { customerId: 'c-5', amount: 44 } });
    const api = (key: string, method: string, path: string) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
    const listed = (await (await api('secret-alice-key', 'GET', '/v1/approvals?status=pending')).json()) as {
      items: { id: string; user: string; role: string }[];
    };
    expect(listed.items.length).toBeGreaterThan(0);
    expect(listed.items.every((a) => a.user === 'alice' && a.role === 'self')).toBe(true);
    const id = listed.items[0]!.id;
    const byApprover = await api('secret-approver-key', 'POST', `/v1/approvals/${id}/approve`);
    // Answered as GET answers an approver (404): it waits for alice's own word, not a role.
    expect(byApprover.status).toBe(404);
    expect(((await byApprover.json()) as { error: { code: string } }).error.code).toBe('not_found');
    // Nor alice's approver credential: it holds a role, not her own word, and cannot see the approval.
    expect((await api('secret-alice-approver-key', 'GET', `/v1/approvals/${id}`)).status).toBe(404);
    const asApprover = await api('secret-alice-approver-key', 'POST', `/v1/approvals/${id}/approve`);
    expect(asApprover.status).toBe(404);
    expect(((await asApprover.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const byAlice = await api('secret-alice-key', 'POST', `/v1/approvals/${id}/approve`);
    expect(byAlice.status).toBe(200);
    expect(((await byAlice.json()) as { status: string }).status).toBe('approved');
  });

  it('only that user may confirm: the agent cannot, another user cannot', async () => {
    const c = await connect(false);
    await c.callTool({ name: 'tools.refund', arguments: { customerId: 'c-4', amount: 43 } });
    const [pending] = await m.approvals.list({ status: 'pending' });
    // Neither may see it (GET answers 404): answered so, without the user it waits for named.
    for (const voter of [
      { id: 'bot', roles: ['self'] },
      { id: 'bot', roles: [], via: 'mcp-elicitation' as const },
      { id: 'frank', roles: ['self'] },
      { id: 'frank', roles: [], via: 'user' as const },
    ]) {
      const refused = m.approvals.vote(pending!.id, voter, 'approve', null, null);
      await expect(refused).rejects.toMatchObject({
        code: 'not_found',
        message: `no approval ${pending!.id}`,
      });
    }
  });
});

// Found by a black-box probe: the MCP client is the agent's own connection, so with elicitation on
// by default whoever held the agent key answered "confirm" and the trail showed the user's consent.
describe('confirmation by elicitation is off unless the operator turns it on', () => {
  let m: Mandate;
  let url: string;
  const callLog = join(tmpdir(), `mandate-self-off-${process.pid}-calls.jsonl`);
  let client: Client | undefined;

  beforeAll(async () => {
    ({ m, url } = await startSelfConfirming(callLog, false));
  });
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('an elicitation-capable client is never asked; the call waits for the user, nothing is forwarded', async () => {
    client = await mcpClient(url, 'secret-bot-key', { elicitation: {} });
    let asked = 0;
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++;
      return { action: 'accept', content: { confirm: true } };
    });
    const r = await client.callTool({ name: 'tools.refund', arguments: { customerId: 'c-9', amount: 49 } });
    expect(r.isError).toBe(true);
    expect((r.content as { text: string }[])[0]!.text).toMatch(/approval required/);
    expect(asked).toBe(0);
    expect(readLog(callLog).filter((e) => e.tool === 'refund')).toHaveLength(0);
    expect(await m.approvals.list({ status: 'pending' })).toHaveLength(1);
  });
});
