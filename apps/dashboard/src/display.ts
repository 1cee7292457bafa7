/**
 * What a person reads must be what runs (docs/consent.md, "What approvers see"). An agent controls
 * the strings an approver sees — args, ids, summaries, tool definitions — and the browser does not
 * show them as they are: a newline collapses to a space, U+202E reverses text, zero-width and tag
 * characters are not drawn at all. Everything the dashboard shows of them goes through
 * {@link escapeForDisplay}: hidden characters become visible `\uXXXX` escapes and the text is
 * flagged.
 *
 * `escapeForDisplay` is the runtime's (packages/runtime/src/kernel/display.ts), copied as it is:
 * `@mandate/runtime` exports only its Node entry point, which cannot be bundled for a browser,
 * and the dashboard never reaches into another package's `src/`. The test
 * `packages/runtime/test/dashboard/display-parity.test.ts` runs both over every code point (and
 * the emoji contexts) and fails on any difference, so the CLI, the webhook's `display` and this
 * screen escape and flag the same characters.
 */

/** Why a character was escaped. */
export type HiddenKind = 'control' | 'bidi' | 'invisible' | 'invalid';

/** A string made safe to show to a person. */
export interface DisplayText {
  /** The text with every hidden character written as `\uXXXX` (or `\u{XXXXX}`). */
  text: string;
  /** The kinds of hidden characters found, in a fixed order; empty when the text was shown as is. */
  hidden: HiddenKind[];
}

/** The marker put in front of a flagged text (the runtime's, word for word). */
export const HIDDEN_MARKER = '⚠ hidden characters';

const KIND_ORDER: readonly HiddenKind[] = ['control', 'bidi', 'invisible', 'invalid'];

// --- copied from packages/runtime/src/kernel/display.ts (keep identical; the parity test checks) ---

/* eslint-disable no-control-regex, no-misleading-character-class */
const MAYBE_HIDDEN =
  /[\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uD800-\uDFFF\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]/;
/* eslint-enable no-control-regex, no-misleading-character-class */

function classify(cp: number): HiddenKind | null {
  if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) return 'control';
  if (
    cp === 0x061c ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069)
  )
    return 'bidi';
  if (
    cp === 0x00ad ||
    cp === 0x034f ||
    cp === 0x115f ||
    cp === 0x1160 ||
    cp === 0x17b4 ||
    cp === 0x17b5 ||
    (cp >= 0x180b && cp <= 0x180f) ||
    (cp >= 0x200b && cp <= 0x200d) ||
    (cp >= 0x2060 && cp <= 0x2065) ||
    (cp >= 0x206a && cp <= 0x206f) ||
    cp === 0x3164 ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    cp === 0xfeff ||
    cp === 0xffa0 ||
    (cp >= 0xfff0 && cp <= 0xfffb) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    (cp >= 0xe0000 && cp <= 0xe007f) ||
    (cp >= 0xe0100 && cp <= 0xe01ef)
  )
    return 'invisible';
  if (cp >= 0xd800 && cp <= 0xdfff) return 'invalid';
  return null;
}

const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;
const isPictographic = (cp: number) => PICTOGRAPHIC.test(String.fromCodePoint(cp));
const isSkinTone = (cp: number) => cp >= 0x1f3fb && cp <= 0x1f3ff;

function isEmojiPart(cp: number, prev: number | undefined, next: number | undefined): boolean {
  if (cp === 0xfe0e || cp === 0xfe0f) return prev !== undefined && classify(prev) === null;
  if (cp === 0x200d) {
    return (
      prev !== undefined &&
      next !== undefined &&
      (isPictographic(prev) || prev === 0xfe0f || isSkinTone(prev)) &&
      isPictographic(next)
    );
  }
  return false;
}

function escapeCodePoint(cp: number): string {
  const hex = cp.toString(16).toUpperCase();
  return cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}

/**
 * Escapes control, bidi-override/isolate, invisible/zero-width, tag and variation-selector
 * characters and lone surrogates as `\uXXXX` / `\u{XXXXX}`, and reports which kinds it found.
 * Ordinary text in any script ("Zürich", "東京", emoji) is returned unchanged.
 */
export function escapeForDisplay(value: string): DisplayText {
  if (!MAYBE_HIDDEN.test(value)) {
    return { text: value, hidden: [] };
  }
  const cps: number[] = [];
  for (const ch of value) cps.push(ch.codePointAt(0)!);
  const found = new Set<HiddenKind>();
  let out = '';
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    const kind = classify(cp);
    if (kind === null || isEmojiPart(cp, cps[i - 1], cps[i + 1])) {
      out += String.fromCodePoint(cp);
    } else {
      found.add(kind);
      out += escapeCodePoint(cp);
    }
  }
  return { text: out, hidden: KIND_ORDER.filter((k) => found.has(k)) };
}

// --- end of the copy ---

/** The kinds of all `lists`, in the fixed order. */
export function mergeKinds(...lists: readonly HiddenKind[][]): HiddenKind[] {
  const found = new Set(lists.flat());
  return KIND_ORDER.filter((k) => found.has(k));
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
  const m = /^⚠ hidden characters \(([a-z, ]+)\): /.exec(text);
  if (!m) return [];
  const named = m[1]!.split(', ');
  return KIND_ORDER.filter((k) => named.includes(k));
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
}

/**
 * A key shown as it is only when it cannot be misread: letters, digits, `_`, `-`, `$` and nothing
 * hidden. Anything else — a `.` (`"payee.iban"` next to `payee` › `iban`), brackets, quotes,
 * spaces, the empty key — is JSON-quoted, with hidden characters escaped inside the quotes.
 */
const PLAIN_KEY = /^[\p{L}\p{N}_$-]+$/u;

function keySegment(key: string): DisplayText {
  const raw = escapeForDisplay(key);
  if (raw.hidden.length === 0 && PLAIN_KEY.test(key)) return raw;
  // JSON.stringify writes quotes, backslashes and C0 as escapes; the rest is escaped for display.
  return { text: escapeForDisplay(JSON.stringify(key)).text, hidden: raw.hidden };
}

/** Deeper than this the rest of a value is shown as one JSON row (args come from JSON: no cycles). */
const MAX_DEPTH = 32;

/**
 * Flattens args into one row per leaf, so an approver reads every value in one table. Object keys
 * join with `.` (quoted when they could be misread, see {@link PLAIN_KEY}), array items are
 * `[0]`, `[1]`…; strings are escaped and flagged like every other agent-controlled text.
 */
export function argRows(args: unknown): ArgRow[] {
  const out: ArgRow[] = [];
  const leaf = (
    path: string,
    pathHidden: HiddenKind[],
    value: string,
    kinds: HiddenKind[],
    redacted = false,
  ) => out.push({ path: path || '(value)', value, hidden: mergeKinds(pathHidden, kinds), redacted });
  const walk = (v: unknown, path: string, pathHidden: HiddenKind[], depth: number): void => {
    if (typeof v === 'string') {
      const d = escapeForDisplay(v);
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
