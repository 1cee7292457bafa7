// A black-box probe: after `DELETE /v1/keys/:id`, new requests got 401, but the key's open
// `GET /mcp` stream went on delivering an upstream's notifications/message (6 in 3 s), and its
// session and upstream processes lived until sessionIdleMs. What the session sends on its own is
// now checked against the credential like its requests; a revoked one closes stream and session,
// as does a request of the session refused for that credential.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  ECHO_POLICIES,
  ECHO_SCHEMA,
  eventually,
  livePids,
  startMandate,
  startupListingDone,
  toolServerUpstream,
} from './helpers.js';
import { wireGetStream, wirePost, wireSession, type WireStream } from './wire.js';

const ADMIN = { authorization: 'Bearer secret-admin-key', 'content-type': 'application/json' };
const PING = { jsonrpc: '2.0', id: 1, method: 'ping' };

/** A fresh agent key of `bot`, and how to revoke it. */
async function agentKey(url: string) {
  const created = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: ADMIN,
    body: JSON.stringify({ role: 'agent', subject: 'bot' }),
  });
  expect(created.status).toBe(201);
  const { key, secret } = (await created.json()) as { key: { id: string }; secret: string };
  const revoke = async () => {
    const r = await fetch(`${url}/v1/keys/${key.id}`, { method: 'DELETE', headers: ADMIN });
    expect(r.status).toBe(200);
  };
  return { secret, revoke };
}

/** A node whose one upstream is the tool server with `env`, logging its processes to `pidLog`. */
async function startWith(pidLog: string, env: Record<string, string> = {}) {
  const started = await startMandate({
    schema: ECHO_SCHEMA,
    policies: ECHO_POLICIES,
    entities: BOT_ENTITIES,
    gateway: { upstreams: [toolServerUpstream('tools', { ...env, PID_LOG: pidLog })] },
  });
  await startupListingDone(pidLog);
  return started;
}

/** Waits until one upstream process fewer than `processes` runs; returns how many do. */
const oneProcessFewer = (pidLog: string, processes: number) =>
  eventually(
    () => livePids(pidLog).length,
    (n) => n < processes,
  );

describe("MCP gateway: a revoked key's open event stream", () => {
  let m: Mandate;
  let url: string;
  const streams: WireStream[] = [];
  const pidLog = join(tmpdir(), `gw-revoked-stream-${process.pid}-${Date.now()}.txt`);

  beforeAll(async () => {
    ({ m, url } = await startWith(pidLog, { TICK_MS: '100' }));
  }, 60_000);
  afterAll(async () => {
    for (const s of streams) s.close();
    await m?.close();
  });

  /** A session of a fresh key whose upstream ticks, and its GET stream receiving the ticks. */
  async function tickingSession() {
    const { secret, revoke } = await agentKey(url);
    const { sessionId } = await wireSession(url, secret);
    const stream = await wireGetStream(url, secret, sessionId);
    streams.push(stream);
    await eventually(
      () => stream.messages.length,
      (n) => n >= 2,
    );
    expect(stream.messages.at(-1)).toMatchObject({ method: 'notifications/message' });
    return { secret, sessionId, stream, revoke };
  }

  it('keeps receiving while the key stands', async () => {
    const { stream } = await tickingSession();
    const seen = stream.messages.length;
    await eventually(
      () => stream.messages.length,
      (n) => n > seen + 2,
    );
    expect(stream.ended()).toBe(false);
    expect(stream.messages.length).toBeGreaterThan(seen + 2);
  });

  it('is closed, with its session and upstream process, once the key is revoked', async () => {
    const { secret, sessionId, stream, revoke } = await tickingSession();
    const before = m.gateway!.sessionCount();
    const processes = livePids(pidLog).length;
    await revoke();
    expect(
      await eventually(
        () => stream.ended(),
        (ended) => ended,
        5000,
      ),
    ).toBe(true);
    expect(m.gateway!.sessionCount()).toBe(before - 1);
    expect(await oneProcessFewer(pidLog, processes)).toBe(processes - 1);
    expect((await wirePost(url, secret, sessionId, PING)).status).toBe(401);
  });
});

describe('MCP gateway: a revoked key whose session receives nothing', () => {
  let m: Mandate;
  let url: string;
  const pidLog = join(tmpdir(), `gw-revoked-quiet-${process.pid}-${Date.now()}.txt`);

  beforeAll(async () => {
    ({ m, url } = await startWith(pidLog));
  }, 60_000);
  afterAll(async () => {
    await m?.close();
  });

  it('a request of the session with the revoked key is refused (401) and closes the session', async () => {
    const { secret, revoke } = await agentKey(url);
    const { sessionId } = await wireSession(url, secret);
    expect((await wirePost(url, secret, sessionId, PING)).status).toBe(200);
    const before = m.gateway!.sessionCount();
    const processes = livePids(pidLog).length;
    await revoke();
    expect((await wirePost(url, secret, sessionId, PING)).status).toBe(401);
    expect(m.gateway!.sessionCount()).toBe(before - 1);
    expect(await oneProcessFewer(pidLog, processes)).toBe(processes - 1);
  });

  it("another credential refused on the session's id closes nothing", async () => {
    const { secret } = await agentKey(url);
    const { sessionId } = await wireSession(url, secret);
    const before = m.gateway!.sessionCount();
    expect((await wirePost(url, 'not-a-key', sessionId, PING)).status).toBe(401);
    expect(m.gateway!.sessionCount()).toBe(before);
    expect((await wirePost(url, secret, sessionId, PING)).status).toBe(200);
  });
});
