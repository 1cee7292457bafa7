import type { ErrorCode } from './wire.js';

/**
 * Codes of failures that happen on the client's side of the wire: the server could not be
 * reached, the call was cancelled, or the answer was not a Mandate answer.
 */
export type ClientErrorCode = 'network_error' | 'aborted' | 'invalid_response';

/** Every code a {@link MandateApiError} can carry: the server's closed list plus the client's own. */
export type SdkErrorCode = ErrorCode | ClientErrorCode;

/** Server codes that say "try again later": nothing was decided or recorded. */
const RETRYABLE: ReadonlySet<SdkErrorCode> = new Set<SdkErrorCode>([
  'network_error',
  'rate_limited',
  'overloaded',
  'store_unavailable',
  'audit_unavailable',
  'timeout',
  'idempotency_in_progress',
]);

/**
 * The one error class of the SDK. `code` is stable (switch on it, never on `message`); `status` is
 * the HTTP status (0 when no answer came, or in embedded mode); `requestId` names the request in
 * the server's logs.
 */
export class MandateApiError extends Error {
  readonly code: SdkErrorCode;
  readonly status: number;
  readonly requestId: string | undefined;
  readonly details: unknown;

  constructor(
    code: SdkErrorCode,
    message: string,
    options: { status?: number; requestId?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MandateApiError';
    this.code = code;
    this.status = options.status ?? 0;
    this.requestId = options.requestId;
    this.details = options.details;
  }

  /** True when the same request may succeed later (the server was busy or unreachable). */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** Type guard that also works across copies of the SDK (duck-typed on name and code). */
export function isMandateApiError(err: unknown): err is MandateApiError {
  return (
    err instanceof MandateApiError ||
    (err instanceof Error &&
      err.name === 'MandateApiError' &&
      typeof (err as { code?: unknown }).code === 'string')
  );
}
