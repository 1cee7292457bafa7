// A black-box probe: a POST of `[initialize, ping]` was answered 400 ("Only one initialization
// request is allowed") with no session id, but the endpoint had already opened a session and its
// upstream processes (5 such POSTs: 6 processes), counted toward maxSessions, which nobody could
// close. A refused initialize now opens nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  ECHO_POLICIES,
  ECHO_SCHEMA,
  livePids,
  startMandate,
  startupListingDone,
  toolServerUpstream,
} from './helpers.js';
import { initializeRequest, wirePost } from './wire.js';

const BOT = 'secret-bot-key';

describe('MCP gateway: a refused initialize opens no session', () => {
  let m: Mandate;
  let url: string;
  const pidLog = join(tmpdir(), `gw-refused-init-${process.pid}-${Date.now()}.txt`);

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: ECHO_SCHEMA,
      policies: ECHO_POLICIES,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [toolServerUpstream('tools', { PID_LOG: pidLog })] },
    }));
    await startupListingDone(pidLog);
  }, 60_000);
  afterAll(async () => {
    await m?.close();
  });

  const refusedBodies: [string, unknown, RegExp][] = [
    ['batched with a ping', [initializeRequest(), { jsonrpc: '2.0', id: 1, method: 'ping' }], /Only one/],
    ['sent as a notification', { jsonrpc: '2.0', method: 'initialize', params: {} }, /must be a request/],
    [
      'without clientInfo',
      { ...initializeRequest(), params: { protocolVersion: '2025-06-18' } },
      /Invalid params/,
    ],
    ['batched with an invalid message', [initializeRequest(), { id: 2 }], /Invalid JSON-RPC/],
  ];

  it.each(refusedBodies)('an initialize %s: 400, no session id, nothing opened', async (_, body, why) => {
    const a = await wirePost(url, BOT, null, body);
    expect(a.status, a.text).toBe(400);
    expect(a.sessionId).toBeNull();
    expect(a.messages[0]?.error?.message).toMatch(why);
    expect(m.gateway!.sessionCount()).toBe(0);
    expect(livePids(pidLog)).toEqual([]);
  });

  it('an initialize alone opens one session, with its upstream process', async () => {
    const a = await wirePost(url, BOT, null, initializeRequest());
    expect(a.status, a.text).toBe(200);
    expect(a.sessionId).toMatch(/./);
    expect(m.gateway!.sessionCount()).toBe(1);
    expect(livePids(pidLog)).toHaveLength(1);
  });
});
