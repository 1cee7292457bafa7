// An agent whose id is the name of an Object.prototype member (`constructor`, `toString`) read the
// prototype as the user it acts for (`gateway.onBehalfOf` looked up on a plain object): every MCP
// call of it failed as `audit_unavailable` and left no record, while the same call over /v1 was
// decided and recorded (a probe). It is decided and recorded like any other agent's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { KEYS, client, ok200, type Client as Api } from '../fixtures/http.js';
import { mcpClient, startExample } from './helpers.js';

describe('MCP calls of agents named like Object.prototype members', () => {
  let m: Mandate;
  let url: string;
  let api: Api;
  const clients: Client[] = [];
  beforeAll(async () => {
    ({ m, url } = await startExample());
    api = client(url);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  it.each(['constructor', 'toString', 'support-bot'])(
    '%s: the call is decided and on the record',
    async (id) => {
      if (id !== 'support-bot')
        ok200(
          await api.put('/v1/entities', KEYS.admin, {
            agents: [{ id, roles: ['support'], status: 'active', attributes: { tenant: 'acme' } }],
          }),
        );
      const created = await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: id });
      expect(created.status, created.text).toBe(201);
      const session = await mcpClient(url, (created.body as { secret: string }).secret);
      clients.push(session);
      const done = await session.callTool({ name: 'crm.read_customer', arguments: { customerId: 'c-42' } });
      expect(JSON.stringify(done.content)).not.toMatch(/audit/);
      const recs = (await api.get(`/v1/audit?agent=${id}&type=decision&limit=10`, KEYS.admin)).body.items as {
        event: { action: string; user: string | null };
      }[];
      expect(recs.map((r) => r.event.action)).toEqual(['crm.read_customer']);
      // The example maps support-bot's key to alice; nothing maps the others.
      expect(recs[0]!.event.user ?? null).toBe(id === 'support-bot' ? 'alice' : null);
    },
  );
});
