import { MandateError, sha256Hex } from '../kernel/index.js';
import { looksLikeJwt, type JwtVerifier } from './jwt.js';
import type { Caller } from '../decisions/index.js';
import type { Role, Store } from '../storage/port.js';

/** Hash under which an API key secret is stored; the secret itself never is. */
export function apiKeyHash(secret: string): string {
  return sha256Hex('mandate.apikey.v1\0' + secret);
}

/** Resolves the caller from `Authorization: Bearer <key>`; 401 for a missing, unknown or revoked key. */
export async function authenticate(store: Store, header: string | undefined): Promise<Caller> {
  return apiKeyCaller(store, bearer(header));
}

/**
 * The authenticator of a node: bearer JWTs go to the verifier when `auth.jwt` is configured,
 * everything else is looked up as an API key.
 */
export function createAuthenticator(
  store: Store,
  jwt: JwtVerifier | null,
): (header: string | undefined) => Promise<Caller> {
  return async (header) => {
    const token = bearer(header);
    return jwt && looksLikeJwt(token) ? jwt(token) : apiKeyCaller(store, token);
  };
}

function bearer(header: string | undefined): string {
  // The scheme is case-insensitive (RFC 7235).
  const m = header ? /^bearer[ ]+(.*)$/i.exec(header) : null;
  if (!m) throw new MandateError('unauthenticated', 'send an API key as "Authorization: Bearer <key>"');
  const token = m[1]!.trim();
  if (!token || token.length > 8192) throw new MandateError('unauthenticated', 'invalid API key');
  return token;
}

async function apiKeyCaller(store: Store, secret: string): Promise<Caller> {
  if (secret.length > 512) throw new MandateError('unauthenticated', 'invalid API key');
  const key = await store.findApiKeyByHash(apiKeyHash(secret));
  if (!key || key.revokedAt) throw new MandateError('unauthenticated', 'invalid API key');
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
