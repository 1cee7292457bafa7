// A call held for approval at the gateway (`holdForApprovalMs`) is decided again when the approval
// comes: under the credential as it stands then. A probe revoked the agent key during the wait, a
// finance manager approved, and the held refund of 901 was recorded allow and forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { KEYS, client, ok200, type Client as Api } from '../fixtures/http.js';
import { eventually, mcpClient, startExample } from './helpers.js';

describe('a call held for approval, under a credential revoked during the wait', () => {
  let m: Mandate;
  let url: string;
  let api: Api;
  const clients: Client[] = [];
  beforeAll(async () => {
    ({ m, url } = await startExample((c) => (c.gateway!.holdForApprovalMs = 30_000)));
    api = client(url);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  /** A fresh agent key of support-bot, an MCP session with it, and a refund of `amount` held for approval. */
  async function heldRefund(amount: number) {
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot' });
    expect(created.status, created.text).toBe(201);
    const { key, secret } = created.body as { key: { id: string }; secret: string };
    const session = await mcpClient(url, secret);
    clients.push(session);
    const call = session.callTool({ name: 'payments.refund', arguments: { customerId: 'c-42', amount } });
    type Pending = { id: string; args: { amount: number } };
    const pending = await eventually(
      async () =>
        ((await api.get('/v1/approvals?status=pending', KEYS.admin)).body.items as Pending[]).find(
          (a) => a.args.amount === amount,
        ),
      (a) => a !== undefined,
      10_000,
    );
    expect(pending).toBeDefined();
    return { keyId: key.id, call, approvalId: pending!.id };
  }
  const text = (r: unknown) => JSON.stringify((r as { content: unknown }).content);

  it('runs once approved while the key stands', async () => {
    const { call, approvalId } = await heldRefund(903);
    expect((await api.approve(approvalId, KEYS.frank)).status).toBe(200);
    const done = await call;
    expect(done.isError, text(done)).toBeFalsy();
    expect(text(done)).toMatch(/903/);
  });

  it('decides nothing and forwards nothing once the key was revoked meanwhile', async () => {
    const { keyId, call, approvalId } = await heldRefund(901);
    ok200(await api.request('DELETE', `/v1/keys/${keyId}`, { key: KEYS.admin }));
    expect((await api.approve(approvalId, KEYS.frank)).status).toBe(200);
    const done = await call;
    expect(done.isError).toBe(true);
    expect(text(done)).toMatch(/could not decide this call/);
    // No allow on the record for it: the approval was not consumed.
    const consumed = (await api.get(`/v1/audit?type=approval.consumed&limit=100`, KEYS.admin)).body.items as {
      event: { data: { approvalId: string } };
    }[];
    expect(consumed.map((r) => r.event.data.approvalId)).not.toContain(approvalId);
  });
});
