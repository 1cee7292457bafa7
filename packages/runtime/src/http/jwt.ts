import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTVerifyGetKey,
  type JSONWebKeySet,
} from 'jose';
import {
  MandateError,
  decodeUtf8Strict,
  isMandateError,
  parseJsonStrict,
  type Clock,
} from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';
import { createRemoteJwks } from './remote-jwks.js';

/** `auth.jwt` in the config: bearer JWTs verified against a JWKS (DESIGN.md "Wire contract"). */
export interface JwtAuthConfig {
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of the token's audiences). */
  audience: string;
  /** A JWKS file (read once at start). Exactly one of `jwksFile` and `jwksUrl`. */
  jwksFile?: string;
  /** A JWKS URL, fetched and cached (see `createRemoteJwks` for how long, and after a failure). */
  jwksUrl?: string;
  /** Claim naming the role (`agent`, `user`, `approver`, `admin`). */
  roleClaim: string;
  /** Claim naming, for an agent, the user it acts for; a verified fact, never taken from a request. */
  onBehalfOfClaim: string;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. */
  clockToleranceSeconds: number;
  /** When set, `iat` is required and a token issued longer ago than this is refused. */
  maxTokenAgeSeconds?: number | undefined;
}

const ROLES = new Set(['agent', 'user', 'approver', 'admin']);
/** Asymmetric algorithms only: an HMAC secret would have to be shared with every token issuer. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Longest bearer taken for a JWT. */
const MAX_JWT_CHARS = 8192;
/** 9999-12-31T23:59:59Z: a NumericDate beyond it has no ISO form, and no token needs one. */
const MAX_NUMERIC_DATE = 253_402_300_799;

/** True when a bearer credential has the shape of a compact JWS (API keys never contain a dot). */
export function looksLikeJwt(token: string): boolean {
  return JWT_SHAPE.test(token);
}

/**
 * True when a bearer is meant as a JWT: three dot-separated parts, well formed or not. With
 * `auth.jwt` on, such a bearer is refused as an invalid token (`=` padding, too long), not looked
 * up as an API key and refused as an invalid API key.
 */
export function meantAsJwt(token: string): boolean {
  return token.split('.', 4).length === 3;
}

export type JwtVerifier = (token: string) => Promise<Caller>;

/**
 * The caller id of a verified token: `jwt:<role>:<iss>:<sub>`, and `:<user>` for an agent token
 * that names the user it acts for. `%` and `:` inside iss, sub and user are percent-encoded, so the
 * id splits on `:` into exactly its fields: no iss or sub can make it read as another caller's.
 */
export function jwtCallerId(role: Caller['role'], issuer: string, sub: string, onBehalfOf?: string): string {
  const user = onBehalfOf === undefined ? '' : `:${idField(onBehalfOf)}`;
  return `jwt:${role}:${idField(issuer)}:${idField(sub)}${user}`;
}

function idField(text: string): string {
  return text.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

/**
 * Builds the verifier for `auth.jwt`. The caller it returns carries the role and subject from the
 * token and, for an agent, the user it acts for (`onBehalfOf`) when the token names one; `keyId`
 * is `jwtCallerId(...)`, so tokens of another role or user never share a caller's record, limits or
 * gateway session.
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
    keys = createRemoteJwks(new URL(config.jwksUrl!), clock);
  }
  const tolerance = config.clockToleranceSeconds;
  return async (token) => {
    // SECURITY: the token is read the one way Mandate reads input before anything else reads it
    // (and before a key is looked up): a header or payload jose would read one way and another
    // parser another — `{"alg":"none","alg":"RS256"}`, a claim named twice, `"exp":1e300` — is
    // refused, not settled by whichever copy of a key comes last.
    strictParts(token);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: ALGORITHMS,
        clockTolerance: tolerance,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      // The key set could not be fetched: no verdict on the token (503, see remote-jwks.ts).
      if (isMandateError(err)) throw err;
      // SECURITY: fail closed — any doubt about the token is a 401, with the reason but never the token.
      throw invalid(reasonOf(err));
    }
    checkTimes(payload, clock.now() / 1000, tolerance, config.maxTokenAgeSeconds);
    const role = payload[config.roleClaim];
    if (typeof role !== 'string' || !ROLES.has(role))
      throw invalid(`claim ${config.roleClaim} must be one of agent, user, approver, admin`);
    // SECURITY: jose checks that `sub` is there, not what it is. An array or a number became the
    // decision's agent as is: allowed, and its record then failed verify (its `agent` column could
    // not hold it), which stopped the node signing checkpoints (a probe).
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub === '') throw invalid('claim sub must be a non-empty string');
    const claimed = payload[config.onBehalfOfClaim];
    if (claimed !== undefined && (role !== 'agent' || typeof claimed !== 'string' || claimed === ''))
      throw invalid(`claim ${config.onBehalfOfClaim} is a user id, and only for role agent`);
    const onBehalfOf = claimed as string | undefined;
    return {
      role: role as Caller['role'],
      subject: role === 'admin' ? null : sub,
      keyId: jwtCallerId(role as Caller['role'], config.issuer, sub, onBehalfOf),
      ...(onBehalfOf === undefined ? {} : { onBehalfOf }),
    };
  };
}

function invalid(reason: string): MandateError {
  return new MandateError('unauthenticated', `invalid token: ${reason}`);
}

/** Refuses a bearer that is no compact JWS, or whose header or payload is not strict JSON objects. */
function strictParts(token: string): void {
  if (token.length > MAX_JWT_CHARS) throw invalid(`longer than ${MAX_JWT_CHARS} characters`);
  if (!looksLikeJwt(token)) throw invalid('not a compact JWS (three base64url parts, without "=" padding)');
  const [header, payload] = token.split('.');
  strictObject(header!, 'header');
  strictObject(payload!, 'payload');
}

function strictObject(part: string, name: 'header' | 'payload'): void {
  let value: unknown;
  try {
    value = parseJsonStrict(decodeUtf8Strict(Buffer.from(part, 'base64url')), { maxDepth: 32 });
  } catch (err) {
    if (!isMandateError(err)) throw err;
    throw invalid(`${name}: ${err.code === 'invalid_utf8' ? 'not valid UTF-8' : err.message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${name}: not a JSON object`);
}

/**
 * The times jose leaves open: `iat` in the future (jose checks it only with a maximum age), a
 * NumericDate no calendar holds (`"exp": 9007199254740991` never expires), and the token's age.
 */
function checkTimes(
  payload: Record<string, unknown>,
  nowSeconds: number,
  tolerance: number,
  maxAge: number | undefined,
): void {
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    const t = payload[claim];
    if (t !== undefined && (typeof t !== 'number' || t < 0 || t > MAX_NUMERIC_DATE))
      throw invalid(`claim ${claim} must be a time in seconds between 1970 and 9999`);
  }
  const iat = payload.iat as number | undefined;
  if (iat !== undefined && iat > nowSeconds + tolerance) throw invalid('claim iat is in the future');
  if (maxAge === undefined) return;
  if (iat === undefined) throw invalid('claim iat is required (auth.jwt.maxTokenAgeSeconds)');
  if (nowSeconds - iat - tolerance > maxAge)
    throw invalid(`issued more than ${maxAge} s ago (auth.jwt.maxTokenAgeSeconds)`);
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches';
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return 'more than one key in the JWKS matches (no kid?)';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JOSENotSupported) return 'algorithm or key type not supported';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'malformed';
  return 'cannot be verified';
}
