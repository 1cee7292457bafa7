import { MandateError } from './errors.js';

export interface RateLimit {
  /** Sustained requests per second. */
  rate: number;
  /** Requests allowed at once after a quiet spell. */
  burst: number;
}

/**
 * Token buckets by key, refilled lazily from the clock: `take(key)` spends one token or throws
 * `rate_limited` with `details.retryAfterSeconds` (the HTTP layer answers 429 with Retry-After).
 * At most `maxKeys` buckets are kept; the oldest untouched one is dropped first (a dropped bucket
 * is a full one, so forgetting never limits anyone more).
 */
export function createRateLimiter(limit: RateLimit, now: () => number, what: string, maxKeys = 100_000) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key: string): void {
      const t = now();
      let b = buckets.get(key);
      if (b) buckets.delete(key);
      else b = { tokens: limit.burst, at: t };
      b.tokens = Math.min(limit.burst, b.tokens + ((t - b.at) / 1000) * limit.rate);
      b.at = t;
      buckets.set(key, b);
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return;
      }
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - b.tokens) / limit.rate));
      throw new MandateError(
        'rate_limited',
        `${what} ${key} is over its rate limit (${limit.rate}/s, burst ${limit.burst}); retry after ${retryAfterSeconds} s`,
        {
          details: { retryAfterSeconds },
        },
      );
    },
  };
}
