import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import type { Mandate } from '../../src/app/index.js';
import { jwtCallerId } from '../../src/http/jwt.js';
import { ISSUER, fintechWithJwt, jwtConfig, token, type KeyPair } from './jwt-fixtures.js';

const ISS = 'https%3A//idp.example.test';

describe('the caller id of a JWT', () => {
  it('names the role, and the user an agent token is bound to; no iss or sub reads as another', () => {
    expect(jwtCallerId('agent', ISSUER, 'support-bot', 'alice')).toBe(`jwt:agent:${ISS}:support-bot:alice`);
    expect(jwtCallerId('agent', ISSUER, 'support-bot')).toBe(`jwt:agent:${ISS}:support-bot`);
    expect(jwtCallerId('admin', ISSUER, 'support-bot')).toBe(`jwt:admin:${ISS}:support-bot`);
    // A sub with `:` in it is not a sub and a bound user, nor a `%3A` in it a `:`.
    const ids = [
      jwtCallerId('agent', ISSUER, 'support-bot:alice'),
      jwtCallerId('agent', ISSUER, 'support-bot', 'alice'),
      jwtCallerId('agent', ISSUER, 'support-bot%3Aalice'),
      jwtCallerId('agent', `${ISSUER}:support-bot`, 'alice'),
    ];
    expect(new Set(ids).size).toBe(4);
    expect(ids.map((id) => id.split(':').length)).toEqual([4, 5, 4, 4]);
  });
});

/** The fintech example with `auth.jwt` from a file and a per-credential rate limit of 2. */
describe('JWT callers in records and per-credential limits', () => {
  let m: Mandate;
  let url: string;
  let keys: KeyPair;

  beforeAll(async () => {
    keys = await generateKeyPair('ES256');
    const dir = mkdtempSync(join(tmpdir(), 'mandate-jwt-id-'));
    writeFileSync(
      join(dir, 'jwks.json'),
      JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    ({ m, url } = await fintechWithJwt(jwtConfig({ jwksFile: join(dir, 'jwks.json') }), (c) => {
      c.rateLimits.perKey = { rate: 0.001, burst: 2 };
    }));
  });

  afterAll(async () => {
    await m?.close();
  });

  const decide = async (claims: Record<string, unknown>, sub = 'support-bot') =>
    fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await token(keys.privateKey, claims, { sub })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        agent: sub,
        onBehalfOf: 'alice',
        action: 'crm.read_customer',
        args: { customerId: 'c-42' },
      }),
    });
  const recordedCaller = async (r: Response) => {
    const { decisionId } = (await r.json()) as { decisionId: string };
    const [ev] = await m.store.queryAudit({ decisionId, limit: 1 });
    return (JSON.parse(ev!.eventText) as { data: { caller: string } }).data.caller;
  };

  it('an admin token, an agent token bound to alice and one that is not are three callers on the record', async () => {
    // A probe: all three were recorded as jwt:<iss>:support-bot.
    const callers = [
      await recordedCaller(await decide({ mandate_role: 'admin' })),
      await recordedCaller(await decide({ mandate_role: 'agent', mandate_on_behalf_of: 'alice' })),
      await recordedCaller(await decide({ mandate_role: 'agent' })),
    ];
    expect(callers).toEqual([
      `jwt:admin:${ISS}:support-bot`,
      `jwt:agent:${ISS}:support-bot:alice`,
      `jwt:agent:${ISS}:support-bot`,
    ]);
  });

  it('tokens of another role with the same sub do not spend each other’s rate limit', async () => {
    // A probe: per-credential limits were shared by every token with one sub, whatever its role.
    const admin = { mandate_role: 'admin' };
    expect((await decide(admin, 'trade-bot')).status).toBe(200);
    expect((await decide(admin, 'trade-bot')).status).toBe(200);
    expect((await decide(admin, 'trade-bot')).status).toBe(429);
    expect((await decide({ mandate_role: 'agent' }, 'trade-bot')).status).toBe(200);
  });
});
