import { MandateError, isMandateError } from '../kernel/index.js';
import type { StoreUnavailableReason } from './port.js';

/** The one way a driver says "not now": `store_unavailable`, the reason in `details.reason`. */
export function storeUnavailable(
  reason: StoreUnavailableReason,
  message: string,
  cause?: unknown,
): MandateError {
  return new MandateError('store_unavailable', message, {
    details: { reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

const REASONS: ReadonlySet<string> = new Set<StoreUnavailableReason>([
  'locked',
  'full',
  'closed',
  'unreachable',
  'corrupt',
]);

/**
 * The reason of a `store_unavailable` error (`unreachable` when it names none), or null for any
 * other error: what `/readyz` reports.
 */
export function unavailableReason(err: unknown): StoreUnavailableReason | null {
  if (!isMandateError(err) || err.code !== 'store_unavailable') return null;
  const reason = (err.details as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && REASONS.has(reason)
    ? (reason as StoreUnavailableReason)
    : 'unreachable';
}
