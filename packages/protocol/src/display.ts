/**
 * What a person reads must be what runs (issue 8 §5). An agent controls the strings an approver
 * sees — args, summaries, ids, intents — and a terminal or a browser does not show them as they
 * are: `\r` and ESC sequences erase or rewrite the line, U+202E reverses it, zero-width and tag
 * characters hide text altogether. Every human-facing rendering (CLI, webhook payloads, the
 * dashboard) goes through this module: hidden characters are written as visible escapes
 * (`\u202E`) and the text is flagged.
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

/** The marker put in front of a flagged text. */
export const HIDDEN_MARKER = '⚠ hidden characters';

const KIND_ORDER: readonly HiddenKind[] = ['control', 'bidi', 'invisible', 'invalid'];

/**
 * A cheap test for "anything to do": a superset of what {@link classify} flags (the emoji
 * exceptions are decided per character; without the `u` flag the surrogate range matches every
 * astral character, so tags and supplementary selectors take the slow path too).
 */
// The ranges are the point here: controls, combining joiners and selectors are what is looked for.
/* eslint-disable no-control-regex, no-misleading-character-class */
const MAYBE_HIDDEN =
  /[\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uD800-\uDFFF\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]/;

/**
 * Everything {@link classify} flags but newline and tab (the layout of lines, tables and
 * pretty-printed JSON), per code point (a lone surrogate on its own).
 */
const HIDDEN_ON_TERMINAL =
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u2028-\u202E\u2060-\u2065\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}]|\p{Cs}/gu;
/* eslint-enable no-control-regex, no-misleading-character-class */

/** The hidden kind of one code point, or null for an ordinary, visible one. */
function classify(cp: number): HiddenKind | null {
  // C0, DEL and C1 controls (C1 U+009B is a one-byte CSI to some terminals); line and paragraph
  // separators break lines like a newline does.
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
    (cp >= 0x1bca0 && cp <= 0x1bca3) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    // Tags, variation selectors 17–256 and the unassigned code points Unicode reserves as default
    // ignorable: the whole block, since a browser draws none of it (a probe hid text in E0080–E0FFF).
    (cp >= 0xe0000 && cp <= 0xe0fff)
  )
    return 'invisible';
  // A lone surrogate (possible in a JS string, never in valid UTF-8 input).
  if (cp >= 0xd800 && cp <= 0xdfff) return 'invalid';
  return null;
}

const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;
const isPictographic = (cp: number) => PICTOGRAPHIC.test(String.fromCodePoint(cp));
const isSkinTone = (cp: number) => cp >= 0x1f3fb && cp <= 0x1f3ff;

/** `#`, `*` and the digits: with U+FE0F and U+20E3 after them, a keycap (1️⃣). */
const isKeycapBase = (cp: number) => cp === 0x23 || cp === 0x2a || (cp >= 0x30 && cp <= 0x39);

/**
 * Emoji sequences use two otherwise invisible characters: U+FE0F/U+FE0E (emoji/text presentation)
 * right after a character that has an emoji form (a pictograph, or a keycap base followed by
 * U+20E3), and U+200D (zero-width joiner) between two pictographs (👨‍👩‍👧). Those positions show
 * nothing hidden and stay as they are. SECURITY: after any other character a selector changes
 * nothing that is drawn — "DE89\uFE0F3704" looked exactly like "DE893704" — so it is flagged.
 */
function isEmojiPart(cp: number, prev: number | undefined, next: number | undefined): boolean {
  if (cp === 0xfe0e || cp === 0xfe0f)
    return prev !== undefined && (isPictographic(prev) || (isKeycapBase(prev) && next === 0x20e3));
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

/** The code point that ends just before `offset` (a surrogate pair read as one). */
function codePointBefore(text: string, offset: number): number | undefined {
  if (offset === 0) return undefined;
  const low = text.charCodeAt(offset - 1);
  if (low >= 0xdc00 && low <= 0xdfff && offset >= 2) {
    const high = text.charCodeAt(offset - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.codePointAt(offset - 2);
  }
  return low;
}

function escapeCodePoint(cp: number): string {
  const hex = cp.toString(16).toUpperCase();
  return cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}

/**
 * Escapes control, bidi-override/isolate, invisible/zero-width, tag and variation-selector
 * characters and lone surrogates as `\uXXXX` / `\u{XXXXX}`, and reports which kinds it found.
 * Ordinary text in any script ("Zürich", "東京", emoji) is returned unchanged. Idempotent on its
 * own output (which holds no hidden characters).
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

/**
 * One line for a person: the escaped text, prefixed with `⚠ hidden characters (bidi): ` when
 * anything was escaped, so a rewritten-looking value can never pass for an ordinary one.
 */
export function displayLine(value: string): string {
  return flagged(escapeForDisplay(value));
}

/** An escaped text with the `⚠ hidden characters (…): ` marker in front when anything was escaped. */
export function flagged(d: DisplayText): string {
  return d.hidden.length === 0 ? d.text : `${HIDDEN_MARKER} (${d.hidden.join(', ')}): ${d.text}`;
}

/**
 * A JSON value for a person: its compact JSON text with hidden characters escaped (a valid JSON
 * text of the same value, see {@link escapeForTerminal}), and the kinds found in any of its
 * strings, keys included. `JSON.stringify` alone would write `\r` as the visible `\\r` but leave
 * U+202E raw, and flag nothing.
 */
export function displayJson(value: unknown): DisplayText {
  const found = new Set<HiddenKind>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > 256) return;
    if (typeof v === 'string') {
      for (const k of escapeForDisplay(v).hidden) found.add(k);
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        visit(k, depth + 1);
        visit(x, depth + 1);
      }
    }
  };
  visit(value, 0);
  const text = escapeForTerminal(JSON.stringify(value) ?? 'null');
  return { text, hidden: KIND_ORDER.filter((k) => found.has(k)) };
}

/**
 * Text for a terminal: every hidden character but newline and tab written as a JSON-style
 * `\uXXXX` escape (a supplementary one as its surrogate pair). Applied to a JSON text it gives the
 * same JSON value (hidden characters can only sit inside its strings; `JSON.stringify` escapes C0
 * there but leaves DEL, C1, bidi and invisible ones raw), so it suits `--json` output as well as
 * plain lines. It does not flag: a line a person must judge goes through {@link displayLine}.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(HIDDEN_ON_TERMINAL, (ch: string, offset: number) => {
    const cp = ch.codePointAt(0)!;
    if (
      (cp === 0xfe0e || cp === 0xfe0f || cp === 0x200d) &&
      isEmojiPart(cp, codePointBefore(text, offset), text.codePointAt(offset + ch.length))
    )
      return ch;
    let out = '';
    for (let i = 0; i < ch.length; i++)
      out += `\\u${ch.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
    return out;
  });
}
