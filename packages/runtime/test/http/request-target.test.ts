// The request target is read once, as origin-form only (RFC 9112 §3.2.1): `//host/path` parsed as a
// network-path reference served `/path` to a target that a front proxy matching path prefixes does
// not match (a probe: `GET //evil.example/v1/keys` with an admin key listed the keys). Each refused
// target sits next to the plain path it would have reached, which is still served.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, expectError, type HttpResult } from '../fixtures/http.js';

let t: TestMandate;

beforeAll(async () => {
  t = await createTestMandate({ store: 'memory' });
});
afterAll(disposeAll);

interface RawRequest {
  method?: string;
  key?: string;
  json?: unknown;
  /** Resolve as soon as the status line and headers are in (for streams), then drop the connection. */
  headersOnly?: boolean;
}

/**
 * Sends `target` byte for byte as the request target: `http.request`'s `path` is not normalised,
 * where `fetch(new URL(...))` would resolve `//host/path` against the base before sending it.
 */
function raw(target: string, opts: RawRequest = {}): Promise<HttpResult> {
  const { hostname, port } = new URL(t.url);
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path: target, method: opts.method ?? 'GET', headers });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${target}`));
    }, 5000);
    req.on('response', (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
      const done = (text: string) => {
        clearTimeout(timer);
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: h, text, body: parsed });
      };
      if (opts.headersOnly) {
        req.destroy();
        done('');
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => done(text));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** The probe's AuthZEN evaluation: support-bot refunding 120 to alice's customer c-42. */
const EVALUATION = {
  subject: { type: 'user', id: 'alice' },
  action: { name: 'payments.refund' },
  resource: { type: 'Customer', id: 'c-42' },
  context: { args: { customerId: 'c-42', amount: 120 } },
};

describe('the request target', () => {
  it('serves GET /v1/keys to an admin key', async () => {
    const res = await raw('/v1/keys', { key: KEYS.admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('refuses GET //evil.example/v1/keys with 400 bad_request, admin key or not', async () => {
    const res = await raw('//evil.example/v1/keys', { key: KEYS.admin });
    expectError(res, 400, 'bad_request');
    expect(res.body.error.message).toMatch(/single '\/'/);
    // Refused before authentication: no key gets the same 400, not a 401.
    expectError(await raw('//evil.example/v1/keys'), 400, 'bad_request');
  });

  it('refuses the backslash spelling /\\evil.example/v1/keys, which the URL parser also reads as a host', async () => {
    expectError(await raw('/\\evil.example/v1/keys', { key: KEYS.admin }), 400, 'bad_request');
  });

  it('refuses absolute-form, `*` and a target that is not a path', async () => {
    expectError(await raw(`${t.url}/v1/keys`, { key: KEYS.admin }), 400, 'bad_request');
    expectError(await raw('http://localhost/v1/keys', { key: KEYS.admin }), 400, 'bad_request');
    expectError(await raw('*', { method: 'OPTIONS', key: KEYS.admin }), 400, 'bad_request');
  });

  it('keeps a doubled slash later in the path a path (not a host): /v1//keys is not /v1/keys', async () => {
    expectError(await raw('/v1//keys', { key: KEYS.admin }), 404, 'not_found');
  });

  it('answers POST /access/v1/evaluation and refuses POST //x/access/v1/evaluation', async () => {
    const ok = await raw('/access/v1/evaluation', { method: 'POST', key: KEYS.supportBot, json: EVALUATION });
    expect(ok.status).toBe(200);
    expect(typeof ok.body.decision).toBe('boolean');
    const refused = await raw('//x/access/v1/evaluation', {
      method: 'POST',
      key: KEYS.supportBot,
      json: EVALUATION,
    });
    expectError(refused, 400, 'bad_request');
  });

  it('opens /v1/decisions/stream?… as a stream and refuses //x/v1/decisions/stream', async () => {
    const stream = await raw('/v1/decisions/stream?effect=deny', { key: KEYS.admin, headersOnly: true });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expectError(await raw('//x/v1/decisions/stream', { key: KEYS.admin }), 400, 'bad_request');
  });

  it('sends /mcp?x to the MCP gateway and refuses //x/mcp before it', async () => {
    // The gateway refuses a call without a credential with 401; the route table has no /mcp (404).
    expect((await raw('/mcp?x', { method: 'POST', json: {} })).status).toBe(401);
    expectError(await raw('//x/mcp', { method: 'POST', json: {} }), 400, 'bad_request');
  });
});
