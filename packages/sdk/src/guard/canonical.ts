import { MandateApiError } from '../errors.js';

/**
 * RFC 8785 (JCS) text of a JSON value, as the runtime computes it (`kernel/canonical.ts`): sorted
 * keys, no whitespace, ECMAScript number form. The SDK uses it only to tell whether two tool calls
 * carry the same args — deciding is the server's.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new MandateApiError(
          'invalid_number',
          'the tool call arguments hold a number JSON cannot carry',
        );
      return Object.is(value, -0) ? '0' : JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
      const keys = Object.keys(value).sort();
      const parts: string[] = [];
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v !== undefined) parts.push(JSON.stringify(k) + ':' + canonicalJson(v));
      }
      return '{' + parts.join(',') + '}';
    }
    default:
      throw new MandateApiError(
        'bad_request',
        `the tool call arguments hold a ${typeof value}, which JSON cannot carry`,
      );
  }
}
