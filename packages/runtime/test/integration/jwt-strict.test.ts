import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/index.js';
import { createJwtVerifier, type JwtAuthConfig } from '../../src/http/index.js';
import { createAuthenticator } from '../../src/http/auth.js';
import { createManualClock } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/port.js';
import { AUDIENCE, ISSUER, jwtConfig, rawSigner } from './jwt-fixtures.js';

const signer = rawSigner();
const clock = createManualClock(Date.parse('2026-12-01T12:00:00Z'));
const now = Math.floor(clock.now() / 1000);
const HEADER = '{"alg":"EdDSA","kid":"ed1"}';
/** The payload text of an agent token acting for alice, `extra` written in as given (keys may repeat). */
const payload = (extra = '') =>
  `{"iss":"${ISSUER}","aud":"${AUDIENCE}","sub":"support-bot","iat":${now},"exp":${now + 300},"mandate_role":"agent"${extra}}`;

/** Found by a probe: the token was read more loosely than any request body. */
describe('what a JWT may hold', () => {
  let config: JwtAuthConfig;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'mandate-jwt-strict-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [signer.jwk] }));
    config = jwtConfig({ jwksFile: join(dir, 'jwks.json') }, 30);
  });
  const verify = (token: string, extra: Partial<JwtAuthConfig> = {}) =>
    createJwtVerifier({ ...config, ...extra }, clock)(token);
  const refused = (message: string) => ({ code: 'unauthenticated', message: `invalid token: ${message}` });

  it('accepts a well-formed token, iat within the clock tolerance', async () => {
    await expect(
      verify(signer.sign(HEADER, payload(',"mandate_on_behalf_of":"alice"'))),
    ).resolves.toMatchObject({
      role: 'agent',
      onBehalfOf: 'alice',
    });
    const soon = payload().replace(`"iat":${now}`, `"iat":${now + 25}`);
    await expect(verify(signer.sign(HEADER, soon))).resolves.toMatchObject({ subject: 'support-bot' });
  });

  it('refuses a header or payload with a key named twice', async () => {
    const twice = payload(',"mandate_on_behalf_of":"dave","mandate_on_behalf_of":"alice"');
    await expect(verify(signer.sign(HEADER, twice))).rejects.toMatchObject(
      refused('payload: duplicate key "mandate_on_behalf_of" in JSON object'),
    );
    const algs = '{"alg":"none","alg":"EdDSA","kid":"ed1"}';
    await expect(verify(signer.sign(algs, payload()))).rejects.toMatchObject(
      refused('header: duplicate key "alg" in JSON object'),
    );
  });

  it('refuses a time that is no exact number, or past year 9999', async () => {
    const exp = (text: string) =>
      signer.sign(HEADER, payload().replace(`"exp":${now + 300}`, `"exp":${text}`));
    await expect(verify(exp('1e300'))).rejects.toMatchObject(
      refused('payload: exp: 1e300 is a number beyond ±(2^53−1)'),
    );
    await expect(verify(exp('1e309'))).rejects.toMatchObject(refused('payload: exp: 1e309 is out of range'));
    await expect(verify(exp('9007199254740991'))).rejects.toMatchObject(
      refused('claim exp must be a time in seconds between 1970 and 9999'),
    );
    const bytes = Buffer.from(payload());
    bytes[bytes.indexOf('support-bot')] = 0xff;
    const notUtf8 = `${Buffer.from(HEADER).toString('base64url')}.${bytes.toString('base64url')}.AAAA`;
    await expect(verify(notUtf8)).rejects.toMatchObject(refused('payload: not valid UTF-8'));
  });

  it('refuses a token issued in the future beyond the clock tolerance', async () => {
    const later = payload().replace(`"iat":${now}`, `"iat":${now + 365 * 86_400}`);
    await expect(verify(signer.sign(HEADER, later))).rejects.toMatchObject(
      refused('claim iat is in the future'),
    );
  });

  it('with maxTokenAgeSeconds, requires iat and refuses an older token', async () => {
    const age = { maxTokenAgeSeconds: 600 };
    const issued = (iat: number) => signer.sign(HEADER, payload().replace(`"iat":${now}`, `"iat":${iat}`));
    await expect(verify(issued(now - 600), age)).resolves.toMatchObject({ subject: 'support-bot' });
    await expect(verify(issued(now - 631), age)).rejects.toMatchObject(
      refused('issued more than 600 s ago (auth.jwt.maxTokenAgeSeconds)'),
    );
    const noIat = signer.sign(HEADER, payload().replace(`"iat":${now},`, ''));
    await expect(verify(noIat, age)).rejects.toMatchObject(
      refused('claim iat is required (auth.jwt.maxTokenAgeSeconds)'),
    );
    await expect(verify(noIat)).resolves.toMatchObject({ subject: 'support-bot' });
  });

  it('takes maxTokenAgeSeconds from the config: optional, a whole number of seconds', () => {
    const jwt = { issuer: ISSUER, audience: AUDIENCE, jwksUrl: 'https://idp.example.test/jwks' };
    const parsed = (extra: object) => ConfigSchema.safeParse({ auth: { jwt: { ...jwt, ...extra } } });
    expect(parsed({ maxTokenAgeSeconds: 900 }).data?.auth.jwt).toMatchObject({ maxTokenAgeSeconds: 900 });
    expect(parsed({}).data?.auth.jwt?.maxTokenAgeSeconds).toBeUndefined();
    expect(parsed({ maxTokenAgeSeconds: 0 }).success).toBe(false);
    expect(parsed({ maxTokenAgeSeconds: 1.5 }).success).toBe(false);
  });

  it('names a bearer meant as a JWT an invalid token, not an invalid API key', async () => {
    const noKeys = { findApiKeyByHash: () => Promise.resolve(null) } as unknown as Store;
    const authenticate = createAuthenticator(noKeys, createJwtVerifier(config, clock));
    const good = signer.sign(HEADER, payload());
    const [h, p, s] = good.split('.');
    await expect(authenticate(`Bearer ${h}.${p}.${s}==`)).rejects.toMatchObject(
      refused('not a compact JWS (three base64url parts, without "=" padding)'),
    );
    const long = signer.sign(HEADER, payload(`,"pad":"${'x'.repeat(8192)}"`));
    await expect(authenticate(`Bearer ${long}`)).rejects.toMatchObject(
      refused('longer than 8192 characters'),
    );
  });
});
