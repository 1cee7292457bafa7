// `expiresAt` of a grant is an instant: an ISO 8601 date-time with Z or an offset. A probe with
// TZ=America/Los_Angeles got "2026-12-01T21:00:00" stored 8 h later than UTC, a bare date read as
// UTC midnight, RFC 2822 text accepted, and `expiresIn` silently dropped when both were given.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/kernel/index.js';
import { createGrantService } from '../../src/grants/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError } from '../fixtures/http.js';

afterEach(disposeAll);

const zone = process.env.TZ;
// The server's zone must not matter: it is set to one 8 h off UTC for these cases.
beforeAll(() => {
  process.env.TZ = 'America/Los_Angeles';
});
afterAll(() => {
  if (zone === undefined) delete process.env.TZ;
  else process.env.TZ = zone;
});

const body = (over: Record<string, unknown>) => ({
  agent: 'support-bot',
  actions: ['crm.read_customer'],
  ...over,
});

describe('POST /v1/grants expiresAt', () => {
  async function setup() {
    const clock = createManualClock(Date.parse('2026-03-02T15:00:00Z'));
    const t = await createTestMandate({ clock });
    return client(t.url);
  }

  it('refuses a time without an offset, a bare date, other text, and both expiresAt and expiresIn', async () => {
    const api = await setup();
    for (const expiresAt of [
      '2026-12-01T21:00:00',
      '2026-12-01',
      'Tue, 01 Dec 2026 23:00:00 +1100',
      '2026-02-31T00:00:00Z',
    ]) {
      const res = await api.post('/v1/grants', KEYS.alice, body({ expiresAt }));
      expectError(res, 400, 'bad_request');
      expect(res.body.error.message).toMatch(/^expiresAt: expiresAt is not a time with Z or an offset/);
    }
    const both = await api.post(
      '/v1/grants',
      KEYS.alice,
      body({ expiresIn: '1h', expiresAt: '2026-06-01T00:00:00Z' }),
    );
    expectError(both, 400, 'bad_request');
    expect(both.body.error.message).toBe('expiresAt: give expiresAt or expiresIn, not both');
    const listed = await api.get('/v1/grants?agent=support-bot', KEYS.alice);
    expect(listed.body.items.map((g: { createdBy: string }) => g.createdBy)).not.toContain('user:alice');
  });

  it('takes an instant with Z or an offset as that instant, whatever the server zone', async () => {
    const api = await setup();
    const utc = await api.post('/v1/grants', KEYS.alice, body({ expiresAt: '2026-12-01T21:00:00Z' }));
    expect(utc.status, utc.text).toBe(201);
    expect(utc.body.expiresAt).toBe('2026-12-01T21:00:00.000Z');
    const offset = await api.post('/v1/grants', KEYS.alice, body({ expiresAt: '2026-12-01T21:00:00+11:00' }));
    expect(offset.status, offset.text).toBe(201);
    expect(offset.body.expiresAt).toBe('2026-12-01T10:00:00.000Z');
    const inAnHour = await api.post('/v1/grants', KEYS.alice, body({ expiresIn: '1h' }));
    expect(inAnHour.body.expiresAt).toBe('2026-03-02T16:00:00.000Z');
  });
});

describe('the grant service', () => {
  it('refuses an expiresAt without an offset from any door', async () => {
    const store = createMemoryStore();
    await store.putEntities({
      agents: [{ id: 'bot', roles: [], status: 'active', attributes: {} }],
      users: [{ id: 'alice', roles: [], status: 'active', attributes: {} }],
      resources: [],
    });
    const clock = createManualClock(Date.parse('2026-03-02T15:00:00Z'));
    const grants = createGrantService({ store, clock, audit: async () => undefined });
    const create = (expiresAt: string) =>
      grants.create(
        { user: 'alice', agent: 'bot', actions: ['crm.*'], expiresAt },
        { kind: 'user', id: 'alice' },
      );
    for (const bad of ['2026-12-01T21:00:00', '2026-12-01', 'Tue, 01 Dec 2026 23:00:00 +1100'])
      await expect(create(bad)).rejects.toMatchObject({
        code: 'bad_request',
        message: expect.stringContaining('is not a time with Z or an offset'),
      });
    expect((await create('2026-12-01T21:00:00-08:00')).expiresAt).toBe('2026-12-02T05:00:00.000Z');
  });
});
