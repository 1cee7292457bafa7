import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
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

  it('concurrent initializes do not start more upstream processes than maxSessions; past it: 503', async () => {
    // Found by a black-box probe: twelve initializes at once with maxSessions 4 started 25 stdio
    // upstream processes — sessions still opening were not counted.
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    const started = () =>
      existsSync(pidLog) ? readFileSync(pidLog, 'utf8').split('\n').filter(Boolean).length : 0;
    const before = started();
    const init = (i: number) =>
      fetch(new URL('/mcp', url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${i % 2 ? 'secret-bot2-key' : 'secret-bot-key'}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: `burst-${i}`, version: '1' },
          },
        }),
      }).then(async (r) => {
        await r.text();
        return r.status;
      });
    const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => init(i)));
    expect(statuses.filter((s) => s === 200).length, JSON.stringify(statuses)).toBeGreaterThan(0);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      JSON.stringify(statuses),
    ).toBe(true);
    expect(started() - before, 'upstream processes started by the burst').toBeLessThanOrEqual(3);
    expect(m.gateway!.sessionCount()).toBeLessThanOrEqual(3);
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
