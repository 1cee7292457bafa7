import { MandateApiError } from '../errors.js';
import type { GuardOptions } from '../guard/guard.js';

/** Shared across copies of the SDK: a wrapper made by any of them is recognised as guarded. */
const GUARDED = Symbol.for('mandate.guarded');

/**
 * What a wrapper decides with: the guard's options, and what the adapter adds per wrapper (the
 * action a tool name maps to, whether the framework's approval flow is used).
 */
export interface GuardMark {
  options: GuardOptions;
  extra?: Record<string, unknown>;
}

/** Marks `target` as guarded with `mark` (not enumerable: spreading a wrapper does not copy it). */
export function markGuarded<T extends object>(target: T, mark: GuardMark): T {
  Object.defineProperty(target, GUARDED, { value: mark, configurable: true });
  return target;
}

/**
 * Whether `target` is already guarded with the same options — then it is used as it is. Guarding
 * it again with other options throws.
 *
 * SECURITY: a wrapper keeps the options it was made with; returning it from a second guard with
 * other options (another user, agent or client) ran the calls as the first ones. Refused instead.
 */
export function alreadyGuarded(
  target: object,
  mark: GuardMark,
  what: string,
  instead = 'guard the original instead',
): boolean {
  const had = (target as { [GUARDED]?: unknown })[GUARDED];
  if (had === undefined) return false;
  const differs = isMark(had) ? differences(had, mark) : ['options'];
  if (differs.length === 0) return true;
  const first = isMark(had) ? ` as ${who(had.options)}` : ' (by another copy of the SDK)';
  throw new MandateApiError(
    'bad_request',
    `${what} is already guarded by Mandate${first} and keeps those options: it cannot be guarded ` +
      `again as ${who(mark.options)} (other ${differs.join(', ')}); ${instead}`,
  );
}

function isMark(v: unknown): v is GuardMark {
  return typeof v === 'object' && v !== null && typeof (v as GuardMark).options === 'object';
}

function who(o: GuardOptions): string {
  return `agent ${o.agent}${o.onBehalfOf ? ` on behalf of ${o.onBehalfOf}` : ''}`;
}

/** The options that differ; each is something a call is decided or reported with. */
function differences(a: GuardMark, b: GuardMark): string[] {
  const x = a.options;
  const y = b.options;
  const fields: [string, unknown, unknown][] = [
    ['client', x.client, y.client],
    ['agent', x.agent, y.agent],
    ['onBehalfOf', x.onBehalfOf ?? null, y.onBehalfOf ?? null],
    ['sessionId', x.sessionId, y.sessionId],
    ['traceId', x.traceId, y.traceId],
    ['approval.waitMs', x.approval?.waitMs ?? 0, y.approval?.waitMs ?? 0],
    ['approval.store', x.approval?.store, y.approval?.store],
    ['outcome', x.outcome ?? 'background', y.outcome ?? 'background'],
    ['onPending', x.onPending, y.onPending],
  ];
  const out = fields.filter(([, p, q]) => p !== q).map(([name]) => name);
  for (const k of new Set([...Object.keys(a.extra ?? {}), ...Object.keys(b.extra ?? {})])) {
    if (a.extra?.[k] !== b.extra?.[k]) out.push(k);
  }
  return out;
}
