import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Decision } from '@mandate/protocol';
import { recordOwnOutcome, recordedResource } from '../decisions/index.js';
import { describe } from './results.js';
import type { SessionScope } from './scope.js';

/** Records what a forwarded request did, for one session. */
export interface OutcomeRecorder {
  /** `action`: the action `d` decided (the tool's, or the governed request's). */
  ran(
    d: Decision,
    action: string,
    status: 'ok' | 'error',
    durationMs: number,
    errorType?: string,
  ): Promise<void>;
}

/**
 * EVIDENCE: the outcome of a request the gateway forwarded (or, allowed, could not forward) is the
 * gateway's to record, as `decision.outcome` — what ran next to what was allowed: a `tools/call`,
 * and a governed `resources/read`, `prompts/get` … alike. The agent cannot report it instead (the
 * outcome route refuses a gateway's decision), so a call that timed out or whose upstream crashed
 * is not later reported "ok". A failure to record is logged: the answer stands.
 */
export function createOutcomeRecorder(s: SessionScope): OutcomeRecorder {
  const { deps, logger } = s.ctx;
  return {
    async ran(d, action, status, durationMs, errorType) {
      // The session decided `d` for its own agent and user (the decision's record says the same).
      const decided = {
        decisionId: d.decisionId,
        agent: s.agent,
        user: s.onBehalfOf ?? undefined,
        action,
        resource: d.resource ? recordedResource(d.resource) : undefined,
      };
      try {
        await recordOwnOutcome(deps, s.caller, decided, {
          status,
          durationMs: Math.max(0, Math.min(86_400_000, durationMs)),
          ...(errorType ? { errorType } : {}),
        });
      } catch (err) {
        logger.warn('recording the outcome of a forwarded call failed', {
          decisionId: d.decisionId,
          error: describe(err),
        });
      }
    },
  };
}

/** A code-like name for why a forwarded call failed (never a message: it goes into the audit trail). */
export function failureType(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'cancelled';
  if (!(err instanceof McpError)) return 'send_failed';
  if (err.code === ErrorCode.RequestTimeout) return 'timeout';
  if (err.code === ErrorCode.ConnectionClosed) return 'connection_closed';
  return `upstream_error:${err.code}`;
}
