import { z } from 'zod';

/**
 * A JSON object, passed through exactly as parsed. `z.record` builds a copy by assignment, which
 * drops a `__proto__` key (assigning it sets the copy's prototype): args carrying one were decided
 * without it while the caller went on with the args it sent — a key no policy, schema or approval
 * ever saw. The strict JSON parser keeps `__proto__` as an ordinary own key; so does this.
 */
export const JsonObjectSchema = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  { message: 'Invalid input: expected an object' },
);
