import { MandateError } from './errors.js';

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, y: 365 * 86400e3 };
/** The longest duration (and the farthest expiry) accepted anywhere: 100 years. */
export const MAX_DURATION_MS = 100 * UNITS.y!;
/** `30s`, `5m`, `24h`, `30d`, `1y` or `250ms` in milliseconds; at most 100 years. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,12})(ms|s|m|h|d|y)$/.exec(text);
  if (!m)
    throw new MandateError('bad_request', `invalid duration ${text.slice(0, 40)}: use e.g. 30s, 5m, 24h`);
  const ms = m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * UNITS[m[2]!]!;
  if (ms > MAX_DURATION_MS)
    throw new MandateError('bad_request', `duration ${text} is longer than 100 years`);
  return ms;
}
