// Pin records name the tool by its action, as decisions do. Found by a black-box probe: with the
// shipped config (upstream fintech, actionPrefix "") decisions said payments.refund while
// tool.pinned, tool.quarantined and tool.approved said fintech.payments.refund.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  ECHO_POLICIES,
  ECHO_SCHEMA,
  mcpClient,
  startMandate,
  toolServerUpstream,
} from './helpers.js';

describe('MCP gateway: tool pin records name the action with the upstream actionPrefix applied', () => {
  let m: Mandate;
  let url: string;
  let client: Client;

  beforeAll(async () => {
    // Upstream `up`, whose tools are the actions `tools.<tool>` (never `up.<tool>`), not trusted on
    // first use: each tool is pinned, quarantined and, once an admin approves it, approved.
    const up = { ...toolServerUpstream('up', {}), actionPrefix: 'tools.', trustOnFirstUse: false };
    ({ m, url } = await startMandate({
      schema: ECHO_SCHEMA,
      policies: ECHO_POLICIES,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [up] },
    }));
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  const records = async (type: string) =>
    (await m.store.queryAudit({ type, limit: 100 }))
      .map((r) => JSON.parse(r.eventText) as { action: string; data: { server: string; tool: string } })
      .filter((r) => r.data.tool === 'echo' || type === 'decision');

  it('pinned, quarantined, approved and decided: every record says tools.echo', async () => {
    await client.listTools();
    const refused = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect(refused.isError).toBe(true);
    const approve = await fetch(`${url}/v1/tools/tools.echo/approve`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-admin-key', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(approve.status).toBe(200);
    const ok = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect(ok.isError).toBeFalsy();

    for (const type of ['tool.pinned', 'tool.quarantined', 'tool.approved'])
      expect(
        (await records(type)).map((r) => [r.action, r.data.server]),
        type,
      ).toEqual([['tools.echo', 'up']]);
    expect((await records('decision')).map((r) => r.action)).toEqual(['tools.echo', 'tools.echo']);
    const all = await m.store.queryAudit({ limit: 1000 });
    expect(all.filter((r) => (JSON.parse(r.eventText) as { action?: string }).action === 'up.echo')).toEqual(
      [],
    );
  });
});
