import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID-like id: 48-bit time + 80 random bits, Crockford base32, lexicographically sortable,
 * prefixed with its kind (`dec_`, `apr_`, `grt_` …) so ids are self-describing in logs.
 */
export function newId(prefix: string, nowMs: number): string {
  let out = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  for (let i = 0; i < 16; i++) out += ALPHABET[rnd[i]! % 32];
  return `${prefix}_${out}`;
}
