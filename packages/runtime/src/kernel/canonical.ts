import { MandateError } from './errors.js';

/**
 * RFC 8785 (JSON Canonicalization Scheme) serialisation: object keys sorted by UTF-16 code units,
 * no whitespace, numbers in ECMAScript shortest form (which is what JCS specifies), strings
 * escaped as JSON.stringify does. Non-finite numbers, `undefined`, functions and other
 * non-JSON values are rejected rather than silently dropped.
 */
export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new MandateError('invalid_number', 'non-finite number');
      return Object.is(value, -0) ? '0' : JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(canonicalize).join(',') + ']';
      const keys = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        out += JSON.stringify(k) + ':' + canonicalize(v);
      }
      return out + '}';
    }
    default:
      throw new MandateError('bad_request', `cannot canonicalise a ${typeof value}`);
  }
}
