import { ApiError } from './api.js';
import {
  argRows,
  type ArgRow,
  escapeForDisplay,
  escapeLine,
  hiddenLabel,
  mergeKinds,
  type HiddenKind,
} from './display.js';
import { button, fill, h, type Child } from './dom.js';

/** A refusal or failure, shown where it happened, with the server's code (never swallowed). */
export function errorBox(err: unknown): HTMLElement {
  if (err instanceof ApiError)
    return h(
      'div',
      { class: 'error', role: 'alert' },
      // 401/403/409/422: the server said no to this person or this request; anything else failed.
      h('strong', {}, `${[401, 403, 409, 422].includes(err.status) ? 'Refused' : 'Failed'} (${err.code})`),
      ': ',
      // The server's message may quote what the address bar held (`no approval <id>`): escaped.
      shown(err.message),
      err.requestId ? h('span', { class: 'muted' }, ` · request ${err.requestId}`) : null,
    );
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, 'Error'),
    ': ',
    shown(String((err as Error)?.message ?? err)),
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

/**
 * Where hidden characters were found while a view was drawn, so the view can warn once at its top
 * as well as on each flagged field.
 */
export interface Findings {
  hidden: Set<HiddenKind>;
  /** The names of the fields that held them ("Arguments", "Agent", …), in order found. */
  where: Set<string>;
}

export function findings(): Findings {
  return { hidden: new Set(), where: new Set() };
}

function note(f: Findings | undefined, where: string, kinds: readonly HiddenKind[]): void {
  if (!f || kinds.length === 0) return;
  for (const k of kinds) f.hidden.add(k);
  f.where.add(where);
}

/** The ⚠ flag in front of a text that held hidden characters (words, not colour alone). */
function flag(kinds: readonly HiddenKind[]): HTMLElement {
  return h('strong', { class: 'hidden-flag' }, `${hiddenLabel(kinds)}:`);
}

/**
 * An agent-controlled text as a person must read it: hidden characters escaped (`\u202E`),
 * newlines and controls visible, and a `⚠ hidden characters (…)` flag in front when anything was.
 * `where` names the field in the view's warning. Null, undefined and '' show as `empty`.
 */
export function shown(
  value: string | null | undefined,
  f?: Findings,
  where = 'a field',
  empty = '—',
): HTMLElement | string {
  if (value === null || value === undefined || value === '') return empty;
  const d = escapeForDisplay(String(value));
  note(f, where, d.hidden);
  if (d.hidden.length === 0) return h('span', { class: 'shown' }, d.text);
  return h('span', { class: 'shown has-hidden' }, flag(d.hidden), ' ', d.text);
}

/**
 * The view's warning, when anything it shows held hidden characters: escaped values can read like
 * ordinary ones at a glance, and the call runs with the original characters.
 */
export function hiddenAlert(f: Findings): HTMLElement | null {
  if (f.hidden.size === 0) return null;
  const kinds = mergeKinds([...f.hidden]);
  return h(
    'div',
    { class: 'hidden-alert', role: 'alert' },
    h('strong', {}, `${hiddenLabel(kinds)} in ${[...f.where].join(', ')}.`),
    ' Text that would be invisible, reordered or run together, and look-alikes (punctuation or blanks ' +
      'drawn like ASCII ones, Cyrillic or Greek letters inside a Latin word, text not in Unicode NFC), ' +
      'are shown as \\u… escapes and marked ⚠; what runs is the original text, those characters included.',
  );
}

/** Values longer than this show their start and say how much more there is (never cut silently). */
const LONG_VALUE = 1000;

function valueCell(text: string): HTMLElement {
  const code = h('code', { class: 'value' }, text);
  if (text.length <= LONG_VALUE) return code;
  // Never between the two halves of a surrogate pair (it would draw as a replacement character).
  const high = text.charCodeAt(LONG_VALUE - 1);
  const cut = high >= 0xd800 && high <= 0xdbff ? LONG_VALUE - 1 : LONG_VALUE;
  code.textContent = text.slice(0, cut);
  const rest = text.length - cut;
  const more: HTMLElement = h(
    'span',
    { class: 'more' },
    ` … ${rest.toLocaleString('en')} more characters not shown (${text.length.toLocaleString('en')} in all). `,
    button(`Show all ${text.length.toLocaleString('en')} characters`, () => {
      code.textContent = text;
      more.remove();
    }),
  );
  return h('span', {}, code, more);
}

export interface ArgsOptions {
  /** Collects hidden characters for the view's warning. */
  findings?: Findings;
  /** What the redaction notice says the reader is doing ("you are approving it unseen"). */
  redactionNote?: string;
  /**
   * The values were erased with the user's personal data ({@link isErasedApproval}), and what the
   * notice says then.
   */
  erased?: { note: string };
}

/** The notice above the table naming the arguments the reader cannot see, and why. */
function unseenNotice(note: string, label: string, paths: string[]): HTMLElement | null {
  if (paths.length === 0) return null;
  return h(
    'p',
    { class: 'redaction', role: 'note' },
    h('strong', {}, `⚠ ${note}`),
    ` ${label}: `,
    paths.map((p, i) => [i ? ', ' : '', h('code', {}, p)]),
    '.',
  );
}

/**
 * The args as a table an approver can trust: one row per leaf with an unambiguous path
 * (`payee.iban` is never confused with a key `"payee.iban"`), every key and value escaped and
 * flagged, long values said to be long, and a plain notice when redaction hides a value.
 */
export function argsTable(args: unknown, opts: ArgsOptions = {}): HTMLElement {
  const rows = argRows(args ?? {}, { erased: opts.erased !== undefined });
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No arguments.');
  for (const r of rows) note(opts.findings, 'Arguments', r.hidden);
  const paths = (of: (r: ArgRow) => boolean | undefined) => rows.filter(of).map((r) => r.path);
  return h(
    'div',
    { class: 'args-view' },
    unseenNotice(
      opts.redactionNote ?? 'A value the agent supplied is hidden by redaction.',
      'Redacted',
      paths((r) => r.redacted),
    ),
    unseenNotice(
      opts.erased?.note ?? '',
      'Erased',
      paths((r) => r.erased),
    ),
    h(
      'table',
      { class: 'args' },
      h('caption', { class: 'visually-hidden' }, 'Arguments'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Argument'), h('th', { scope: 'col' }, 'Value'))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            {
              class:
                [r.hidden.length ? 'has-hidden' : '', r.redacted || r.erased ? 'redacted' : '']
                  .join(' ')
                  .trim() || null,
              'data-hidden': r.hidden.length ? r.hidden.join(',') : null,
            },
            h('th', { scope: 'row' }, h('code', { class: 'key' }, r.path)),
            h(
              'td',
              {},
              r.hidden.length ? [flag(r.hidden), ' '] : null,
              r.erased
                ? h('span', { class: 'redaction-tag' }, '(hidden: erased with the user’s personal data)')
                : valueCell(r.value),
              r.redacted ? h('span', { class: 'redaction-tag' }, ' (hidden by redaction)') : null,
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * Pretty-printed JSON (a tool definition) as a person must read it: each line escaped; when any
 * line held hidden characters, a warning above and a `⚠` gutter marking those lines (their kinds
 * at the end of the line).
 */
export function jsonBlock(value: unknown): HTMLElement {
  const lines = JSON.stringify(value ?? {}, null, 2)
    .split('\n')
    .map(escapeLine);
  const flagged = lines.filter((l) => l.hidden.length).length;
  const kinds = mergeKinds(...lines.map((l) => l.hidden));
  const pre = h(
    'pre',
    { class: 'json', tabindex: '0' },
    lines.map((l) =>
      flagged === 0
        ? `${l.text}\n`
        : l.hidden.length
          ? h('span', { class: 'has-hidden' }, `⚠ ${l.text}  ← ${hiddenLabel(l.hidden)}\n`)
          : `  ${l.text}\n`,
    ),
  );
  if (flagged === 0) return pre;
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'hidden-alert', role: 'alert' },
      h('strong', {}, hiddenLabel(kinds)),
      ` on ${flagged} line${flagged === 1 ? '' : 's'} (marked ⚠), shown as \\u… escapes.`,
    ),
    pre,
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
