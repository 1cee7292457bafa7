import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { MandateError, type Clock } from '../kernel/index.js';

/** How a JWKS URL is fetched and kept (docs/configuration.md `auth.jwt`). */
export interface RemoteJwksTiming {
  /** Longest wait for one fetch, body included. */
  timeoutMs: number;
  /** Keys fetched longer ago than this are fetched again before they are used. */
  maxAgeMs: number;
  /** A token whose `kid` the cached set lacks (a rotated key?) fetches again at most this often. */
  unknownKidCooldownMs: number;
  /** After a failed fetch none is tried for this long, doubled per further failure up to `backoffMaxMs`. */
  backoffMs: number;
  backoffMaxMs: number;
}

export const REMOTE_JWKS_TIMING: RemoteJwksTiming = {
  timeoutMs: 5_000,
  maxAgeMs: 10 * 60_000,
  unknownKidCooldownMs: 30_000,
  backoffMs: 5_000,
  backoffMaxMs: 60_000,
};

/**
 * The key set behind `auth.jwt.jwksUrl`: fetched, cached for `maxAgeMs`, fetched again for an
 * unknown `kid` at most every `unknownKidCooldownMs`; concurrent requests share one fetch.
 *
 * SECURITY: a JWT needs no valid signature to make the node fetch (the `kid` is read first), so
 * fetches are bounded for anyone: after a failed fetch, none for a backoff period (5 s doubling to
 * 60 s), and every token that would need one meanwhile is refused at once with 503 `unavailable`
 * instead of fetching again or holding its connection for the timeout. jose's own remote set
 * backs off only after a successful fetch: with the identity provider down, every bearer fetched.
 * Fail closed — keys older than `maxAgeMs` are never used, so an outage longer than that refuses
 * every JWT (API keys are unaffected).
 */
export function createRemoteJwks(
  url: URL,
  clock: Clock,
  timing: RemoteJwksTiming = REMOTE_JWKS_TIMING,
): JWTVerifyGetKey {
  let keys: { get: JWTVerifyGetKey; fetchedAt: number } | null = null;
  let lastAttempt = -Infinity;
  let failures = 0;
  let retryAt = -Infinity;
  let lastFailure = '';
  /** The fetch under way, which every caller joins (those of an unknown kid too, in the cooldown). */
  let fetching: Promise<void> | null = null;

  const unavailable = () =>
    new MandateError(
      'unavailable',
      "JWTs cannot be verified now: the identity provider's key set (auth.jwt.jwksUrl) could not be fetched; API keys still work",
      {
        details: {
          reason: lastFailure,
          retryAfterSeconds: Math.max(1, Math.ceil((retryAt - clock.now()) / 1000)),
        },
      },
    );

  const fetchKeys = async () => {
    lastAttempt = clock.now();
    try {
      const jwks = await fetchJwks(url, timing.timeoutMs);
      keys = { get: createLocalJWKSet(jwks), fetchedAt: clock.now() };
      failures = 0;
      retryAt = -Infinity;
    } catch (err) {
      failures++;
      retryAt = clock.now() + Math.min(timing.backoffMs * 2 ** (failures - 1), timing.backoffMaxMs);
      lastFailure = fetchFailure(err, timing.timeoutMs);
      throw unavailable();
    }
  };
  const load = () =>
    (fetching ??= fetchKeys().finally(() => {
      fetching = null;
    }));
  const refresh = async (): Promise<JWTVerifyGetKey> => {
    if (clock.now() < retryAt) throw unavailable();
    await load();
    return keys!.get;
  };

  return async (header, token) => {
    const cached = keys;
    if (!cached || clock.now() - cached.fetchedAt >= timing.maxAgeMs) return (await refresh())(header, token);
    try {
      return await cached.get(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      // Within the cooldown only a fetch already under way is joined (a key rotation: the tokens
      // signed with the new kid that arrive while its fetch runs wait for it, not 401 — a probe).
      if (clock.now() - lastAttempt < timing.unknownKidCooldownMs && fetching === null) throw err;
      return (await refresh())(header, token);
    }
  };
}

async function fetchJwks(url: URL, timeoutMs: number): Promise<JSONWebKeySet> {
  const res = await fetch(url, {
    redirect: 'manual',
    headers: { accept: 'application/json, application/jwk-set+json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  return JSON.parse(await boundedText(res, MAX_JWKS_BYTES)) as JSONWebKeySet;
}

/** The largest key set read: a key set is a few KiB; a huge answer is refused, not buffered. */
const MAX_JWKS_BYTES = 1024 * 1024;

async function boundedText(res: Response, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > max) throw new Error(`larger than ${max} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why a fetch failed, in words safe to show any caller: no body, no header of the answer. */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  if (e instanceof SyntaxError) return 'the answer is not JSON';
  if (e instanceof joseErrors.JWKSInvalid) return 'the answer is not a JSON Web Key Set';
  if (/^HTTP \d{3}$/.test(e.message)) return `the answer was ${e.message}, not 200`;
  if (/^larger than \d+ bytes$/.test(e.message)) return `the answer is ${e.message}`;
  const code = (e.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `cannot connect (${code})` : 'cannot connect';
}
