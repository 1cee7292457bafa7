import type { ErrorCode } from '@mandate/protocol';

/**
 * The one error class of the runtime. Transports map `code` to their wire form in one table
 * (see `http/errors.ts`); `message` is safe to show callers, `cause` never leaves the process.
 */
export class MandateError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  /** Set when the refusal was recorded under a decision id (the decision path's refused requests). */
  readonly decisionId: string | undefined;
  /**
   * The reason to record in the hashed, unerasable audit trail when it must say less than the
   * message the caller gets (no value, no key name taken from the request): see `recordedReason`.
   */
  readonly recorded: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: unknown; decisionId?: string; recorded?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MandateError';
    this.code = code;
    this.details = options.details;
    this.decisionId = options.decisionId;
    this.recorded = options.recorded;
  }
}

export function isMandateError(err: unknown): err is MandateError {
  return err instanceof MandateError;
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new MandateError('internal', `unexpected ${what}: ${String(value)}`);
}
