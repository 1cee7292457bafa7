import { ApiError } from './api.js';
import { fill, h, type Child } from './dom.js';

/** A refusal or failure, shown where it happened, with the server's code (never swallowed). */
export function errorBox(err: unknown): HTMLElement {
  if (err instanceof ApiError)
    return h(
      'div',
      { class: 'error', role: 'alert' },
      // 401/403/409/422: the server said no to this person or this request; anything else failed.
      h('strong', {}, `${[401, 403, 409, 422].includes(err.status) ? 'Refused' : 'Failed'} (${err.code})`),
      ': ',
      err.message,
      err.requestId ? h('span', { class: 'muted' }, ` · request ${err.requestId}`) : null,
    );
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, 'Error'),
    ': ',
    String((err as Error)?.message ?? err),
  );
}

export function notice(text: string): HTMLElement {
  return h('p', { class: 'notice', role: 'status' }, text);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** "in 23 h 5 min" / "expired". */
export function timeLeft(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (!(ms > 0)) return 'expired';
  const min = Math.floor(ms / 60_000);
  if (min < 1) return 'under a minute';
  const hours = Math.floor(min / 60);
  return hours > 0 ? `${hours} h ${min % 60} min` : `${min} min`;
}

export function effectBadge(effect: string | null | undefined): HTMLElement {
  const e = effect ?? 'unknown';
  const label = e === 'approval_required' ? 'approval required' : e;
  return h('span', { class: `badge badge-${e}` }, label);
}

/** Flattens nested args into dotted keys, so an approver reads every value in one table. */
export function flatten(value: unknown, prefix = ''): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      out.push(...flatten(v, prefix ? `${prefix}.${k}` : k));
    if (out.length === 0 && prefix) out.push([prefix, '{}']);
    return out;
  }
  return [[prefix || '(value)', typeof value === 'string' ? value : JSON.stringify(value)]];
}

export function argsTable(args: unknown): HTMLElement {
  const rows = flatten(args ?? {});
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No arguments.');
  return h(
    'table',
    { class: 'args' },
    h('caption', { class: 'visually-hidden' }, 'Arguments'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Argument'), h('th', { scope: 'col' }, 'Value'))),
    h(
      'tbody',
      {},
      rows.map(([k, v]) =>
        h('tr', {}, h('th', { scope: 'row' }, h('code', {}, k)), h('td', {}, h('code', {}, v))),
      ),
    ),
  );
}

/** Runs an async render, replacing `target` with a loading line, then the result or the error. */
export async function load(target: HTMLElement, render: () => Promise<Child>): Promise<void> {
  target.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    fill(target, await render());
  } catch (err) {
    target.replaceChildren(errorBox(err));
  }
}
