// A credential revoked while its request's body is still arriving: the request is refused, whatever
// door it came through. A probe sent the headers of a request with a fresh key, held the body back,
// revoked the key (200), then sent the rest: `POST /v1/decisions` was allowed with the revoked key
// named as caller, `POST /v1/keys` minted a working admin key 100 s after its creator was revoked,
// and the same held `/mcp` request went through. The key was looked up once, at the headers.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import type { Mandate } from '../../src/app/index.js';
import { KEYS, client, type Client } from '../fixtures/http.js';
import { startExample } from '../gateway/helpers.js';

interface Held {
  /** Sends the rest of the body and resolves with the status line and body of the answer. */
  finish(): Promise<{ status: number; body: string }>;
}

/** Opens a raw connection, sends the headers and the first 5 bytes of `payload`, and holds the rest. */
function hold(url: string, path: string, secret: string, payload: string, extra = ''): Promise<Held> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${secret}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n${extra}` +
          `Connection: close\r\n\r\n${payload.slice(0, 5)}`,
      );
      let got = '';
      const answer = new Promise<{ status: number; body: string }>((done) => {
        s.setEncoding('utf8');
        s.on('data', (d: string) => (got += d));
        s.on('close', () =>
          done({
            status: Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0),
            body: got.split('\r\n\r\n')[1] ?? '',
          }),
        );
      });
      // The server has read the headers (and looked the key up) well before the test revokes it.
      setTimeout(
        () =>
          resolve({
            finish: () => {
              s.write(payload.slice(5));
              return answer;
            },
          }),
        500,
      );
    });
    s.on('error', reject);
  });
}

describe('a credential revoked while the body of its request is still arriving', () => {
  let m: Mandate;
  let url: string;
  let api: Client;
  beforeAll(async () => {
    ({ m, url } = await startExample());
    api = client(url);
  });
  afterAll(async () => {
    await m?.close();
  });

  async function newKey(role: 'agent' | 'admin', subject?: string) {
    const r = await api.post('/v1/keys', KEYS.admin, subject === undefined ? { role } : { role, subject });
    expect(r.status, r.text).toBe(201);
    return r.body as { key: { id: string }; secret: string };
  }
  const decisionBody = JSON.stringify({
    agent: 'support-bot',
    onBehalfOf: 'alice',
    action: 'payments.refund',
    args: { customerId: 'c-42', amount: 120 },
    intent: 'held body',
  });
  async function decisionsFor(keyId: string): Promise<AuditEvent[]> {
    const recs = await m.store.queryAudit({ type: 'decision', limit: 1000 });
    return recs
      .map((r) => JSON.parse(r.eventText) as AuditEvent)
      .filter((e) => JSON.stringify(e.data?.caller ?? '').includes(keyId));
  }

  it('POST /v1/decisions: decided when the key stands, 401 and nothing decided when it was revoked meanwhile', async () => {
    const live = await newKey('agent', 'support-bot');
    const held = await hold(url, '/v1/decisions', live.secret, decisionBody);
    const ok = await held.finish();
    expect(ok.status, ok.body).toBe(200);
    expect(JSON.parse(ok.body).effect).toBe('allow');

    const doomed = await newKey('agent', 'support-bot');
    const pending = await hold(url, '/v1/decisions', doomed.secret, decisionBody);
    expect((await api.del(`/v1/keys/${doomed.key.id}`, KEYS.admin)).status).toBe(200);
    const refused = await pending.finish();
    expect(refused.status, refused.body).toBe(401);
    expect(JSON.parse(refused.body).error.code).toBe('unauthenticated');
    expect(await decisionsFor(doomed.key.id)).toEqual([]);
    expect(await decisionsFor(live.key.id)).toHaveLength(1);
  });

  it('POST /v1/keys: a revoked admin key mints nothing with a body it held back', async () => {
    const admin = await newKey('admin');
    const body = JSON.stringify({ role: 'admin' });
    const works = await (await hold(url, '/v1/keys', admin.secret, body)).finish();
    expect(works.status, works.body).toBe(201);

    const before = (await api.get('/v1/keys', KEYS.admin)).body.items.length as number;
    const pending = await hold(url, '/v1/keys', admin.secret, body);
    expect((await api.del(`/v1/keys/${admin.key.id}`, KEYS.admin)).status).toBe(200);
    const refused = await pending.finish();
    expect(refused.status, refused.body).toBe(401);
    expect((await api.get('/v1/keys', KEYS.admin)).body.items.length).toBe(before);
  });

  it('POST /access/v1/evaluation (AuthZEN): no decision with a key revoked meanwhile', async () => {
    const doomed = await newKey('agent', 'support-bot');
    const body = JSON.stringify({
      subject: { type: 'agent', id: 'support-bot' },
      action: { name: 'payments.refund' },
      resource: { type: 'Customer', id: 'c-42' },
      context: { onBehalfOf: 'alice', args: { customerId: 'c-42', amount: 120 } },
    });
    const pending = await hold(url, '/access/v1/evaluation', doomed.secret, body);
    expect((await api.del(`/v1/keys/${doomed.key.id}`, KEYS.admin)).status).toBe(200);
    const refused = await pending.finish();
    expect(refused.status, refused.body).toBe(401);
    expect(await decisionsFor(doomed.key.id)).toEqual([]);
  });

  it('POST /mcp: a session opens with a standing key, and not with one revoked meanwhile', async () => {
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    const accept = 'Accept: application/json, text/event-stream\r\n';
    const live = await newKey('agent', 'support-bot');
    const ok = await (await hold(url, '/mcp', live.secret, init, accept)).finish();
    expect(ok.status, ok.body).toBe(200);

    const doomed = await newKey('agent', 'support-bot');
    const pending = await hold(url, '/mcp', doomed.secret, init, accept);
    expect((await api.del(`/v1/keys/${doomed.key.id}`, KEYS.admin)).status).toBe(200);
    const refused = await pending.finish();
    expect(refused.status, refused.body).toBe(401);
  });
});
