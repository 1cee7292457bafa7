import { gzipSync } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import type { ReadCachedStore } from '../../src/storage/read-cache.js';
import {
  KEYS,
  client,
  codes,
  expectError,
  ok200,
  partialBody,
  reasonIds,
  refund,
  type Client,
} from '../fixtures/http.js';

const MAX_BODY = 4096;

let t: TestMandate;
let api: Client;

beforeAll(async () => {
  t = await createTestMandate({
    store: 'sqlite',
    config: (c) => {
      c.server.maxBodyBytes = MAX_BODY;
    },
  });
  api = client(t.url);
});
afterAll(disposeAll);

/** Sends a body in chunks without a content-length, so only the streaming check can catch its size. */
function postChunked(
  url: string,
  chunks: Buffer[],
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL('/v1/decisions', url),
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${KEYS.supportBot}`,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === chunks.length) return req.end();
      const ok = req.write(chunks[i++]!);
      if (ok) setImmediate(next);
      else req.once('drain', next);
    };
    next();
  });
}

describe('the README tour over HTTP (SQLite store)', () => {
  it('allows a refund of 120 for alice, naming the agent and user permits and alice’s grant', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
    expect(d.effect).toBe('allow');
    expect(d.decisionId).toMatch(/^dec_[0-9A-Z]{26}$/);
    expect(d.errors).toEqual([]);
    expect(d.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          policyId: 'refund-small',
          principal: 'agent',
          reason: 'refunds up to 500 are allowed',
        }),
        expect.objectContaining({ policyId: 'user-support-customers', principal: 'user' }),
      ]),
    );
    expect(d.policyVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(d.resource).toEqual({ type: 'Customer', id: 'c-42' });
    const grants = ok200(await api.get('/v1/grants?user=alice&agent=support-bot', KEYS.admin)) as {
      items: { id: string }[];
    };
    expect(grants.items.map((g) => g.id)).toContain(d.grantId);
    expect(d.approval).toBeUndefined();
  });

  it('denies the same refund on a customer of another tenant (c-77, globex) by default', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-77')));
    expect(d.effect).toBe('deny');
    expect(reasonIds(d)).toContain('mandate.default_deny');
  });

  it('denies reading a customer of another tenant with reason mandate.default_deny and no errors', async () => {
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'crm.read_customer',
        args: { customerId: 'c-77' },
      }),
    );
    expect(d.effect).toBe('deny');
    expect(new Set(reasonIds(d))).toEqual(new Set(['mandate.default_deny']));
    expect(d.errors).toEqual([]);
    expect(d.grantId).toBeDefined();
  });

  it('allows reading a customer of the agent’s own tenant (c-42)', async () => {
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'crm.read_customer',
        args: { customerId: 'c-42' },
      }),
    );
    expect(d.effect).toBe('allow');
    expect(reasonIds(d)).toEqual(
      expect.arrayContaining(['support-read-own-tenant', 'user-support-customers']),
    );
  });

  it('answers approval_required for a refund of 900, routed to finance-manager', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(d.effect).toBe('approval_required');
    expect(reasonIds(d)).toContain('refund-large-needs-finance');
    expect(d.approval).toMatchObject({ status: 'pending', role: 'finance-manager', quorum: 1 });
    expect(d.approval!.id).toMatch(/^apr_/);
    expect(Date.parse(d.approval!.expiresAt)).toBeGreaterThan(Date.now());
  });

  it('draws the approval line at 500: 500 is allowed, 501 needs approval', async () => {
    expect(ok200(await api.decide(KEYS.supportBot, refund(500))).effect).toBe('allow');
    expect(ok200(await api.decide(KEYS.supportBot, refund(501))).effect).toBe('approval_required');
  });

  it('denies a customer under legal hold even when the call would otherwise be allowed or need approval', async () => {
    const read = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'crm.read_customer',
        args: { customerId: 'c-13' },
      }),
    );
    expect(read.effect).toBe('deny');
    expect(reasonIds(read)).toContain('legal-hold');
    const big = ok200(await api.decide(KEYS.supportBot, refund(900, {}, 'c-13')));
    expect(big.effect).toBe('deny');
    expect(reasonIds(big)).toContain('legal-hold');
    expect(big.approval).toBeUndefined();
  });

  it('denies a refund beyond alice’s grant (10,000) before any approval is created', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(20_000)));
    expect(d.effect).toBe('deny');
    expect(codes(d)).toEqual(['grant_exceeded']);
    expect(d.approval).toBeUndefined();
  });

  it('denies acting for a user who granted nothing (dave) with no_grant', async () => {
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'dave',
        action: 'crm.read_customer',
        args: { customerId: 'c-42' },
      }),
    );
    expect(d.effect).toBe('deny');
    expect(codes(d)).toEqual(['no_grant']);
  });

  it('denies an unknown action with errors[].code unknown_action (a decision, not an HTTP error)', async () => {
    const d = ok200(
      await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'crm.delete_customer',
        args: { customerId: 'c-42' },
      }),
    );
    expect(d.effect).toBe('deny');
    expect(codes(d)).toEqual(['unknown_action']);
  });
});

describe('input validation at the edge', () => {
  it.each([
    ['amount as a string', { customerId: 'c-42', amount: '120' }, 'args.amount'],
    ['amount as a fraction', { customerId: 'c-42', amount: 120.5 }, 'args.amount'],
    ['amount below the minimum', { customerId: 'c-42', amount: 0 }, 'args.amount'],
    ['missing customerId', { amount: 120 }, 'args.customerId'],
    ['customerId not matching its pattern', { customerId: '../c-42', amount: 120 }, 'args.customerId'],
    ['an arg the schema does not know', { customerId: 'c-42', amount: 120, currency: 'USD' }, 'args'],
    [
      'a reserved Cedar escape key',
      { customerId: 'c-42', amount: 120, __entity: { type: 'User', id: 'x' } },
      'args.__entity',
    ],
  ])(
    'rejects args invalid for the schema (%s) with 400 invalid_args naming the path',
    async (_, args, path) => {
      const res = await api.decide(KEYS.supportBot, {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'payments.refund',
        args,
      });
      expectError(res, 400, 'invalid_args');
      const { error } = res.body as unknown as { error: { message: string; details: { path: string } } };
      expect(error.message.startsWith(`${path}:`) || error.message.startsWith(`${path}.`)).toBe(true);
      expect(error.details.path).toBe(path);
    },
  );

  it('accepts the same args when they are valid (the allow next to the denies above)', async () => {
    const res = await api.decide(KEYS.supportBot, {
      agent: 'support-bot',
      onBehalfOf: 'alice',
      action: 'payments.refund',
      args: { amount: 120, customerId: 'c-42' },
    });
    expect(ok200(res).effect).toBe('allow');
  });

  it('rejects a body with a duplicate key (the amount that means two things) with 400 duplicate_key', async () => {
    const raw =
      '{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":1,"amount":1000000}}';
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw }),
      400,
      'duplicate_key',
    );
    const topLevel =
      '{"agent":"support-bot","agent":"trade-bot","action":"crm.read_customer","args":{"customerId":"c-42"}}';
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: topLevel }),
      400,
      'duplicate_key',
    );
  });

  it('decides on a __proto__ key in args like any other: the tool schema refuses it (it was dropped, and the call allowed)', async () => {
    // z.record copied args by assignment, which drops a `__proto__` key: the call was decided (and
    // allowed) without a key the caller's tool then received. Now the tool's schema sees it.
    for (const raw of [
      '{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":100,"__proto__":{"evil":1}}}',
      '{"subject":{"type":"user","id":"alice"},"action":{"name":"payments.refund"},"resource":{"type":"Customer","id":"c-42"},"context":{"args":{"customerId":"c-42","amount":100,"__proto__":{"evil":1}}}}',
    ]) {
      const path = raw.startsWith('{"agent"') ? '/v1/decisions' : '/access/v1/evaluation';
      const res = await api.request('POST', path, { key: KEYS.supportBot, raw });
      expect(res.status, path).toBe(400);
      expect(JSON.stringify(res.body), path).toMatch(/invalid_args/);
    }
    // The allow next to it: the same call without the key.
    const ok =
      '{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":100}}';
    expect(ok200(await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: ok })).effect).toBe(
      'allow',
    );
  });

  it('rejects an integer beyond 2^53 with 400 invalid_number', async () => {
    const raw =
      '{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":9007199254740993}}';
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw }),
      400,
      'invalid_number',
    );
  });

  it('rejects a body nested deeper than server.maxJsonDepth with 400 too_deep', async () => {
    const deep = '{"x":'.repeat(40) + '1' + '}'.repeat(40);
    const raw = `{"agent":"support-bot","action":"crm.read_customer","args":{"customerId":"c-42","n":${deep}}}`;
    expectError(await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw }), 400, 'too_deep');
  });

  it('rejects invalid UTF-8 bytes with 400 invalid_utf8', async () => {
    const head = Buffer.from('{"agent":"support-bot","action":"crm.read_customer","args":{"customerId":"c-4');
    const tail = Buffer.from('"}}');
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const raw = new Uint8Array(Buffer.concat([head, Buffer.from(bad), tail]));
      expectError(
        await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw }),
        400,
        'invalid_utf8',
      );
    }
  });

  it('rejects malformed JSON and an empty body with 400 invalid_json', async () => {
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: '{"agent":' }),
      400,
      'invalid_json',
    );
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: '{} trailing' }),
      400,
      'invalid_json',
    );
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: '' }),
      400,
      'invalid_json',
    );
  });

  it('rejects a request the wire schema does not know with 400 bad_request', async () => {
    const res = await api.decide(KEYS.supportBot, { ...refund(120), isAdmin: true });
    expectError(res, 400, 'bad_request');
    expectError(
      await api.decide(KEYS.supportBot, { ...refund(120), action: 'Payments.Refund' }),
      400,
      'bad_request',
    );
  });

  it('rejects a body larger than server.maxBodyBytes with 413 body_too_large and keeps serving', async () => {
    const pad = 'x'.repeat(MAX_BODY * 2);
    const res = await api.decide(KEYS.supportBot, { ...refund(120), intent: pad });
    expectError(res, 413, 'body_too_large');
    expect(ok200(await api.get('/healthz'))).toEqual({ status: 'ok' });
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
  });

  it('rejects an oversized chunked body (no content-length) with 413 body_too_large while streaming', async () => {
    const chunk = Buffer.from(
      '{"agent":"support-bot","action":"crm.read_customer","args":{"customerId":"c-42","pad":"',
    );
    const filler = Buffer.alloc(1024, 0x61);
    const res = await postChunked(t.url, [
      chunk,
      ...Array.from({ length: 8 }, () => filler),
      Buffer.from('"}}'),
    ]);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('body_too_large');
    expect(ok200(await api.get('/healthz'))).toEqual({ status: 'ok' });
  });

  it('accepts a body of exactly the limit (the allow next to the 413)', async () => {
    const json = JSON.stringify(refund(120));
    // JSON whitespace pads the body to exactly the limit.
    const raw = json.slice(0, -1) + ' '.repeat(MAX_BODY - json.length) + '}';
    expect(Buffer.byteLength(raw)).toBe(MAX_BODY);
    expect(ok200(await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw })).effect).toBe(
      'allow',
    );
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: raw + ' ' }),
      413,
      'body_too_large',
    );
  });

  it('rejects any content type but application/json with 415', async () => {
    const json = JSON.stringify(refund(120));
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      expectError(
        await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: json, contentType }),
        415,
        'unsupported_media_type',
      );
    }
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: json, contentType: null }),
      415,
      'unsupported_media_type',
    );
    const withCharset = await api.request('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      raw: json,
      contentType: 'application/json; charset=utf-8',
    });
    expect(ok200(withCharset).effect).toBe('allow');
    // Another charset, or a Content-Encoding: the body would be misread as UTF-8 (400 invalid_utf8
    // at best), so it is refused for what it is.
    for (const contentType of ['application/json; charset=utf-16', 'application/json; charset=latin1']) {
      expectError(
        await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: json, contentType }),
        415,
        'unsupported_media_type',
      );
    }
    const gzipped = await api.request('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      raw: new Uint8Array(gzipSync(json)),
      headers: { 'content-encoding': 'gzip' },
    });
    expectError(gzipped, 415, 'unsupported_media_type');
    expect(gzipped.text).toMatch(/without Content-Encoding \(got gzip\)/);
    const identity = await api.request('POST', '/v1/decisions', {
      key: KEYS.supportBot,
      raw: json,
      headers: { 'content-encoding': 'identity' },
    });
    expect(ok200(identity).effect).toBe('allow');
  });
});

describe('who may ask', () => {
  it('rejects a request without a key, with an unknown key or another scheme with 401', async () => {
    expectError(await api.request('POST', '/v1/decisions', { json: refund(120) }), 401, 'unauthenticated');
    expectError(await api.decide('not-a-key-at-all', refund(120)), 401, 'unauthenticated');
    const basic = await api.request('POST', '/v1/decisions', {
      json: refund(120),
      headers: { authorization: 'Basic ZGVtby1hZG1pbjp4' },
    });
    expectError(basic, 401, 'unauthenticated');
  });

  it('answers 401 before looking at the body: an unknown key with an oversized or non-JSON body', async () => {
    const pad = 'x'.repeat(MAX_BODY * 2);
    expectError(
      await api.decide('not-a-key-at-all', { ...refund(120), intent: pad }),
      401,
      'unauthenticated',
    );
    const notJson = await api.request('POST', '/v1/decisions', {
      key: 'not-a-key-at-all',
      raw: '{"agent":',
    });
    expectError(notJson, 401, 'unauthenticated');
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations'])
      expectError(
        await api.request('POST', path, { key: 'not-a-key-at-all', raw: pad }),
        401,
        'unauthenticated',
      );
    // A known key with the same bodies gets the body's own errors.
    expectError(await api.decide(KEYS.supportBot, { ...refund(120), intent: pad }), 413, 'body_too_large');
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw: '{"agent":' }),
      400,
      'invalid_json',
    );
  });

  it('refuses an unknown key at once, without waiting for its body (a slow body holds nothing)', async () => {
    const res = await partialBody(t.url, '/v1/decisions', 'not-a-key-at-all');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe('unauthenticated');
  });

  it('reads the cache epoch once per decision: the caller and the decision share it', async () => {
    const stats = () => (t.m.store as ReadCachedStore).readCacheStats();
    // Warm the cache (the first decision loads the rows it reads).
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    const before = stats();
    for (let i = 0; i < 5; i++)
      expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    const after = stats();
    // Every row came from the cache: only the epoch was read, once per request.
    expect(after.misses - before.misses).toBe(0);
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(5 * 4);
    expect(after.epochReads - before.epochReads).toBe(5);
  });

  it('rejects an agent key asking for another agent with 403 agent_mismatch', async () => {
    expectError(await api.decide(KEYS.tradeBot, refund(120)), 403, 'agent_mismatch');
    expectError(
      await api.decide(KEYS.supportBot, { ...refund(120), agent: 'trade-bot' }),
      403,
      'agent_mismatch',
    );
  });

  it('rejects approver and user keys asking for a decision with 403 forbidden; an admin may ask', async () => {
    expectError(await api.decide(KEYS.frank, refund(120)), 403, 'forbidden');
    expectError(await api.decide(KEYS.alice, refund(120)), 403, 'forbidden');
    expect(ok200(await api.decide(KEYS.admin, refund(120))).effect).toBe('allow');
  });

  it('answers 404 for an unknown route and 405 for a known route with the wrong method', async () => {
    expectError(await api.get('/v1/nope', KEYS.admin), 404, 'not_found');
    expectError(await api.get('/v1/decisions', KEYS.admin), 405, 'method_not_allowed');
    expectError(await api.request('DELETE', '/v1/decisions', { key: KEYS.admin }), 405, 'method_not_allowed');
    expectError(await api.request('PATCH', '/healthz'), 405, 'method_not_allowed');
  });
});

describe('every decision is recorded with its id', () => {
  it('shows the decision in GET /v1/audit and GET /v1/decisions/:id with the same decisionId', async () => {
    const d = ok200(
      await api.decide(
        KEYS.supportBot,
        refund(121, { intent: 'customer asked', sessionId: 's-1', traceId: 't-1' }),
      ),
    );
    const page = ok200(await api.get(`/v1/audit?decisionId=${d.decisionId}&type=decision`, KEYS.admin));
    expect(page.items).toHaveLength(1);
    const ev = page.items[0].event;
    expect(ev).toMatchObject({
      type: 'decision',
      decisionId: d.decisionId,
      agent: 'support-bot',
      user: 'alice',
      action: 'payments.refund',
      resource: 'Customer::c-42',
      effect: 'allow',
    });
    expect(ev.data).toMatchObject({
      policyVersion: d.policyVersion,
      grantId: d.grantId,
      sessionId: 's-1',
      traceId: 't-1',
      intent: 'customer asked',
    });
    expect(ev.data.reasons).toEqual(d.reasons);

    const got = ok200(await api.get(`/v1/decisions/${d.decisionId}`, KEYS.supportBot));
    expect(got).toMatchObject({
      decisionId: d.decisionId,
      effect: 'allow',
      reasons: d.reasons,
      errors: [],
      policyVersion: d.policyVersion,
      agent: 'support-bot',
      user: 'alice',
      grantId: d.grantId,
    });
    expect(got.audit).toEqual({
      seq: page.items[0].seq,
      hash: page.items[0].hash,
      chain: expect.stringMatching(/^(verified|pending|tampered|unknown)$/),
    });
  });

  it('redacts a bearer token and a card number in the intent before the record is hashed', async () => {
    const token = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const card = '4111 1111 1111 1111';
    const d = ok200(
      await api.decide(KEYS.supportBot, refund(123, { intent: `use ${token} and refund to card ${card}` })),
    );
    const page = ok200(await api.get(`/v1/audit?decisionId=${d.decisionId}&type=decision`, KEYS.admin));
    expect(page.items[0].event.data.intent).toBe(
      'use [REDACTED:secret] and refund to card [REDACTED:secret]',
    );
    // Nothing of either secret is in the hashed text the store keeps forever.
    const [r] = (await t.m.store.queryAudit({ decisionId: d.decisionId, type: 'decision', limit: 1 }))!;
    expect(r!.eventText).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(r!.eventText).not.toMatch(/\b4111\b/);
  });

  it('hides a decision from another agent’s key (404) and answers 404 for an unknown id', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(122)));
    expectError(await api.get(`/v1/decisions/${d.decisionId}`, KEYS.tradeBot), 404, 'not_found');
    expect(ok200(await api.get(`/v1/decisions/${d.decisionId}`, KEYS.admin)).decisionId).toBe(d.decisionId);
    expectError(await api.get('/v1/decisions/dec_00000000000000000000000000', KEYS.admin), 404, 'not_found');
    expectError(await api.get(`/v1/decisions/${d.decisionId}`, KEYS.frank), 403, 'forbidden');
  });
});

describe('after a barrage of bad input', () => {
  it('stays healthy, the chain verifies, and the audit holds exactly one decision event per 200 decision', async () => {
    const b = await createTestMandate({ store: 'sqlite', config: (c) => (c.server.maxBodyBytes = MAX_BODY) });
    const api2 = client(b.url);
    const answered: Decision[] = [];
    const send = async (opts: Parameters<Client['request']>[2]) => {
      const res = await api2.request('POST', '/v1/decisions', opts);
      if (res.status === 200) answered.push(res.body as Decision);
      else expectError(res, res.status, res.body.error.code);
      return res.status;
    };
    const good = JSON.stringify(refund(120));
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      statuses.push(
        await send({ key: KEYS.supportBot, raw: good }),
        await send({ key: KEYS.supportBot, raw: '{"agent":"support-bot","agent":"x"}' }),
        await send({ key: KEYS.supportBot, raw: '{"args":{"amount":1e400}}' }),
        await send({ key: KEYS.supportBot, raw: '['.repeat(5000) }),
        await send({ key: KEYS.supportBot, raw: new Uint8Array([0x7b, 0xff, 0x7d]) }),
        await send({ key: KEYS.supportBot, raw: 'x'.repeat(MAX_BODY + 1) }),
        await send({ key: KEYS.supportBot, raw: good, contentType: 'text/plain' }),
        await send({ key: null, raw: good }),
        await send({ key: KEYS.tradeBot, raw: good }),
        await send({ key: KEYS.frank, raw: good }),
        await send({ key: KEYS.supportBot, json: refund(120, {}, 'c-999') }),
        await send({
          key: KEYS.supportBot,
          json: { ...refund(120), args: { customerId: 'c-42', amount: -5 } },
        }),
        await send({ key: KEYS.supportBot, json: { ...refund(120), action: 'crm.drop_tables' } }),
        await send({ key: KEYS.supportBot, json: refund(900) }),
        await send({ key: KEYS.supportBot, json: { ...refund(900), approvalId: 'apr_does_not_exist' } }),
        await send({
          key: KEYS.supportBot,
          raw: '{"agent":"support-bot","action":"crm.read_customer","args":{"customerId":"c-42","x":"\\ud800"}}',
        }),
      );
    }
    // Some of each: the barrage really mixed answers and rejections.
    expect(new Set(statuses)).toEqual(new Set([200, 400, 401, 403, 413, 415]));
    expect(ok200(await api2.get('/healthz'))).toEqual({ status: 'ok' });
    expect(ok200(await api2.get('/readyz'))).toMatchObject({ ready: true, store: 'ok' });

    const verify = ok200(await api2.get('/v1/audit/verify', KEYS.admin));
    expect(verify.ok).toBe(true);
    const decisionEvents: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { event: { decisionId: string } }[]; nextCursor: string | null } = ok200(
        await api2.get(`/v1/audit?type=decision&limit=50${cursor ? `&cursor=${cursor}` : ''}`, KEYS.admin),
      );
      decisionEvents.push(...page.items.map((i) => i.event.decisionId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(decisionEvents.length).toBe(answered.length);
    expect(new Set(decisionEvents)).toEqual(new Set(answered.map((d) => d.decisionId)));
    // The unknown customer, unknown action and unknown approval were recorded as denies with their codes.
    expect(answered.filter((d) => codes(d).includes('unknown_resource'))).toHaveLength(3);
    expect(answered.filter((d) => codes(d).includes('unknown_action'))).toHaveLength(3);
    expect(answered.filter((d) => codes(d).includes('approval_not_found'))).toHaveLength(3);
  });
});
