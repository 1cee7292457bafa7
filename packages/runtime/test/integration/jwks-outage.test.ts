import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../../src/http/index.js';
import { REMOTE_JWKS_TIMING, createRemoteJwks } from '../../src/http/remote-jwks.js';
import { createManualClock, isMandateError } from '../../src/kernel/index.js';
import { AUDIENCE, ISSUER, fintechWithJwt, jwksServer, jwtConfig, rawSigner } from './jwt-fixtures.js';

const signer = rawSigner();
const HEADER = JSON.stringify({ alg: 'EdDSA', kid: 'ed1' });
const tokenFor = (kid = 'ed1', by: ReturnType<typeof rawSigner> = signer) =>
  by.sign(
    JSON.stringify({ alg: 'EdDSA', kid }),
    JSON.stringify({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'support-bot',
      exp: Math.floor(Date.now() / 1000) + 3600,
      mandate_role: 'agent',
    }),
  );
const UNAVAILABLE = {
  code: 'unavailable',
  message: expect.stringMatching(/key set \(auth\.jwt\.jwksUrl\) could not be fetched; API keys still work/),
};

/** Findings of a probe: with the JWKS URL failing, every JWT-shaped bearer fetched it again. */
describe('a JWKS URL that fails', () => {
  let idp: Awaited<ReturnType<typeof jwksServer>>;

  beforeAll(async () => {
    idp = await jwksServer({ keys: [signer.jwk] });
  });
  afterEach(() => {
    idp.mode = 'ok';
    idp.fetches = 0;
  });
  afterAll(async () => {
    await idp.close();
  });

  it('is fetched once per backoff period (5 s doubling to 60 s), not once per token', async () => {
    idp.mode = 'down';
    const clock = createManualClock(Date.now());
    const verify = createJwtVerifier(jwtConfig({ jwksUrl: idp.url }), clock);
    const refused: unknown[] = [];
    for (let i = 0; i < 20; i++) refused.push(await verify(tokenFor()).catch((e: unknown) => e));
    expect(idp.fetches).toBe(1);
    expect(refused).toEqual(Array(20).fill(expect.objectContaining(UNAVAILABLE)));
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const err: unknown = await verify(tokenFor()).catch((e: unknown) => e);
      const wait = isMandateError(err)
        ? (err.details as { retryAfterSeconds: number }).retryAfterSeconds
        : -1;
      waits.push(wait);
      clock.advance(wait * 1000 - 1);
      await expect(verify(tokenFor())).rejects.toMatchObject(UNAVAILABLE);
      clock.advance(1);
    }
    expect(waits).toEqual([5, 10, 20, 40, 60, 60]);
    expect(idp.fetches).toBe(6);
    // Back up: the next fetch after the backoff serves, and a failure later starts again at 5 s.
    idp.mode = 'ok';
    await expect(verify(tokenFor())).resolves.toMatchObject({ role: 'agent', subject: 'support-bot' });
    expect(idp.fetches).toBe(7);
    idp.mode = 'down';
    clock.advance(10 * 60_000);
    await expect(verify(tokenFor())).rejects.toMatchObject({ details: { retryAfterSeconds: 5 } });
    expect(idp.fetches).toBe(8);
  });

  it('keeps serving fresh keys through an outage; unknown kids refetch at most every 30 s; stale keys fail closed', async () => {
    const clock = createManualClock(Date.now());
    const verify = createJwtVerifier(jwtConfig({ jwksUrl: idp.url }), clock);
    await expect(verify(tokenFor())).resolves.toMatchObject({ subject: 'support-bot' });
    idp.mode = 'down';
    clock.advance(31_000);
    await expect(verify(tokenFor('rotated'))).rejects.toMatchObject(UNAVAILABLE);
    expect(idp.fetches).toBe(2);
    // The cached keys still verify, and a stream of unknown kids fetches nothing more for 30 s.
    for (let i = 0; i < 10; i++) {
      await expect(verify(tokenFor())).resolves.toMatchObject({ subject: 'support-bot' });
      await expect(verify(tokenFor(`k${i}`))).rejects.toMatchObject({
        code: 'unauthenticated',
        message: 'invalid token: no key in the JWKS matches',
      });
    }
    expect(idp.fetches).toBe(2);
    // Older than 10 minutes, the keys are fetched again before use, and not used if that fails.
    clock.advance(10 * 60_000);
    await expect(verify(tokenFor())).rejects.toMatchObject(UNAVAILABLE);
    expect(idp.fetches).toBe(3);
  });

  it('a key rotation: tokens of the new kid arriving while its fetch runs wait for it, none refused', async () => {
    // A re-probe: 20 concurrent tokens signed with a newly published kid, 1 verified and 19 got 401
    // (they skipped the fetch under way because the cooldown had just started).
    const next = rawSigner();
    const rotated = { ...next.jwk, kid: 'ed2' };
    const served = { keys: [signer.jwk] };
    const rotating = await jwksServer(served);
    try {
      const clock = createManualClock(Date.now());
      const verify = createJwtVerifier(jwtConfig({ jwksUrl: rotating.url }), clock);
      await expect(verify(tokenFor())).resolves.toMatchObject({ subject: 'support-bot' });
      served.keys.push(rotated);
      clock.advance(31_000);
      const token = tokenFor('ed2', next);
      const all = await Promise.allSettled(Array.from({ length: 20 }, () => verify(token)));
      expect(all.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(rotating.fetches).toBe(2);
    } finally {
      await rotating.close();
    }
  });

  it('that hangs holds one request for the timeout, and refuses the next ones at once', async () => {
    idp.mode = 'hang';
    const clock = createManualClock(Date.now());
    const getKey = createRemoteJwks(new URL(idp.url), clock, { ...REMOTE_JWKS_TIMING, timeoutMs: 300 });
    const header = JSON.parse(HEADER) as { alg: string; kid: string };
    const flat = { payload: '', signature: '', protected: '' };
    const first = await Promise.allSettled([1, 2, 3, 4, 5].map(() => getKey(header, flat)));
    expect(first.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
    expect((first[0] as PromiseRejectedResult).reason).toMatchObject({
      ...UNAVAILABLE,
      details: { reason: 'no answer within 0.3 s' },
    });
    expect(idp.fetches).toBe(1);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await expect(getKey(header, flat)).rejects.toMatchObject(UNAVAILABLE);
    expect(performance.now() - started).toBeLessThan(100);
    expect(idp.fetches).toBe(1);
  });

  it('that cannot be reached says so in words, not a jose error code', async () => {
    // A probe: an unreachable JWKS answered `invalid token: ERR_JOSE_GENERIC`.
    const gone = await jwksServer({ keys: [] });
    await gone.close();
    const verify = createJwtVerifier(jwtConfig({ jwksUrl: gone.url }), createManualClock(Date.now()));
    await expect(verify(tokenFor())).rejects.toMatchObject({
      ...UNAVAILABLE,
      details: { reason: 'cannot connect (ECONNREFUSED)', retryAfterSeconds: 5 },
    });
  });

  it('answers a JWT 503 unavailable over HTTP, and API keys go on working', async () => {
    idp.mode = 'down';
    const { m, url } = await fintechWithJwt(jwtConfig({ jwksUrl: idp.url }));
    try {
      const decide = (bearer: string) =>
        fetch(`${url}/v1/decisions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            agent: 'support-bot',
            onBehalfOf: 'alice',
            action: 'crm.read_customer',
            args: { customerId: 'c-42' },
          }),
        });
      const answers: [number, string][] = [];
      for (let i = 0; i < 5; i++) {
        const r = await decide(tokenFor());
        answers.push([r.status, ((await r.json()) as { error: { code: string } }).error.code]);
      }
      expect(idp.fetches).toBe(1);
      expect(answers).toEqual(Array(5).fill([503, 'unavailable']));
      expect((await decide('demo-support-bot')).status).toBe(200);
    } finally {
      await m.close();
    }
  });
});
