import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  eventually,
  livePids,
  mcpClient,
  startMandate,
  toolServerUpstream,
  ECHO_POLICIES,
  ECHO_SCHEMA,
} from './helpers.js';

const SCHEMA = ECHO_SCHEMA;
const POLICIES = ECHO_POLICIES;

describe('MCP gateway: what sessions cost is bounded', () => {
  let m: Mandate;
  let url: string;
  const pidLog = join(tmpdir(), `gw-sessions-${process.pid}-${Date.now()}.txt`);
  const clients: Client[] = [];

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      // Two agent keys: the total cap holds across keys, not only per key.
      apiKeys: [
        { name: 'bot', secret: 'secret-bot-key', role: 'agent', subject: 'bot' },
        { name: 'bot2', secret: 'secret-bot2-key', role: 'agent', subject: 'bot' },
      ],
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [toolServerUpstream('tools', { PID_LOG: pidLog })],
        maxSessions: 3,
      },
    }));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await m?.close();
  });

  it('sessions left open without DELETE never hold more than maxSessions upstream processes', async () => {
    for (let i = 0; i < 8; i++) {
      // SDK clients that end without terminating their session (no DELETE), from two keys.
      const c = await mcpClient(url, i % 2 ? 'secret-bot2-key' : 'secret-bot-key');
      const r = await c.callTool({ name: 'tools.echo', arguments: { text: `session ${i}` } });
      expect(r.isError).toBeFalsy();
      clients.push(c);
      await c.close();
      expect(m.gateway!.sessionCount()).toBeLessThanOrEqual(3);
    }
    const live = await eventually(
      () => livePids(pidLog),
      (p) => p.length <= 3,
    );
    expect(live.length).toBeLessThanOrEqual(3);
    expect(live.length).toBeGreaterThan(0);
  }, 120_000);

  it('the newest sessions keep working; the evicted one is told to start over (404)', async () => {
    const a = await mcpClient(url, 'secret-bot-key');
    clients.push(a);
    for (let i = 0; i < 3; i++) clients.push(await mcpClient(url, 'secret-bot2-key'));
    // `a` was the least recently used: its session is gone.
    await expect(a.callTool({ name: 'tools.echo', arguments: { text: 'old' } })).rejects.toThrow(
      /404|not found/i,
    );
    const newest = clients.at(-1)!;
    const r = await newest.callTool({ name: 'tools.echo', arguments: { text: 'new' } });
    expect(r.isError).toBeFalsy();
  }, 120_000);
});
