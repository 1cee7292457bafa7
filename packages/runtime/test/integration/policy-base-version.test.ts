// PUT /v1/policies with `baseVersion`: an admin who edited the set of a page loaded before another
// admin's activation must not silently revert it (a probe re-allowed refunds an emergency forbid
// had just denied).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, examplePolicySource, type TestMandate } from '../fixtures/mandate.js';
import { client, expectError, KEYS, refund, type Client } from '../fixtures/http.js';

const FREEZE =
  '@id("refund-freeze")\n@reason("incident: all refunds frozen")\nforbid (principal, action == Action::"payments.refund", resource);\n';

describe('PUT /v1/policies with the version the set was edited from', () => {
  let t: TestMandate;
  let api: Client;
  beforeAll(async () => {
    t = await createTestMandate();
    api = client(t.url);
  });
  afterAll(disposeAll);

  it('a stale base is 409 conflict naming the active version, and the newer set stays', async () => {
    const loaded = (await api.get('/v1/policies', KEYS.admin)).body;
    // Admin B activates an emergency forbid on top of what A loaded.
    const frozen = { ...loaded.policies, 'freeze.cedar': FREEZE };
    const b = await api.put('/v1/policies', KEYS.admin, {
      policies: frozen,
      schema: loaded.schema,
      baseVersion: loaded.version,
    });
    expect(b.status, b.text).toBe(200);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('deny');

    // Admin A activates an edit of the set they loaded before.
    const edited = {
      ...loaded.policies,
      'agents.cedar': `${loaded.policies['agents.cedar']}\n// reviewed by A\n`,
    };
    const a = await api.put('/v1/policies', KEYS.admin, {
      policies: edited,
      schema: loaded.schema,
      baseVersion: loaded.version,
    });
    expectError(a, 409, 'conflict');
    expect(a.body.error.message).toContain(b.body.version);
    expect(a.body.error.details).toEqual({ activeVersion: b.body.version, baseVersion: loaded.version });
    const now = (await api.get('/v1/policies', KEYS.admin)).body;
    expect(now.version).toBe(b.body.version);
    expect(Object.keys(now.policies)).toContain('freeze.cedar');
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('deny');

    // Edited from the active version, the same change is activated.
    const rebased = { ...edited, 'freeze.cedar': FREEZE };
    const again = await api.put('/v1/policies', KEYS.admin, {
      policies: rebased,
      schema: loaded.schema,
      baseVersion: now.version,
    });
    expect(again.status, again.text).toBe(200);
    expect(again.body.changed).toBe(true);

    // A client that sends no base replaces whatever is active, as before.
    const restore = await api.put('/v1/policies', KEYS.admin, examplePolicySource());
    expect(restore.status, restore.text).toBe(200);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('allow');
  });

  it('a set equal to the active one is no change, whatever base it names', async () => {
    const active = (await api.get('/v1/policies', KEYS.admin)).body;
    const same = await api.put('/v1/policies', KEYS.admin, {
      policies: active.policies,
      schema: active.schema,
      baseVersion: 'sha256:0000',
    });
    expect(same.status, same.text).toBe(200);
    expect(same.body).toEqual({ version: active.version, changed: false });
  });

  it('a base that is not a version string is 400', async () => {
    const active = (await api.get('/v1/policies', KEYS.admin)).body;
    const bad = await api.put('/v1/policies', KEYS.admin, {
      policies: active.policies,
      schema: active.schema,
      baseVersion: 42,
    });
    expectError(bad, 400, 'bad_request');
  });
});
