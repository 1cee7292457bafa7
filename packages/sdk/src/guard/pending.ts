import { MandateApiError } from '../errors.js';

/**
 * What a pending call needs to be resumed later, even in another process after a restart. It is
 * not a credential: resuming re-submits the call with the approval id and the server checks that
 * the approval is granted, unused and bound to exactly this agent, user, action and args.
 */
export interface PendingCall {
  v: 1;
  action: string;
  agent: string;
  onBehalfOf: string | null;
  /** The args that were decided on (the server's canonical copy). */
  args: Record<string, unknown>;
  approvalId: string;
  /** The decision that asked for the approval. */
  decisionId: string;
  /** The framework's id of the tool call, when there is one. */
  toolCallId?: string;
}

const PREFIX = 'mandate-pending.v1.';

/** An opaque, URL-safe string to store wherever the app keeps paused runs. */
export function encodePending(call: PendingCall): string {
  return PREFIX + Buffer.from(JSON.stringify(call), 'utf8').toString('base64url');
}

/** Reads a token from {@link encodePending}; anything else is `bad_request`. */
export function decodePending(token: string): PendingCall {
  const bad = () => new MandateApiError('bad_request', 'not a Mandate pending-call token');
  if (typeof token !== 'string' || !token.startsWith(PREFIX) || token.length > 1_000_000) throw bad();
  let call: PendingCall;
  try {
    call = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8')) as PendingCall;
  } catch {
    throw bad();
  }
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (
    !call ||
    call.v !== 1 ||
    !str(call.action) ||
    !str(call.agent) ||
    !(call.onBehalfOf === null || str(call.onBehalfOf)) ||
    !str(call.approvalId) ||
    !str(call.decisionId) ||
    call.args === null ||
    typeof call.args !== 'object' ||
    Array.isArray(call.args) ||
    !(call.toolCallId === undefined || str(call.toolCallId))
  ) {
    throw bad();
  }
  return call;
}
