// Issue 11: the live activity feed — decisions as server-sent events from the shared trail, within
// a second, filtered, resumable, and only what the role may see.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, exampleEntities } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { browserRequest, openStream, signIn, type SseStream } from './helpers.js';

afterAll(disposeAll);

const streams: SseStream[] = [];
afterAll(() => streams.forEach((s) => s.close()));
async function stream(url: string, headers: Record<string, string>): Promise<SseStream> {
  const s = await openStream(url, headers);
  streams.push(s);
  return s;
}
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('GET /v1/decisions/stream', () => {
  it('an admin gets a new decision within a second, with its summary, id = seq; filters hold', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const all = await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(all.headers.get('access-control-allow-origin')).toBeNull();
    const denies = await stream(`${t.url}/v1/decisions/stream?effect=deny`, bearer(KEYS.admin));
    const tradeBot = await stream(`${t.url}/v1/decisions/stream?agent=trade-bot`, bearer(KEYS.admin));

    const started = Date.now();
    const d = await api.decide(KEYS.supportBot, refund(50));
    expect(d.body.effect).toBe('allow');
    const e = await all.next((x) => x.data.decisionId === d.body.decisionId, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.event).toBe('decision');
    expect(e.id).toBe(String(e.data.seq));
    expect(e.data).toMatchObject({
      decisionId: d.body.decisionId,
      agent: 'support-bot',
      user: 'alice',
      action: 'payments.refund',
      effect: 'allow',
      errors: [],
    });
    expect(e.data.reasons.length).toBeGreaterThan(0);
    expect(typeof e.data.latencyMs).toBe('number');
    expect(typeof e.data.time).toBe('string');
    // No args in the feed (the why panel has the redacted copy).
    expect(Object.keys(e.data)).not.toContain('args');
    expect(JSON.stringify(e.data)).not.toContain('amount');

    const denied = await api.decide(KEYS.supportBot, {
      agent: 'support-bot',
      onBehalfOf: 'alice',
      action: 'trading.place_order',
      args: { symbol: 'ACME', qty: 1, side: 'buy' },
    });
    expect(denied.body.effect, denied.text).toBe('deny');
    await denies.next((x) => x.data.decisionId === denied.body.decisionId, 1000);
    expect(denies.events.map((x) => x.data.effect)).toEqual(['deny']);
    await all.next((x) => x.data.decisionId === denied.body.decisionId, 1000);
    // Neither decision was trade-bot's.
    expect(tradeBot.events).toEqual([]);
    // Only decisions: the feed carries no other audit events.
    expect(new Set(all.events.map((x) => x.event))).toEqual(new Set(['decision']));
  });

  it('resumes after Last-Event-ID or ?after=, and starts at the head by default', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const first = await api.decide(KEYS.supportBot, refund(10));
    const second = await api.decide(KEYS.supportBot, refund(20));
    const firstRec = (await api.get(`/v1/decisions/${first.body.decisionId}`, KEYS.admin)).body.audit.seq;

    const resumed = await stream(`${t.url}/v1/decisions/stream`, {
      ...bearer(KEYS.admin),
      'last-event-id': String(firstRec),
    });
    await resumed.next((x) => x.data.decisionId === second.body.decisionId);
    expect(resumed.events.map((x) => x.data.decisionId)).toEqual([second.body.decisionId]);
    const fromZero = await stream(`${t.url}/v1/decisions/stream?after=0`, bearer(KEYS.admin));
    await fromZero.next((x) => x.data.decisionId === second.body.decisionId);
    expect(fromZero.events.map((x) => x.data.decisionId)).toEqual([
      first.body.decisionId,
      second.body.decisionId,
    ]);

    const head = await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
    const third = await api.decide(KEYS.supportBot, refund(30));
    await head.next((x) => x.data.decisionId === third.body.decisionId);
    expect(head.events.map((x) => x.data.decisionId)).toEqual([third.body.decisionId]);

    expectError(await api.get('/v1/decisions/stream?after=-1', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/decisions/stream?effect=maybe', KEYS.admin), 400, 'bad_request');
  });

  it('a user sees only decisions made on their behalf (through a session); approvers and agents are refused', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const alice = await signIn(t.url, KEYS.alice);
    const own = await stream(`${t.url}/v1/decisions/stream`, { cookie: alice.cookie });
    expect(own.status).toBe(200);
    // trade-bot acts for someone else.
    const other = await api.decide(KEYS.tradeBot, {
      agent: 'trade-bot',
      onBehalfOf: 'bob',
      action: 'trading.place_order',
      args: { symbol: 'ACME', qty: 1, side: 'buy' },
    });
    expect(other.status, other.text).toBe(200);
    const mine = await api.decide(KEYS.supportBot, refund(40));
    await own.next((x) => x.data.decisionId === mine.body.decisionId, 1000);
    expect(own.events.map((x) => x.data.user)).toEqual(['alice']);

    expectError(await api.get('/v1/decisions/stream?user=bob', KEYS.alice), 403, 'forbidden');
    expectError(await api.get('/v1/decisions/stream', KEYS.frank), 403, 'forbidden');
    expectError(await api.get('/v1/decisions/stream', KEYS.supportBot), 403, 'forbidden');
    expectError(await api.get('/v1/decisions/stream'), 401, 'unauthenticated');
  });

  it('caps open streams per credential with 429; a closed stream frees its place', async () => {
    const t = await createTestMandate({ config: (raw) => (raw.dashboard = { maxStreamsPerKey: 2 }) });
    const a = await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
    await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
    const third = await client(t.url).get('/v1/decisions/stream', KEYS.admin);
    expectError(third, 429, 'rate_limited');
    // Another credential is not affected.
    expect((await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.alice))).status).toBe(200);
    a.close();
    let reopened = 0;
    for (let i = 0; i < 50 && reopened !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const s = await openStream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
      reopened = s.status;
      if (s.status === 200) streams.push(s);
    }
    expect(reopened).toBe(200);
  });

  it('ends every stream when the node shuts down', async () => {
    const t = await createTestMandate();
    const s = await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.admin));
    expect(s.status).toBe(200);
    const closing = t.close();
    for (let i = 0; i < 40 && !s.ended(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.ended()).toBe(true);
    await closing;
  });

  it('a revoked key is sent no decision made after the revocation, and its stream ends', async () => {
    // A probe: the credential was checked every 15 s only, so a revoked user key went on
    // receiving that user's new decisions (args summary, reasons) until the next check.
    const t = await createTestMandate();
    const api = client(t.url);
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'user', subject: 'alice' });
    expect(created.status, created.text).toBe(201);
    const s = await stream(`${t.url}/v1/decisions/stream`, bearer(created.body.secret));
    expect(s.status).toBe(200);
    const before = await api.decide(KEYS.supportBot, refund(11));
    await s.next((x) => x.data.decisionId === before.body.decisionId, 2000);
    expect((await api.del(`/v1/keys/${created.body.key.id}`, KEYS.admin)).status).toBe(200);
    const after = await api.decide(KEYS.supportBot, refund(12));
    expect(after.body.effect).toBe('allow');
    for (let i = 0; i < 40 && !s.ended(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.ended(), 'the stream of a revoked key is still open 2 s after its revocation').toBe(true);
    expect(s.events.map((x) => x.data.decisionId)).toEqual([before.body.decisionId]);
  });

  it('a suspended user is sent no decision made after the suspension, and opens no stream (403)', async () => {
    // A re-probe: the stream of a user suspended by PUT /v1/entities delivered every new decision.
    const t = await createTestMandate();
    const api = client(t.url);
    const s = await stream(`${t.url}/v1/decisions/stream`, bearer(KEYS.alice));
    expect(s.status).toBe(200);
    const before = await api.decide(KEYS.supportBot, refund(14));
    await s.next((x) => x.data.decisionId === before.body.decisionId, 2000);
    const alice = exampleEntities().users.find((u) => u.id === 'alice')!;
    const put = await api.put('/v1/entities', KEYS.admin, { users: [{ ...alice, status: 'suspended' }] });
    expect(put.status, put.text).toBe(200);
    const after = await api.decide(KEYS.supportBot, refund(15));
    expect(after.status, after.text).toBe(200);
    for (let i = 0; i < 40 && !s.ended(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.ended()).toBe(true);
    expect(s.events.map((x) => x.data.decisionId)).toEqual([before.body.decisionId]);
    expectError(await api.get('/v1/decisions/stream', KEYS.alice), 403, 'user_suspended');
  });

  it('a session stream ends once the session is logged out', async () => {
    const t = await createTestMandate();
    const admin = await signIn(t.url, KEYS.admin);
    const s = await stream(`${t.url}/v1/decisions/stream`, { cookie: admin.cookie });
    expect(s.status).toBe(200);
    expect((await browserRequest(t.url, admin, 'DELETE', '/v1/sessions/current')).status).toBe(204);
    // The credential is checked before each page it is sent (and every 15 s while idle).
    const after = await client(t.url).decide(KEYS.supportBot, refund(13));
    expect(after.body.effect).toBe('allow');
    for (let i = 0; i < 40 && !s.ended(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.ended()).toBe(true);
    expect(s.events).toEqual([]);
  });
});
