/**
 * What a person reads must be what runs (docs/consent.md, "What approvers see"). An agent controls
 * the strings an approver sees — args, ids, summaries, tool definitions — and the browser does not
 * show them as they are: a newline collapses to a space, U+202E reverses text, zero-width and tag
 * characters are not drawn at all, and a Cyrillic `о` or a U+2215 DIVISION SLASH is drawn as the
 * ASCII letter or sign it is not. Everything the dashboard shows of them goes through
 * {@link escapeForDisplay}: hidden characters become visible `\uXXXX` escapes and the text is
 * flagged. It is the one function the CLI and the approval webhook's `display` use too
 * (`@mandate/protocol/display`, which imports nothing and so bundles for the browser as it is).
 */
import {
  HIDDEN_KINDS,
  HIDDEN_MARKER,
  escapeForDisplay,
  type DisplayText,
  type HiddenKind,
} from '@mandate/protocol/display';

export { HIDDEN_MARKER, escapeForDisplay };
export type { DisplayText, HiddenKind };

/** The kinds of all `lists`, in the fixed order (every kind the shared escaping knows, new ones included). */
export function mergeKinds(...lists: readonly HiddenKind[][]): HiddenKind[] {
  const found = new Set(lists.flat());
  return HIDDEN_KINDS.filter((k) => found.has(k));
}

/** `⚠ hidden characters (bidi, invisible)`. */
export function hiddenLabel(kinds: readonly HiddenKind[]): string {
  return `${HIDDEN_MARKER} (${kinds.join(', ')})`;
}

/**
 * The kinds a text flagged by the server says it held: a summary rendered by this version starts
 * with `⚠ hidden characters (…): ` already (its escapes are visible text, so escaping it again
 * finds nothing).
 */
export function flaggedKinds(text: string): HiddenKind[] {
  // `mixed-script` holds a hyphen: a pattern of letters only missed the look-alike kinds.
  const m = /^⚠ hidden characters \(([a-z, -]+)\): /.exec(text);
  if (!m) return [];
  const named = m[1]!.split(', ');
  return HIDDEN_KINDS.filter((k) => named.includes(k));
}

/**
 * A line of text for a person where a tab is layout (policy sources, pretty-printed JSON): tabs
 * stay, everything else hidden is escaped. Splitting at the tab changes nothing else: a tab is
 * neither a visible character an emoji selector could follow nor a pictograph.
 */
export function escapeLine(line: string): DisplayText {
  const parts = line.split('\t').map(escapeForDisplay);
  return { text: parts.map((p) => p.text).join('\t'), hidden: mergeKinds(...parts.map((p) => p.hidden)) };
}

/** What the audit redaction puts in place of a value (`[REDACTED]`, `[REDACTED:secret]`). */
const REDACTION = /\[REDACTED(?::[A-Za-z0-9_-]+)?\]/;

/**
 * What erasing a user's personal data leaves of an approval of a call made for them (the runtime's
 * `audit/personal.ts`): this summary, and the word `erased` as each argument's value. The call it
 * is bound to (the args digest) is unchanged: approving it still lets the original values run.
 */
export const ERASED_SUMMARY = '[erased]';
const ERASED_VALUE = 'erased';

/**
 * Whether an approval's summary and args are what an erasure left: its values are gone, not the
 * text `erased`. (An agent that makes its own call read so only earns its approver a warning.)
 */
export function isErasedApproval(a: { summary?: unknown; args?: unknown }): boolean {
  if (a.summary !== ERASED_SUMMARY || typeof a.args !== 'object' || a.args === null) return false;
  return Object.values(a.args).every((v) => v === ERASED_VALUE);
}

/** One row of the arguments table: a leaf of the args, its unambiguous path and its shown value. */
export interface ArgRow {
  /** The path from the top, segments escaped; a key that could be misread is JSON-quoted. */
  path: string;
  /** The shown value: a string's escaped text, anything else its JSON. */
  value: string;
  /** The kinds of hidden characters in the path and the value. */
  hidden: HiddenKind[];
  /** The value holds a redaction marker: the agent supplied something the approver cannot see. */
  redacted: boolean;
  /** The value was erased with its user's personal data (`value` is empty): not seen either. */
  erased?: true;
}

/**
 * A key shown as it is only when it cannot be misread: ASCII letters, digits, `_`, `-`, `$` and
 * nothing hidden. Anything else — a `.` (`"payee.iban"` next to `payee` › `iban`), brackets,
 * quotes, spaces, the empty key, any other script (a Cyrillic `і` made `"іban"` read as `iban`) —
 * is JSON-quoted, with hidden characters escaped inside the quotes.
 */
const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

function keySegment(key: string): DisplayText {
  const raw = escapeForDisplay(key);
  if (raw.hidden.length === 0 && PLAIN_KEY.test(key)) return raw;
  // JSON.stringify writes quotes, backslashes and C0 as escapes; the rest is escaped for display.
  return { text: escapeForDisplay(JSON.stringify(key)).text, hidden: raw.hidden };
}

/**
 * Whether a string, shown bare, would read as a JSON value of another type, as nothing at all, or
 * as a shorter string (whitespace at its ends).
 */
function readsAsOtherValue(v: string): boolean {
  // Blank, or with leading or trailing whitespace: "ACCT-1   " drawn bare was pixel-identical to
  // "ACCT-1" — two different calls (a probe).
  if (v.trim() !== v || v === '') return true;
  try {
    return typeof JSON.parse(v) !== 'string';
  } catch {
    return false;
  }
}

/** Deeper than this the rest of a value is shown as one JSON row (args come from JSON: no cycles). */
const MAX_DEPTH = 32;

/**
 * Flattens args into one row per leaf, so an approver reads every value in one table. Object keys
 * join with `.` (quoted when they could be misread, see {@link PLAIN_KEY}), array items are
 * `[0]`, `[1]`…; strings are escaped and flagged like every other agent-controlled text.
 */
export function argRows(args: unknown, opts: { erased?: boolean } = {}): ArgRow[] {
  const out: ArgRow[] = [];
  const leaf = (
    path: string,
    pathHidden: HiddenKind[],
    value: string,
    kinds: HiddenKind[],
    redacted = false,
  ) => out.push({ path: path || '(value)', value, hidden: mergeKinds(pathHidden, kinds), redacted });
  const walk = (v: unknown, path: string, pathHidden: HiddenKind[], depth: number): void => {
    // SECURITY: an erased value is not shown as the text `erased`: the call runs with the original.
    if (opts.erased && depth === 1 && v === ERASED_VALUE)
      return void out.push({ path, value: '', hidden: pathHidden, redacted: false, erased: true });
    if (typeof v === 'string') {
      // A string that would read as another JSON value (`"false"`, `"[]"`, `"null"`, `"12"`, `""`)
      // is shown quoted: a tool testing `if (args.force)` runs with force for the string "false".
      const d = escapeForDisplay(readsAsOtherValue(v) ? JSON.stringify(v) : v);
      return void leaf(path, pathHidden, d.text, d.hidden, REDACTION.test(v));
    }
    if (v === null || typeof v !== 'object')
      return void leaf(path, pathHidden, JSON.stringify(v) ?? 'null', []);
    if (depth >= MAX_DEPTH) {
      const d = escapeForDisplay(JSON.stringify(v));
      return void leaf(path, pathHidden, d.text, d.hidden, REDACTION.test(d.text));
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return void leaf(path, pathHidden, '[]', []);
      v.forEach((x, i) => walk(x, `${path}[${i}]`, pathHidden, depth + 1));
      return;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    // No arguments at all is no row (the table says so); an empty object inside is a `{}` row.
    if (entries.length === 0) return void (path && leaf(path, pathHidden, '{}', []));
    for (const [k, x] of entries) {
      const seg = keySegment(k);
      walk(x, path ? `${path}.${seg.text}` : seg.text, mergeKinds(pathHidden, seg.hidden), depth + 1);
    }
  };
  walk(args, '', [], 0);
  return out;
}
