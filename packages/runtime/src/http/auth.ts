import { MandateError, systemClock, type Clock } from '../kernel/index.js';
import { apiKeyDead, apiKeyHash, type KeyUsage } from '../keys/index.js';
import { looksLikeJwt, meantAsJwt, type JwtVerifier } from './jwt.js';
import type { Caller } from '../decisions/index.js';
import type { Role, Store } from '../storage/port.js';
import type { ReadCachedStore } from '../storage/read-cache.js';

export { apiKeyHash };

/** How API keys are checked: the clock for expiry, and where uses are reported (coalesced last-used). */
export interface ApiKeyAuthOptions {
  clock?: Clock;
  usage?: KeyUsage;
}

/** Resolves the caller from `Authorization: Bearer <key>`; 401 for a missing, unknown, revoked or expired key. */
export async function authenticate(
  store: Store,
  header: string | undefined,
  options: ApiKeyAuthOptions = {},
): Promise<Caller> {
  return apiKeyCaller(store, bearer(header), options);
}

/**
 * The authenticator of a node: bearers meant as JWTs (three dot-separated parts) go to the verifier
 * when `auth.jwt` is configured, everything else is looked up as an API key.
 */
export function createAuthenticator(
  store: Store,
  jwt: JwtVerifier | null,
  options: ApiKeyAuthOptions = {},
): (header: string | undefined) => Promise<Caller> {
  return async (header) => {
    const token = bearer(header);
    return jwt && meantAsJwt(token) ? jwt(token) : apiKeyCaller(store, token, options);
  };
}

/**
 * Whether `Authorization` carries an API key whose row this node's read cache holds: a key it served
 * lately. A scheduling hint only: such a request may wait for its whole body before it is
 * authenticated, so that authenticating and deciding share one read of the cache epoch. Anything
 * else — no header, an unknown key, a JWT, a malformed header — is authenticated first, so a client
 * without a key this node knows is refused without its body being waited for or kept.
 */
export function recentlyKnownKey(store: Store, header: string | undefined): boolean {
  const holds = (store as Partial<ReadCachedStore>).holdsApiKey;
  if (!holds || header === undefined) return false;
  let token: string;
  try {
    token = bearer(header);
  } catch {
    return false;
  }
  return token.length <= 512 && !looksLikeJwt(token) && holds(apiKeyHash(token));
}

function bearer(header: string | undefined): string {
  // The scheme is case-insensitive (RFC 7235).
  const m = header ? /^bearer[ ]+(.*)$/i.exec(header) : null;
  if (!m) throw new MandateError('unauthenticated', 'send an API key as "Authorization: Bearer <key>"');
  const token = m[1]!.trim();
  // Length is bounded where the credential is read: an API key at 512, a JWT at 8192 (jwt.ts).
  if (!token) throw new MandateError('unauthenticated', 'invalid API key');
  return token;
}

async function apiKeyCaller(store: Store, secret: string, options: ApiKeyAuthOptions): Promise<Caller> {
  if (secret.length > 512) throw new MandateError('unauthenticated', 'invalid API key');
  // Keys come through the read cache, behind the store's epoch (ADR 0026): a revocation or an
  // expiry holds on every node at the next request.
  const key = await store.findApiKeyByHash(apiKeyHash(secret));
  // SECURITY: fail closed — unknown, revoked and expired keys get the same 401.
  if (!key || apiKeyDead(key, (options.clock ?? systemClock).now()))
    throw new MandateError('unauthenticated', 'invalid API key');
  options.usage?.used(key.id);
  return { role: key.role, subject: key.subject, keyId: key.id };
}

export function requireRole(caller: Caller, ...roles: Role[]): void {
  if (!roles.includes(caller.role)) {
    throw new MandateError(
      'forbidden',
      `this route needs role ${roles.join(' or ')}; the credential has role ${caller.role}`,
    );
  }
}
