import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { MandateError, safeEqual, type Clock } from '../kernel/index.js';
import type { OidcConfig } from '../config/index.js';
import type { SessionPrincipal } from '../sessions/index.js';
import { OIDC_KEY_PREFIX } from '../sessions/index.js';
import { ownOrigin, type OwnOrigin } from './session-cookie.js';

/** The sign-in in progress, kept in a short-lived HttpOnly cookie between login and callback. */
export interface OidcTransaction {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  /** ms since epoch after which the callback is refused. */
  exp: number;
}

/** The cookie holding the transaction; `SameSite=Lax`: it must come back on the issuer's redirect. */
export const OIDC_COOKIE = 'mandate_oidc';
export const OIDC_COOKIE_PATH = '/v1/sessions/oidc';
/** How long a sign-in may take at the issuer. */
export const OIDC_TRANSACTION_SECONDS = 600;

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

/** Asymmetric algorithms only, as for bearer JWTs. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
const random = () => randomBytes(32).toString('base64url');
const fail = (message: string) =>
  new MandateError('unauthenticated', `OpenID Connect sign-in failed: ${message}`);

export interface OidcClient {
  /** The issuer URL to send the browser to, and the transaction to keep in the cookie. */
  begin(req: IncomingMessage): Promise<{ location: string; transaction: OidcTransaction }>;
  /** Checks the callback against the transaction, redeems the code and verifies the ID token. */
  complete(query: URLSearchParams, transaction: OidcTransaction | null): Promise<SessionPrincipal>;
}

/**
 * The dashboard's OpenID Connect relying party (authorization code + PKCE S256, state and nonce):
 * discovery is read once from the issuer, the ID token verified against its JWKS.
 */
export function createOidcClient(
  config: OidcConfig,
  clock: Clock,
  /** How browsers reach this server, for the default redirect URI. */
  own: OwnOrigin = { secureCookies: false },
): OidcClient {
  let discovered: Promise<{ meta: Discovery; keys: JWTVerifyGetKey }> | null = null;

  const discover = () =>
    (discovered ??= (async () => {
      const url = `${config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`discovery answered ${res.status}`);
      const meta = (await res.json()) as Discovery;
      // SECURITY: fail closed — the issuer must be exactly the configured one (mix-up defence).
      if (meta.issuer !== config.issuer) throw new Error(`discovery names issuer ${meta.issuer}`);
      for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const)
        if (typeof meta[k] !== 'string') throw new Error(`discovery has no ${k}`);
      return { meta, keys: createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: 5000 }) };
    })().catch((err: Error) => {
      discovered = null;
      throw new MandateError('unavailable', `the OpenID Connect issuer cannot be reached: ${err.message}`);
    }));

  const redirectUriOf = (req: IncomingMessage) =>
    config.redirectUri ?? `${ownOrigin(req, own) ?? ''}/v1/sessions/oidc/callback`;

  return {
    async begin(req) {
      const { meta } = await discover();
      const transaction: OidcTransaction = {
        state: random(),
        nonce: random(),
        verifier: random(),
        redirectUri: redirectUriOf(req),
        exp: clock.now() + OIDC_TRANSACTION_SECONDS * 1000,
      };
      const url = new URL(meta.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', transaction.redirectUri);
      url.searchParams.set('scope', [...new Set(['openid', ...config.scopes])].join(' '));
      url.searchParams.set('state', transaction.state);
      url.searchParams.set('nonce', transaction.nonce);
      url.searchParams.set(
        'code_challenge',
        createHash('sha256').update(transaction.verifier).digest('base64url'),
      );
      url.searchParams.set('code_challenge_method', 'S256');
      return { location: url.toString(), transaction };
    },

    async complete(query, transaction) {
      // SECURITY: fail closed — the callback must belong to a sign-in this browser started, now.
      if (!transaction || !(transaction.exp > clock.now())) throw fail('no sign-in in progress; start again');
      const state = query.get('state');
      if (!state || !safeEqual(state, transaction.state)) throw fail('state does not match');
      const error = query.get('error');
      if (error) throw fail(`the issuer answered ${error.slice(0, 64)}`);
      const code = query.get('code');
      if (!code) throw fail('no code');
      const { meta, keys } = await discover();
      const body = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: transaction.redirectUri,
        code_verifier: transaction.verifier,
      });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (config.clientSecret) {
        const enc = (s: string) => encodeURIComponent(s);
        headers.authorization = `Basic ${Buffer.from(`${enc(config.clientId)}:${enc(config.clientSecret)}`).toString('base64')}`;
      } else body.set('client_id', config.clientId);
      let tokens: { id_token?: unknown };
      try {
        // The code and its verifier go to the token endpoint the issuer names, never to a redirect.
        const res = await fetch(meta.token_endpoint, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(5000),
        });
        tokens = (await res.json()) as { id_token?: unknown };
        if (!res.ok) throw new Error(String((tokens as { error?: unknown }).error ?? res.status));
      } catch (err) {
        throw fail(`the code was not accepted (${(err as Error).message.slice(0, 64)})`);
      }
      if (typeof tokens.id_token !== 'string') throw fail('no ID token');
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(tokens.id_token, keys, {
          issuer: config.issuer,
          audience: config.clientId,
          algorithms: ALGORITHMS,
          clockTolerance: 30,
          currentDate: new Date(clock.now()),
          requiredClaims: ['exp', 'iat', 'sub'],
        }));
      } catch (err) {
        throw fail(`ID token: ${(err as Error).message.slice(0, 80)}`);
      }
      if (typeof payload.nonce !== 'string' || !safeEqual(payload.nonce, transaction.nonce))
        throw fail('ID token nonce does not match');
      const role = payload[config.roleClaim];
      // SECURITY: an agent never gets a browser session, and only the configured roles do.
      if (typeof role !== 'string' || !(config.allowedRoles as string[]).includes(role))
        throw new MandateError(
          'forbidden',
          `OpenID Connect sign-in refused: claim ${config.roleClaim} must be one of ${config.allowedRoles.join(', ')}`,
        );
      const subject = payload[config.subjectClaim];
      if (typeof subject !== 'string' || subject === '' || subject.length > 256)
        throw fail(`claim ${config.subjectClaim} is missing`);
      return {
        keyId: `${OIDC_KEY_PREFIX}${config.issuer}:${String(payload.sub)}`,
        role: role as SessionPrincipal['role'],
        subject: role === 'admin' ? null : subject,
      };
    },
  };
}

/** The transaction cookie's value: base64url JSON. */
export function encodeTransaction(t: OidcTransaction): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

export function decodeTransaction(value: string | undefined): OidcTransaction | null {
  if (!value || value.length > 2048) return null;
  try {
    const t = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as OidcTransaction;
    return typeof t.state === 'string' &&
      typeof t.nonce === 'string' &&
      typeof t.verifier === 'string' &&
      typeof t.redirectUri === 'string' &&
      typeof t.exp === 'number'
      ? t
      : null;
  } catch {
    return null;
  }
}
