import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { createJwtVerifier } from '../../src/http/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { mcpClient } from '../gateway/helpers.js';
import { AUDIENCE, ISSUER, token, type KeyPair } from './jwt-fixtures.js';

const root = join(import.meta.dirname, '../../../..');
const ISS = 'https%3A//idp.example.test';

/** The fintech example (memory store) with `auth.jwt` pointing at a JWKS file holding one ES256 key. */
describe('bearer JWTs (auth.jwt)', () => {
  let m: Mandate;
  let url: string;
  let keys: KeyPair;
  let other: KeyPair;
  const clients: Client[] = [];

  beforeAll(async () => {
    keys = await generateKeyPair('ES256');
    other = await generateKeyPair('ES256');
    const dir = mkdtempSync(join(tmpdir(), 'mandate-jwt-'));
    const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const loaded = loadConfig(
      { configFile: join(root, 'mandate.config.json'), store: 'memory', port: 0, logLevel: 'silent' },
      {},
      root,
    );
    loaded.config.keys.dir = join(dir, 'keys');
    loaded.config.auth.jwt = {
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksFile: join(dir, 'jwks.json'),
      roleClaim: 'mandate_role',
      onBehalfOfClaim: 'mandate_on_behalf_of',
      clockToleranceSeconds: 5,
    };
    m = await createMandate(loaded, { logger: silentLogger });
    url = (await m.listen()).url;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  const decide = (bearer: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const refund = (onBehalfOf: string, amount = 120) => ({
    agent: 'support-bot',
    onBehalfOf,
    action: 'payments.refund',
    args: { customerId: 'c-42', amount },
  });
  const agentClaims = { mandate_role: 'agent', mandate_on_behalf_of: 'alice' };

  it('accepts an agent token and decides for the user it names', async () => {
    const r = await decide(await token(keys.privateKey, agentClaims), refund('alice'));
    expect(r.status).toBe(200);
    const d = (await r.json()) as { effect: string; decisionId: string };
    expect(d.effect).toBe('allow');
    const [ev] = await m.store.queryAudit({ decisionId: d.decisionId, limit: 1 });
    expect(ev?.columns.user).toBe('alice');
    const event = JSON.parse(ev!.eventText) as { data: { caller: string } };
    expect(event.data.caller).toBe(`jwt:agent:${ISS}:support-bot:alice`);
  });

  it('refuses a decision for another user than the token names (403), and one for no user', async () => {
    const t = await token(keys.privateKey, agentClaims);
    const r = await decide(t, refund('dave'));
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/acts for user alice, not dave/);
    const { onBehalfOf: _omit, ...noUser } = refund('alice');
    expect((await decide(t, noUser)).status).toBe(403);
  });

  it('an Idempotency-Key replays only to the caller it was decided for: same sub, other user or role', async () => {
    // A probe: the replay answered before the caller checks, in a scope keyed by iss and sub only.
    const key = { 'idempotency-key': 'jwt-replay-1' };
    const forAlice = await decide(await token(keys.privateKey, agentClaims), refund('alice'), key);
    expect(((await forAlice.json()) as { effect: string }).effect).toBe('allow');
    const forAliceAgain = await decide(await token(keys.privateKey, agentClaims), refund('alice'), key);
    expect(forAliceAgain.headers.get('idempotent-replayed')).toBe('true');
    const daveToken = await token(keys.privateKey, { mandate_role: 'agent', mandate_on_behalf_of: 'dave' });
    const forDave = await decide(daveToken, refund('alice'), key);
    expect(forDave.status).toBe(403);
    expect(await forDave.text()).toMatch(/acts for user dave, not alice/);
    // An admin token and an agent token with one sub: the agent's is its own scope, and refused.
    const otherKey = { 'idempotency-key': 'jwt-replay-2' };
    const admin = await token(keys.privateKey, { mandate_role: 'admin' }, { sub: 'hr-bot' });
    expect((await decide(admin, refund('alice'), otherKey)).status).toBe(200);
    const hrBot = await token(keys.privateKey, { mandate_role: 'agent' }, { sub: 'hr-bot' });
    const asAgent = await decide(hrBot, refund('alice'), otherKey);
    expect(asAgent.status).toBe(403);
    expect(await asAgent.text()).toMatch(/agent_mismatch/);
  });

  it('answers 401 with the reason for an expired, foreign, forged or unsigned-looking token', async () => {
    const cases: [string, Promise<string>, RegExp][] = [
      [
        'expired',
        token(keys.privateKey, agentClaims, { exp: Math.floor(Date.now() / 1000) - 60 }),
        /expired/,
      ],
      ['issuer', token(keys.privateKey, agentClaims, { iss: 'https://evil.example' }), /claim iss/],
      ['audience', token(keys.privateKey, agentClaims, { aud: 'someone-else' }), /claim aud/],
      ['forged', token(other.privateKey, agentClaims), /signature does not verify/],
      ['unknown kid', token(other.privateKey, agentClaims, { kid: 'k2' }), /no key in the JWKS matches/],
      ['no role', token(keys.privateKey, { mandate_on_behalf_of: 'alice' }), /mandate_role/],
      ['bad role', token(keys.privateKey, { mandate_role: 'root' }), /mandate_role/],
      // A probe: jose requires a `sub`, not a string one; an array became the decision's agent.
      [
        'sub an array',
        token(keys.privateKey, { ...agentClaims, sub: ['support-bot'] }, { sub: '' }),
        /claim sub must be a non-empty string/,
      ],
      [
        'sub a number',
        token(keys.privateKey, { ...agentClaims, sub: 4242 }, { sub: '' }),
        /claim sub must be a non-empty string/,
      ],
      [
        'user claim on a user',
        token(keys.privateKey, { mandate_role: 'user', mandate_on_behalf_of: 'alice' }, { sub: 'dave' }),
        /only for role agent/,
      ],
    ];
    for (const [name, t, reason] of cases) {
      const r = await decide(await t, refund('alice'));
      expect(r.status, name).toBe(401);
      expect(await r.text(), name).toMatch(reason);
    }
  });

  it('refuses HMAC-signed tokens (asymmetric algorithms only)', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-that-nobody-should-trust-0123456789');
    const hs = await new SignJWT(agentClaims)
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('support-bot')
      .setExpirationTime('5m')
      .sign(secret);
    const r = await decide(hs, refund('alice'));
    expect(r.status).toBe(401);
  });

  it('still accepts API keys next to JWTs', async () => {
    const r = await decide('demo-support-bot', refund('alice'));
    expect(r.status).toBe(200);
  });

  it('gives the gateway the user the token names, over the server mapping', async () => {
    // The config maps support-bot → alice; the token says dave, who granted support-bot nothing.
    const asDave = await mcpClient(
      url,
      await token(keys.privateKey, { ...agentClaims, mandate_on_behalf_of: 'dave' }),
    );
    clients.push(asDave);
    const denied = await asDave.callTool({
      name: 'payments.refund',
      arguments: { customerId: 'c-42', amount: 120 },
    });
    expect(denied.isError).toBe(true);
    expect(JSON.stringify(denied.content)).toMatch(/grant/);
    const asAlice = await mcpClient(url, await token(keys.privateKey, agentClaims));
    clients.push(asAlice);
    const ok = await asAlice.callTool({
      name: 'payments.refund',
      arguments: { customerId: 'c-42', amount: 120 },
    });
    expect(ok.isError).toBeFalsy();
  });

  it("a token acting for one user reads and reports only that user's decisions and approvals", async () => {
    // A second-round probe: a token scoped to dave read alice's decision and approvals and wrote a
    // decision.outcome record for alice's call.
    const aliceToken = await token(keys.privateKey, agentClaims);
    const daveToken = await token(keys.privateKey, { mandate_role: 'agent', mandate_on_behalf_of: 'dave' });
    const get = (bearer: string, path: string) =>
      fetch(`${url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
    const d = (await (await decide(aliceToken, refund('alice'))).json()) as { decisionId: string };
    const asked = (await (await decide(aliceToken, refund('alice', 900))).json()) as {
      approval: { id: string };
    };
    expect((await get(aliceToken, `/v1/decisions/${d.decisionId}`)).status).toBe(200);
    expect((await get(daveToken, `/v1/decisions/${d.decisionId}`)).status).toBe(404);
    expect((await get(aliceToken, `/v1/approvals/${asked.approval.id}`)).status).toBe(200);
    expect((await get(daveToken, `/v1/approvals/${asked.approval.id}`)).status).toBe(404);
    const listed = (await (await get(daveToken, '/v1/approvals?status=pending')).json()) as {
      items: { user: string }[];
    };
    expect(listed.items.filter((a) => a.user !== 'dave')).toEqual([]);
    const report = (bearer: string) =>
      fetch(`${url}/v1/decisions/${d.decisionId}/outcome`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'ok', durationMs: 1 }),
      });
    expect((await report(daveToken)).status).toBe(404);
    expect((await report(aliceToken)).status).toBe(201);
  });

  it("a token acting for one user passes on and lists only that user's grants", async () => {
    // A probe: a token scoped to dave listed alice's grant and passed it on, in alice's name.
    const api = (bearer: string, method: string, path: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const forAlice = await token(keys.privateKey, agentClaims);
    const forDave = await token(keys.privateKey, { mandate_role: 'agent', mandate_on_behalf_of: 'dave' });
    const mine = (await (await api(forAlice, 'GET', '/v1/grants')).json()) as {
      items: { id: string; user: string }[];
    };
    const aliceGrant = mine.items.find((g) => g.user === 'alice')!;
    expect(aliceGrant).toBeDefined();
    const daves = (await (await api(forDave, 'GET', '/v1/grants')).json()) as { items: { user: string }[] };
    expect(daves.items.every((g) => g.user === 'dave')).toBe(true);
    const pass = {
      agent: 'hr-bot',
      actions: ['crm.read_customer'],
      parentId: aliceGrant.id,
      expiresIn: '1h',
    };
    // Not dave's grant: answered as one that does not exist (the listing does not show it either),
    // without naming whose it is.
    const refused = await api(forDave, 'POST', '/v1/grants', pass);
    expect(refused.status).toBe(404);
    const body = await refused.text();
    expect(JSON.parse(body)).toMatchObject({
      error: { code: 'not_found', message: `no grant ${aliceGrant.id}` },
    });
    expect(body).not.toMatch(/alice/);
    // The token acting for alice may.
    const passed = await api(forAlice, 'POST', '/v1/grants', pass);
    expect(passed.status, await passed.clone().text()).toBe(201);
    expect(((await passed.json()) as { user: string }).user).toBe('alice');
  });

  it('an MCP session serves only the caller that opened it: a token acting for another user is refused', async () => {
    // A probe drove alice's session with a token acting for dave: the refund ran, recorded as alice's.
    const asAlice = await mcpClient(url, await token(keys.privateKey, agentClaims));
    clients.push(asAlice);
    const sid = (asAlice.transport as { sessionId?: string }).sessionId!;
    const call = async (bearer: string) =>
      fetch(`${url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${bearer}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sid,
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'tools/call',
          params: { name: 'payments.refund', arguments: { customerId: 'c-42', amount: 77 } },
        }),
      });
    const daveToken = await token(keys.privateKey, { mandate_role: 'agent', mandate_on_behalf_of: 'dave' });
    const asDave = await call(daveToken);
    expect(asDave.status).toBe(404);
    expect(await asDave.text()).toMatch(/Session not found/);
    // The same caller with a fresh token (a refreshed one) goes on in its session.
    const again = await call(await token(keys.privateKey, agentClaims));
    expect(again.status).toBe(200);
    expect(await again.text()).toMatch(/"id":7/);
  });
});

describe('a JWKS fetched from a URL', () => {
  let server: Server;
  let jwksUrl: string;
  let keys: KeyPair;
  let fetches = 0;

  beforeAll(async () => {
    keys = await generateKeyPair('EdDSA');
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'ed1', alg: 'EdDSA' };
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('verifies against the fetched keys, caches them, and rejects a token it cannot verify', async () => {
    const verify = createJwtVerifier(
      {
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUrl,
        roleClaim: 'mandate_role',
        onBehalfOfClaim: 'mandate_on_behalf_of',
        clockToleranceSeconds: 0,
      },
      systemClock,
    );
    const good = await token(
      keys.privateKey,
      { mandate_role: 'approver' },
      { alg: 'EdDSA', kid: 'ed1', sub: 'frank' },
    );
    expect(await verify(good)).toEqual({
      role: 'approver',
      subject: 'frank',
      keyId: `jwt:approver:${ISS}:frank`,
    });
    expect(await verify(good)).toMatchObject({ subject: 'frank' });
    expect(fetches).toBe(1);
    const stranger = await generateKeyPair('EdDSA');
    const bad = await token(
      stranger.privateKey,
      { mandate_role: 'approver' },
      { alg: 'EdDSA', kid: 'ed1', sub: 'frank' },
    );
    await expect(verify(bad)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});
