import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// One CSPRNG call fills ids for 256 requests: a call per id showed up on the decision path.
const pool = Buffer.alloc(4096);
let used = pool.length;
function take16(): number {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const at = used;
  used += 16;
  return at;
}

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
  const at = take16();
  for (let i = 0; i < 16; i++) out += ALPHABET[pool[at + i]! % 32];
  return `${prefix}_${out}`;
}
