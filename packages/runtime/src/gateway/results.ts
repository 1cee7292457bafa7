import type { Decision } from '@mandate/protocol';
import { isMandateError } from '../kernel/index.js';

export const META_DECISION = 'mandate/decisionId';
export const META_APPROVAL = 'mandate/approvalId';

/** A `tools/call` result that tells the model why nothing ran, with the decisionId when there is one. */
export function errorResult(
  text: string,
  decisionId: string | null,
  extraMeta: Record<string, unknown> = {},
) {
  return {
    content: [{ type: 'text', text: decisionId ? `${text} (decision ${decisionId})` : text }],
    isError: true,
    _meta: { ...(decisionId ? { [META_DECISION]: decisionId } : {}), ...extraMeta },
  };
}

export function reasonText(d: Decision): string {
  // One forbid that denies both the agent and its user is one reason to the model, not two.
  const parts = new Set([
    ...d.reasons.map((r) => (r.reason ? `${r.policyId}: ${r.reason}` : r.policyId)),
    ...d.errors.map((e) => `${e.code}: ${e.message}`),
  ]);
  return parts.size ? [...parts].join('; ') : 'no policy permits this call';
}

/** An error as a client may see it: a Mandate error's code and message, never internals. */
/** The decision id a refused request was recorded under (invalid args, wrong agent), if any. */
export function refusalId(err: unknown): string | null {
  return isMandateError(err) ? (err.decisionId ?? null) : null;
}

export function describe(err: unknown): string {
  if (isMandateError(err)) return `${err.code}: ${err.message}`;
  return 'internal error';
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Adds the decisionId to a forwarded result's `_meta`. */
export function withDecisionId(r: Record<string, unknown>, decisionId: string): Record<string, unknown> {
  // SECURITY: `mandate/` keys are Mandate's word to the client; an upstream does not get to plant
  // one (an approval id the client would then send back, a decision id of its choosing).
  const meta: Record<string, unknown> = {};
  if (r._meta && typeof r._meta === 'object')
    for (const [k, v] of Object.entries(r._meta)) if (!k.startsWith('mandate/')) meta[k] = v;
  meta[META_DECISION] = decisionId;
  return { ...r, _meta: meta };
}

/**
 * How a call's progress reaches its client: re-keyed to the progress token the client gave in
 * `_meta`, or nowhere (null) when it gave none.
 */
export function progressSender(
  params: Record<string, unknown>,
  send: (n: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void>,
): ((progress: Record<string, unknown>) => Promise<void>) | null {
  const token = (params._meta as Record<string, unknown> | undefined)?.progressToken;
  if (token === undefined) return null;
  return (p) => send({ method: 'notifications/progress', params: { ...p, progressToken: token } });
}
