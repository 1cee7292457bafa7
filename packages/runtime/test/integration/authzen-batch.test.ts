// The AuthZEN batch (`POST /access/v1/evaluations`) and discovery, as probes found them wanting:
// a key revoked while a batch ran kept getting allows for the entries after it (the caller was
// authenticated once per request); one structurally bad entry made the whole batch 400 where the
// docs promise that entry's own `decision: false`; and discovery named `http://<Host>` even where
// `dashboard.publicOrigin` says clients reach Mandate at another origin (over TLS at a proxy).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionService } from '../../src/decisions/index.js';
import { createManualClock } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, type Client, type Json } from '../fixtures/http.js';
import { AUDIENCE, ISSUER, token, type KeyPair } from './jwt-fixtures.js';

afterAll(disposeAll);

const refund = (amount: number) => ({ context: { args: { customerId: 'c-42', amount } } });
/** A batch of small refunds for alice, each one an allow under the example policies. */
const refunds = (n: number) => ({
  subject: { type: 'user', id: 'alice' },
  action: { name: 'payments.refund' },
  resource: { type: 'Customer', id: 'c-42' },
  evaluations: Array.from({ length: n }, (_, i) => refund(10 + i)),
});

/**
 * Runs `between` once, right after the first decision of the batch has been made and recorded, so
 * that the test acts at a fixed point of the batch (no race with the server's pace); counts decisions.
 */
function afterFirstDecision(decisions: DecisionService, between: () => Promise<void>): { count: number } {
  const seen = { count: 0 };
  const decide = decisions.decide.bind(decisions);
  decisions.decide = async (...args) => {
    const out = await decide(...args);
    if (++seen.count === 1) await between();
    return out;
  };
  return seen;
}

describe('AuthZEN batch: the credential is checked again before each entry', () => {
  let t: TestMandate;
  let api: Client;
  let original: DecisionService['decide'];
  beforeAll(async () => {
    t = await createTestMandate({ store: 'memory' });
    api = client(t.url);
    original = t.m.decisions.decide;
  });
  const restore = () => (t.m.decisions.decide = original);

  const agentKey = async (name: string) => {
    const r = await api.post('/v1/keys', KEYS.admin, { role: 'agent', subject: 'support-bot', name });
    expect(r.status, r.text).toBe(201);
    return { secret: r.body.secret as string, id: r.body.key.id as string };
  };

  const decisionsOnRecord = async () =>
    (await t.m.store.queryAudit({ type: 'decision', limit: 1000 })).length;

  it('a key revoked after the first entry is decided gets no further decision: the batch answers 401', async () => {
    const key = await agentKey('revoked-mid-batch');
    const before = await decisionsOnRecord();
    const seen = afterFirstDecision(t.m.decisions, async () => {
      expect((await api.del(`/v1/keys/${key.id}`, KEYS.admin)).status).toBe(200);
    });
    try {
      const r = await api.post('/access/v1/evaluations', key.secret, refunds(5));
      expectError(r, 401, 'unauthenticated');
      expect(r.body.evaluations).toBeUndefined();
    } finally {
      restore();
    }
    // Only the entry decided before the revocation was decided (and it stays on the record); none after it.
    expect(seen.count).toBe(1);
    expect((await decisionsOnRecord()) - before).toBe(1);
  });

  it('a key that stays valid has every allowed entry of the batch answered true', async () => {
    const key = await agentKey('kept-mid-batch');
    const seen = afterFirstDecision(t.m.decisions, async () => {
      // The same pause at the same point, with no revocation: the check itself refuses nothing.
      expect((await api.get('/v1/keys', KEYS.admin)).status).toBe(200);
    });
    try {
      const r = await api.post('/access/v1/evaluations', key.secret, refunds(5));
      expect(r.status, r.text).toBe(200);
      expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([true, true, true, true, true]);
    } finally {
      restore();
    }
    expect(seen.count).toBe(5);
  });
});

describe('AuthZEN batch: a JWT that expires mid-batch', () => {
  let t: TestMandate;
  let api: Client;
  let keys: KeyPair;
  const clock = createManualClock();
  beforeAll(async () => {
    keys = await generateKeyPair('ES256');
    const dir = mkdtempSync(join(tmpdir(), 'mandate-authzen-jwt-'));
    const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    t = await createTestMandate({
      store: 'memory',
      clock,
      config: (c) => {
        c.auth = {
          ...(c.auth as object),
          jwt: {
            issuer: ISSUER,
            audience: AUDIENCE,
            jwksFile: join(dir, 'jwks.json'),
            roleClaim: 'mandate_role',
            onBehalfOfClaim: 'mandate_on_behalf_of',
            clockToleranceSeconds: 5,
          },
        };
      },
    });
    api = client(t.url);
  });

  const batchWith = async (passAfterFirst: number) => {
    // The token is issued at the real time: the node's clock starts each batch there.
    clock.set(Date.now());
    const jwt = await token(keys.privateKey, { mandate_role: 'agent' }, { exp: '5m' });
    const original = t.m.decisions.decide;
    const seen = afterFirstDecision(t.m.decisions, () => {
      clock.advance(passAfterFirst);
      return Promise.resolve();
    });
    try {
      return { r: await api.post('/access/v1/evaluations', jwt, refunds(4)), seen };
    } finally {
      t.m.decisions.decide = original;
    }
  };

  it('a token that expired after the first entry gets no further decision: the batch answers 401', async () => {
    const { r, seen } = await batchWith(10 * 60_000);
    expectError(r, 401, 'unauthenticated');
    expect(seen.count).toBe(1);
  });

  it('a token still valid has every allowed entry answered true', async () => {
    const { r, seen } = await batchWith(1_000);
    expect(r.status, r.text).toBe(200);
    expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([true, true, true, true]);
    expect(seen.count).toBe(4);
  });
});

describe('AuthZEN batch: a malformed entry is refused on its own', () => {
  let t: TestMandate;
  let api: Client;
  beforeAll(async () => {
    t = await createTestMandate({ store: 'memory' });
    api = client(t.url);
  });
  const refused = async () =>
    (await t.m.store.queryAudit({ type: 'request.refused', limit: 1000 }))
      .map((r) => JSON.parse(r.eventText) as Json)
      .filter((e) => e.data.route === 'POST /access/v1/evaluations');

  const defaults = {
    subject: { type: 'user', id: 'alice' },
    action: { name: 'payments.refund' },
    resource: { type: 'Customer', id: 'c-42' },
  };
  const malformed: [string, unknown][] = [
    ['a subject without id', { subject: { type: 'agent' } }],
    ['an action without name', { action: {} }],
    ['a context that is not an object', { context: 'refund please' }],
    ['a null entry', null],
    ['an entry that is not an object', 7],
  ];
  for (const [what, entry] of malformed) {
    it(`${what}: decision false with bad_request, the entries around it decided, the refusal on the record`, async () => {
      const before = (await refused()).length;
      const r = await api.post('/access/v1/evaluations', KEYS.supportBot, {
        ...defaults,
        evaluations: [refund(11), entry, refund(12)],
      });
      expect(r.status, r.text).toBe(200);
      expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
      const bad = r.body.evaluations[1];
      expect(bad.context.error).toMatchObject({ status: 400, code: 'bad_request' });
      // Refused before the decision path: no decision was made for it.
      expect(bad.context.decision_id).toBeUndefined();
      const after = (await refused()).slice(before);
      expect(after).toHaveLength(1);
      expect(after[0].data).toMatchObject({
        code: 'bad_request',
        reason: bad.context.error.message,
        caller: { keyId: 'key_demo-support-bot' },
      });
      if (entry !== null && typeof entry === 'object') {
        // The same refusal as the same input sent alone to the single-evaluation endpoint.
        const alone = await api.post('/access/v1/evaluation', KEYS.supportBot, {
          ...defaults,
          ...refund(11),
          ...entry,
        });
        expectError(alone, 400, 'bad_request');
        expect(bad.context.error.message).toBe(alone.body.error.message);
      }
    });
  }

  it('a malformed entry never answers true, whatever the semantic', async () => {
    for (const semantic of ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']) {
      const r = await api.post('/access/v1/evaluations', KEYS.supportBot, {
        ...defaults,
        evaluations: [{ subject: { type: 'user' } }, null, { action: { name: 7 } }],
        options: { evaluations_semantic: semantic },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.body.evaluations.length).toBeGreaterThan(0);
      for (const e of r.body.evaluations as Json[]) {
        expect(e.decision).toBe(false);
        expect(e.context.error.code).toBe('bad_request');
      }
    }
  });

  it('a malformed envelope is still a 400 for the whole request', async () => {
    for (const body of [
      { ...refunds(1), evaluations: 'all of them' },
      { ...refunds(1), subject: { type: 'user' } },
      { ...refunds(1), evaluations: Array.from({ length: 101 }, () => refund(10)) },
      { ...refunds(1), options: { evaluations_semantic: 'whatever' } },
    ]) {
      expectError(await api.post('/access/v1/evaluations', KEYS.supportBot, body), 400, 'bad_request');
    }
  });
});

describe('AuthZEN discovery names the public origin', () => {
  it.each([true, false])(
    'with dashboard.publicOrigin (dashboard enabled: %s): the document names it, whatever Host the caller sent',
    async (enabled) => {
      const t = await createTestMandate({
        store: 'memory',
        config: (c) => {
          c.dashboard = { enabled, publicOrigin: 'https://pdp.example.com' };
        },
      });
      const r = await client(t.url).request('GET', '/.well-known/authzen-configuration', {
        headers: { host: 'internal-node-7:8080' },
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        policy_decision_point: 'https://pdp.example.com',
        access_evaluation_endpoint: 'https://pdp.example.com/access/v1/evaluation',
        access_evaluations_endpoint: 'https://pdp.example.com/access/v1/evaluations',
      });
    },
  );

  it('without it: the host the caller reached, over http', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const r = await client(t.url).get('/.well-known/authzen-configuration');
    const base = new URL(t.url).origin;
    expect(base.startsWith('http://')).toBe(true);
    expect(r.body).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    });
  });
});
