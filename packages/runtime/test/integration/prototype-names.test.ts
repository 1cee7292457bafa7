import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200 } from '../fixtures/http.js';

afterEach(disposeAll);

/**
 * A review of every lookup by an outside name: zod's `z.record` leaves a `__proto__` key out in
 * silence, and a plain `obj[name]` finds Object.prototype's members. A grant's resource constraint
 * written under such a name did not narrow the grant (c-42, which has no such attribute, was read),
 * and a `gateway.onBehalfOf` entry for an agent named `__proto__` was dropped (its calls were
 * decided for no user: no grant, no user policy).
 */
describe('names like Object.prototype members', () => {
  it("a grant's resourceAttributes constraint under such a name narrows the grant; __proto__ is refused", async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    ok200(
      await api.put('/v1/entities', KEYS.admin, {
        agents: [{ id: 'helper-bot', roles: ['support'], attributes: { tenant: 'acme' } }],
        users: [{ id: 'uma', roles: ['support'], attributes: { tenant: 'acme' } }],
        resources: [],
      }),
    );
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'user', subject: 'uma' });
    const uma = (created.body as { secret: string }).secret;
    const grant = (attrs: string) =>
      api.request('POST', '/v1/grants', {
        key: uma,
        raw: `{"agent":"helper-bot","actions":["crm.read_customer"],"expiresIn":"1h","resourceAttributes":${attrs}}`,
      });
    const read = async () =>
      ok200(
        await api.decide(KEYS.admin, {
          agent: 'helper-bot',
          onBehalfOf: 'uma',
          action: 'crm.read_customer',
          args: { customerId: 'c-42' },
        }),
      );
    expectError(await grant('{"__proto__":"vip"}'), 400, 'bad_request');
    for (const attrs of [
      '{"constructor":"$user.constructor"}',
      '{"toString":"$user.toString"}',
      '{"tier":"vip"}',
    ]) {
      const g = await grant(attrs);
      expect(g.status, g.text).toBe(201);
      const d = await read();
      expect(d.effect, attrs).toBe('deny');
      expect(d.errors.map((e: { code: string }) => e.code)).toContain('grant_exceeded');
      ok200(await api.del(`/v1/grants/${(g.body as { id: string }).id}`, uma));
    }
    // The allow path beside it: a constraint the resource meets.
    expect((await grant('{"tenant":"$user.tenant"}')).status).toBe(201);
    expect((await read()).effect).toBe('allow');
  });

  it('a config file holding a __proto__ key anywhere is refused, naming where', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mandate-proto-'));
    writeFileSync(
      join(dir, 'mandate.config.json'),
      '{"store":"memory","gateway":{"onBehalfOf":{"__proto__":"dave","plain-bot":"dave"}}}',
    );
    expect(() => loadConfig({}, {}, dir)).toThrow(
      /gateway\.onBehalfOf\.__proto__: a key named __proto__ is not allowed/,
    );
    writeFileSync(
      join(dir, 'mandate.config.json'),
      '{"store":"memory","gateway":{"onBehalfOf":{"plain-bot":"dave"}}}',
    );
    expect(loadConfig({}, {}, dir).config.gateway.onBehalfOf).toEqual({ 'plain-bot': 'dave' });
  });
});
