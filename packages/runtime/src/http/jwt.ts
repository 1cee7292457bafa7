import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTVerifyGetKey,
  type JSONWebKeySet,
} from 'jose';
import { MandateError, type Clock } from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';

/** `auth.jwt` in the config: bearer JWTs verified against a JWKS (DESIGN.md "Wire contract"). */
export interface JwtAuthConfig {
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of the token's audiences). */
  audience: string;
  /** A JWKS file (read once at start). Exactly one of `jwksFile` and `jwksUrl`. */
  jwksFile?: string;
  /** A JWKS URL, fetched and cached (refetched for an unknown `kid`, at most every 30 s). */
  jwksUrl?: string;
  /** Claim naming the role (`agent`, `user`, `approver`, `admin`). */
  roleClaim: string;
  /** Claim naming, for an agent, the user it acts for; a verified fact, never taken from a request. */
  onBehalfOfClaim: string;
  /** Allowed clock skew for `exp` and `nbf`, in seconds. */
  clockToleranceSeconds: number;
}

const ROLES = new Set(['agent', 'user', 'approver', 'admin']);
/** Asymmetric algorithms only: an HMAC secret would have to be shared with every token issuer. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** True when a bearer credential has the shape of a compact JWS (API keys never contain a dot). */
export function looksLikeJwt(token: string): boolean {
  return JWT_SHAPE.test(token);
}

export type JwtVerifier = (token: string) => Promise<Caller>;

/**
 * Builds the verifier for `auth.jwt`. The caller it returns carries the role and subject from the
 * token and, for an agent, the user it acts for (`onBehalfOf`) when the token names one; `keyId`
 * is `jwt:<iss>:<sub>`, so a gateway session serves only the same subject.
 */
export function createJwtVerifier(config: JwtAuthConfig, clock: Clock): JwtVerifier {
  if (!!config.jwksFile === !!config.jwksUrl)
    throw new MandateError('bad_request', 'auth.jwt: give exactly one of jwksFile and jwksUrl');
  let keys: JWTVerifyGetKey;
  if (config.jwksFile) {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(config.jwksFile, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw new MandateError(
        'bad_request',
        `auth.jwt.jwksFile ${config.jwksFile}: ${(err as Error).message}`,
      );
    }
    keys = createLocalJWKSet(jwks);
  } else {
    keys = createRemoteJWKSet(new URL(config.jwksUrl!), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
  }
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: ALGORITHMS,
        clockTolerance: config.clockToleranceSeconds,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      // SECURITY: fail closed — any doubt about the token is a 401, with the reason but never the token.
      throw new MandateError('unauthenticated', `invalid token: ${reasonOf(err)}`);
    }
    const role = payload[config.roleClaim];
    if (typeof role !== 'string' || !ROLES.has(role))
      throw new MandateError(
        'unauthenticated',
        `invalid token: claim ${config.roleClaim} must be one of agent, user, approver, admin`,
      );
    // SECURITY: jose checks that `sub` is there, not what it is. An array or a number became the
    // decision's agent as is: allowed, and its record then failed verify (its `agent` column could
    // not hold it), which stopped the node signing checkpoints (a probe).
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub === '')
      throw new MandateError('unauthenticated', 'invalid token: claim sub must be a non-empty string');
    const caller: Caller = {
      role: role as Caller['role'],
      subject: role === 'admin' ? null : sub,
      keyId: `jwt:${config.issuer}:${sub}`,
    };
    const onBehalfOf = payload[config.onBehalfOfClaim];
    if (onBehalfOf !== undefined) {
      if (role !== 'agent' || typeof onBehalfOf !== 'string' || onBehalfOf === '')
        throw new MandateError(
          'unauthenticated',
          `invalid token: claim ${config.onBehalfOfClaim} is a user id, and only for role agent`,
        );
      caller.onBehalfOf = onBehalfOf;
    }
    return caller;
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWKSTimeout) return 'the JWKS could not be fetched in time';
  if (err instanceof joseErrors.JOSEError) return err.code;
  return 'malformed';
}
