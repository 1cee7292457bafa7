/**
 * A key of a JSON object as an upstream that reads keys as paths reads it: MongoDB's dotted field
 * names and Elasticsearch take `"o.n"` to `o` → `n`; lodash's `set`, qs and Express bodies also take
 * brackets, `"o[n]"`, `"items[0].qty"`, `"[to]"`. Such a key names another arg of the call than the
 * one a policy or a grant limit reads under its own name (THREATS: input that means two things).
 */

/** Does the key hold a path separator (`.`, `[`, `]`)? */
export function isPathKey(key: string): boolean {
  return /[.[\]]/.test(key);
}

/**
 * The segments of the path a key reads as: split at every `.`, `[` and `]`, empty pieces dropped,
 * a quoted piece unquoted as lodash reads it (`"o[n]"` → `o`, `n`; `"items[0].qty"` → `items`, `0`,
 * `qty`; `"[to]"` and `"['to']"` → `to`). A key holding no separator, or nothing but separators, is
 * one segment: itself.
 */
export function keyPath(key: string): string[] {
  if (!isPathKey(key)) return [key];
  const segments = key
    .split(/[.[\]]/)
    .map((s) => (QUOTED.test(s) ? s.slice(1, -1) : s))
    .filter((s) => s.length > 0);
  return segments.length > 0 ? segments : [key];
}

/** A piece in quotes, as lodash's paths allow inside brackets (`['to']`, `["to"]`). */
const QUOTED = /^(['"]).*\1$/s;
