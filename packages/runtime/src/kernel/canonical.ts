import { MandateError } from './errors.js';

/**
 * Strings up to this length are scanned here for characters JSON must escape; longer ones go to
 * `JSON.stringify` straight away, whose native scan wins once the call's overhead is amortised.
 */
const SCAN_MAX = 64;

/**
 * A string as a JSON string literal, byte for byte what `JSON.stringify` writes. Most keys and
 * values in Mandate's records (ids, names, hex digests) need no escape: quoting them directly
 * skips a call into the runtime per string, the largest single cost of canonicalising an event.
 */
function quote(s: string): string {
  if (s.length > SCAN_MAX) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Quote, backslash and control characters are escaped by JSON.stringify; lone surrogates are
    // written as \u escapes (well-formed JSON.stringify), so every surrogate takes the slow path.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/**
 * RFC 8785 (JSON Canonicalization Scheme) serialisation: object keys sorted by UTF-16 code units,
 * no whitespace, numbers in ECMAScript shortest form (which is what JCS specifies), strings
 * escaped as JSON.stringify does. Non-finite numbers, `undefined`, functions and other
 * non-JSON values are rejected rather than silently dropped.
 *
 * The output is hashed into the audit chain and into call hashes and policy versions: it must
 * never change for a given value (test/kernel/canonical.test.ts compares it with the reference
 * implementation on a corpus of tricky and random values).
 */
export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw new MandateError('invalid_number', 'non-finite number');
      // Number::toString, as JSON.stringify writes finite numbers; -0 becomes "0" either way.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const n = value.length;
        if (n === 0) return '[]';
        let out = '[' + canonicalize(value[0]);
        for (let i = 1; i < n; i++) out += ',' + canonicalize(value[i]);
        return out + ']';
      }
      const keys = Object.keys(value);
      // Objects built in key order (or parsed from canonical text) need no sort.
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        out += quote(k) + ':' + canonicalize(v);
      }
      return out + '}';
    }
    default:
      throw new MandateError('bad_request', `cannot canonicalise a ${typeof value}`);
  }
}
