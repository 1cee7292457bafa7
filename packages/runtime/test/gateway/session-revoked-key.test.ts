// A probe: `mandate gateway --stdio` checked its key again only when 100 ms had passed since the
// last check, so a chatty agent kept deciding — and running — calls for up to 100 ms after its key
// was revoked (`DELETE /v1/keys` answered 200, then a refund was allowed and forwarded). A session
// whose transport authenticates nothing checks its credential before every decision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Mandate } from '../../src/app/index.js';
import { authenticate } from '../../src/http/auth.js';
import { KEYS, client, ok200, type Client as Api } from '../fixtures/http.js';
import { startExample } from './helpers.js';

describe('an MCP session its transport does not authenticate (stdio)', () => {
  let m: Mandate;
  let api: Api;
  const clients: Client[] = [];
  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startExample());
    api = client(url);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  async function session() {
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot' });
    expect(created.status, created.text).toBe(201);
    const { key, secret } = created.body as { key: { id: string }; secret: string };
    const lookup = () => authenticate(m.store, `Bearer ${secret}`);
    let checks = 0;
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await m.gateway!.serve(serverSide, await lookup(), {}, () => (checks++, lookup()));
    const c = new Client({ name: 'stdio-like', version: '1.0.0' });
    await c.connect(clientSide);
    clients.push(c);
    const refund = (amount: number) =>
      c.callTool({ name: 'payments.refund', arguments: { customerId: 'c-42', amount } });
    return { keyId: key.id, refund, checks: () => checks };
  }
  const text = (r: unknown) => JSON.stringify((r as { content: unknown }).content);

  it('checks its key before every decision, and decides while it stands', async () => {
    const s = await session();
    for (const amount of [101, 102, 103]) {
      const r = await s.refund(amount);
      expect(r.isError, text(r)).toBeFalsy();
    }
    expect(s.checks()).toBe(3);
  });

  it('decides nothing once the key was revoked, however soon after its last call', async () => {
    const s = await session();
    expect((await s.refund(104)).isError).toBeFalsy();
    ok200(await api.request('DELETE', `/v1/keys/${s.keyId}`, { key: KEYS.admin }));
    const after = await s.refund(105);
    expect(after.isError).toBe(true);
    expect(text(after)).toMatch(/could not decide this call.*(revoked|unauthenticated)/i);
    const allowed = (await api.get('/v1/audit?type=decision&limit=1000', KEYS.admin)).body.items as {
      event: { effect: string; data: { args?: { amount?: number } } };
    }[];
    expect(allowed.filter((r) => r.event.data.args?.amount === 105).map((r) => r.event.effect)).not.toContain(
      'allow',
    );
  });
});
