import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, type JWK, type generateKeyPair } from 'jose';
import { loadConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import type { JwtAuthConfig } from '../../src/http/index.js';
import { silentLogger } from '../../src/kernel/index.js';

export const ISSUER = 'https://idp.example.test';
export const AUDIENCE = 'mandate';

export type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** `auth.jwt` for ISSUER and AUDIENCE with the default claim names. */
export function jwtConfig(keys: { jwksFile: string } | { jwksUrl: string }, tolerance = 5): JwtAuthConfig {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    ...keys,
    roleClaim: 'mandate_role',
    onBehalfOfClaim: 'mandate_on_behalf_of',
    clockToleranceSeconds: tolerance,
  };
}

/** A signed token for ISSUER and AUDIENCE, issued now and valid 5 minutes unless told otherwise. */
export async function token(
  key: KeyPair['privateKey'],
  claims: Record<string, unknown>,
  o: { kid?: string; alg?: string; iss?: string; aud?: string; exp?: string | number; sub?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: o.alg ?? 'ES256', kid: o.kid ?? 'k1' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m');
  if (o.sub !== '') jwt.setSubject(o.sub ?? 'support-bot');
  return jwt.sign(key);
}

/** An Ed25519 key (kid `ed1`) that signs header and payload texts exactly as given. */
export function rawSigner(): { jwk: JWK; sign(header: string, payload: string): string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    jwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'ed1', alg: 'EdDSA' },
    sign: (header, payload) => signRaw(privateKey, header, payload),
  };
}

function signRaw(key: KeyObject, header: string, payload: string): string {
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

/** A JWKS server on 127.0.0.1 that serves `jwks`, answers 500 or never answers, as `mode` says. */
export async function jwksServer(jwks: { keys: JWK[] }): Promise<{
  url: string;
  mode: 'ok' | 'down' | 'hang';
  fetches: number;
  close(): Promise<void>;
}> {
  const state = {
    url: '',
    mode: 'ok' as 'ok' | 'down' | 'hang',
    fetches: 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    if (state.mode === 'hang') return;
    if (state.mode === 'down') {
      res.statusCode = 500;
      res.end('down');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return state;
}

const root = join(import.meta.dirname, '../../../..');

/** The fintech example (memory store) with `auth.jwt`, listening on a free port; `tweak` edits its config first. */
export async function fintechWithJwt(
  jwt: JwtAuthConfig,
  tweak: (config: ReturnType<typeof loadConfig>['config']) => void = () => undefined,
): Promise<{ m: Mandate; url: string }> {
  const loaded = loadConfig(
    { configFile: join(root, 'mandate.config.json'), store: 'memory', port: 0, logLevel: 'silent' },
    {},
    root,
  );
  loaded.config.auth.jwt = jwt;
  tweak(loaded.config);
  const m = await createMandate(loaded, { logger: silentLogger });
  return { m, url: (await m.listen()).url };
}
