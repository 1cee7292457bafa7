import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Decision } from '@mandate/protocol';
import { isMandateError, setOwn } from '../kernel/index.js';

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

/**
 * An upstream's object (a result's `_meta`, an error's `data`) without `mandate/` keys.
 * SECURITY: `mandate/` keys are Mandate's word to the client; an upstream does not get to plant
 * one (an approval id the client would then send back, a decision id of its choosing).
 */
export function withoutMandateKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // setOwn: an upstream's `__proto__` key stays data (an assignment would make it out's prototype).
  for (const [k, v] of Object.entries(o)) if (!k.startsWith('mandate/')) setOwn(out, k, v);
  return out;
}

/** A forwarded result as the client may see it: its `_meta` without `mandate/` keys. */
export function upstreamResult(r: Record<string, unknown>): Record<string, unknown> {
  return isRecord(r._meta) ? { ...r, _meta: withoutMandateKeys(r._meta) } : r;
}

/**
 * An upstream's JSON-RPC error as the client may see it: the same code and message, its `data`
 * without `mandate/` keys, plus Mandate's own `extra` keys. Anything else is returned as it is.
 */
export function upstreamError(err: unknown, extra: Record<string, unknown> = {}): unknown {
  if (!(err instanceof McpError)) return err;
  const data = isRecord(err.data)
    ? { ...withoutMandateKeys(err.data), ...extra }
    : Object.keys(extra).length > 0
      ? extra
      : err.data;
  const out = new McpError(err.code, '', data);
  out.message = err.message; // as the upstream's error read (the SDK prefixes a new one's)
  return out;
}

/** Adds the decisionId to a forwarded result's `_meta`. */
export function withDecisionId(r: Record<string, unknown>, decisionId: string): Record<string, unknown> {
  return {
    ...r,
    _meta: { ...(isRecord(r._meta) ? withoutMandateKeys(r._meta) : {}), [META_DECISION]: decisionId },
  };
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
  // SECURITY: the upstream's `_meta` without `mandate/` keys, as for results and errors: a progress
  // notification carrying `mandate/decisionId` reached the client before the real answer (a probe).
  return (p) => {
    const { _meta: meta, ...rest } = p;
    const clean = isRecord(meta) ? { _meta: withoutMandateKeys(meta) } : {};
    return send({ method: 'notifications/progress', params: { ...rest, ...clean, progressToken: token } });
  };
}
