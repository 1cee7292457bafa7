/**
 * What a person reads must be what runs (issue 8 §5). An agent controls the strings an approver
 * sees — args, summaries, ids, intents — and a terminal or a browser does not show them as they
 * are: `\r` and ESC sequences erase or rewrite the line, U+202E reverses it, zero-width and tag
 * characters hide text altogether, and a Cyrillic `о`, a U+2215 DIVISION SLASH or a U+2800 BRAILLE
 * PATTERN BLANK reads as `o`, `/` or a space while the call runs with something else. Every
 * human-facing rendering (CLI, webhook payloads, the dashboard) goes through this module: such
 * characters are written as visible escapes (`\u202E`, `\u043E`) and the text is flagged.
 */

/**
 * Why a character was escaped: `control`, `bidi`, `invisible` and `invalid` are not drawn as what
 * they are; `lookalike` (punctuation or a blank that reads as ASCII), `mixed-script` (a letter of
 * another script or an unusual Latin one inside a word with ASCII letters, see {@link WORD}) and
 * `unnormalized` (text not in Unicode NFC) are drawn, but as something they are not.
 */
export type HiddenKind =
  'control' | 'bidi' | 'invisible' | 'invalid' | 'lookalike' | 'mixed-script' | 'unnormalized';

/** Every {@link HiddenKind}, in the fixed order `hidden` lists them. */
export const HIDDEN_KINDS: readonly HiddenKind[] = [
  'control',
  'bidi',
  'invisible',
  'invalid',
  'lookalike',
  'mixed-script',
  'unnormalized',
];

/** A string made safe to show to a person. */
export interface DisplayText {
  /** The text with every hidden character written as `\uXXXX` (or `\u{XXXXX}`). */
  text: string;
  /** The kinds of hidden characters found, in a fixed order; empty when the text was shown as is. */
  hidden: HiddenKind[];
}

/** The marker put in front of a flagged text. */
export const HIDDEN_MARKER = '⚠ hidden characters';

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

/**
 * Characters drawn like ASCII punctuation or a blank, in the places where that misleads: addresses,
 * URLs, paths, commands, amounts. `ceo@corp․example` (U+2024 ONE DOT LEADER) is not at `corp`,
 * `https://corp.example∕@evil.example` (U+2215 DIVISION SLASH) goes to `evil.example`, and
 * `alice\u00A0` is not `alice`. The set, by what each reads as:
 * - a space: U+00A0, U+1680, U+2000–U+200A, U+202F, U+205F, U+3000, and U+2800 BRAILLE PATTERN
 *   BLANK (drawn blank, not a space: a word with it reads as two);
 * - `.`: U+2024, U+2025, U+3002, U+FF61, U+0387, and the full stops of other scripts drawn as a
 *   dot: U+06D4 (Arabic), U+0701, U+0702 (Syriac), U+16EB (Runic);
 * - `/` and `\`: U+2044, U+2215, U+2216, U+2571, U+27CB, U+27CD, U+29F5, U+29F8, U+29F9, U+2E4A,
 *   U+1735 and U+1736 (Philippine single and double punctuation, `/` and `//`);
 * - `:`: U+02D0, U+2236, U+A789, U+205A, and the colons and colon-like stops of other scripts:
 *   U+0589 (Armenian full stop), U+05C3 (Hebrew sof pasuq), U+0703–U+0709 (Syriac), U+1361
 *   (Ethiopic wordspace), U+16EC (Runic), U+1804 (Mongolian); `;`: U+037E;
 *   `-`: U+02D7, U+2010–U+2012, U+2043, U+2212; `<` `>`: U+02C2, U+02C3, U+2039, U+203A;
 * - the fullwidth forms of ASCII punctuation (U+FF01–U+FF0F, U+FF1A–U+FF20, U+FF3B–U+FF40,
 *   U+FF5B–U+FF5E), and the vertical and small form variants (U+FE10–U+FE19, U+FE30–U+FE6B).
 * Typographic punctuation of ordinary prose — curly quotes, `…`, en and em dashes, `·` — and the
 * fullwidth letters and digits of CJK text are not in it.
 */
function isLookalike(cp: number): boolean {
  if (cp < 0xa0) return false;
  return (
    cp === 0x00a0 ||
    cp === 0x02c2 ||
    cp === 0x02c3 ||
    cp === 0x02d0 ||
    cp === 0x02d7 ||
    cp === 0x037e ||
    cp === 0x0387 ||
    cp === 0x0589 ||
    cp === 0x05c3 ||
    cp === 0x06d4 ||
    (cp >= 0x0701 && cp <= 0x0709) ||
    cp === 0x1361 ||
    cp === 0x1680 ||
    cp === 0x16eb ||
    cp === 0x16ec ||
    cp === 0x1735 ||
    cp === 0x1736 ||
    cp === 0x1804 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    (cp >= 0x2010 && cp <= 0x2012) ||
    cp === 0x2024 ||
    cp === 0x2025 ||
    cp === 0x2039 ||
    cp === 0x203a ||
    cp === 0x202f ||
    cp === 0x2043 ||
    cp === 0x2044 ||
    cp === 0x205a ||
    cp === 0x205f ||
    cp === 0x2212 ||
    cp === 0x2215 ||
    cp === 0x2216 ||
    cp === 0x2236 ||
    cp === 0x2571 ||
    cp === 0x27cb ||
    cp === 0x27cd ||
    cp === 0x2800 ||
    cp === 0x29f5 ||
    (cp >= 0x29f8 && cp <= 0x29f9) ||
    cp === 0x2e4a ||
    cp === 0x3000 ||
    cp === 0x3002 ||
    cp === 0xa789 ||
    (cp >= 0xfe10 && cp <= 0xfe19) ||
    (cp >= 0xfe30 && cp <= 0xfe6b) ||
    (cp >= 0xff01 && cp <= 0xff0f) ||
    (cp >= 0xff1a && cp <= 0xff20) ||
    (cp >= 0xff3b && cp <= 0xff40) ||
    (cp >= 0xff5b && cp <= 0xff5e) ||
    cp === 0xff61
  );
}

// The same set as a character class: a cheap test for "any look-alike at all" over a whole text.
const MAYBE_LOOKALIKE =
  /[\u00A0\u02C2\u02C3\u02D0\u02D7\u037E\u0387\u0589\u05C3\u06D4\u0701-\u0709\u1361\u1680\u16EB\u16EC\u1735\u1736\u1804\u2000-\u200A\u2010-\u2012\u2024\u2025\u2039\u203A\u202F\u2043\u2044\u205A\u205F\u2212\u2215\u2216\u2236\u2571\u27CB\u27CD\u2800\u29F5\u29F8\u29F9\u2E4A\u3000\u3002\uA789\uFE10-\uFE19\uFE30-\uFE6B\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF5E\uFF61]/;

/**
 * A word: a run of letters, marks and digits. Two rules flag letters in one (`mixed-script`):
 * - in a word with at least one ASCII letter, every letter outside ASCII and the Latin letters of
 *   U+00C0–U+024F (Latin-1 Supplement, Latin Extended-A and -B: `naïve`, `Straße`, `Ångström`,
 *   `łódź`, `ő`) is escaped: `c\u043Erp` (Cyrillic), `c\u0585rp` (Armenian), `\u1D04orp` (a
 *   small capital), `p\u0251ypal` (IPA alpha), a fullwidth `\uFF43orp`, Cherokee — whatever
 *   script, a letter that is not an ordinary Latin one has no business between ASCII letters;
 * - in a word without ASCII letters, one holding letters of two of Latin, Cyrillic and Greek has
 *   its Cyrillic and Greek letters escaped (`\u0441\u03BF`): they are drawn like Latin ones.
 * And a character of the Mathematical Alphanumeric Symbols block (U+1D400–U+1D7FF: `𝖼𝗈𝗋𝗉` is
 * ASCII restyled, never a script's text) is escaped wherever it is. A word in one script —
 * `Москва`, `Αθήνα`, `Երևան`, `corp` — is shown as it is; so is CJK with its fullwidth Latin. (A
 * whole word of Cyrillic letters that happen to spell a Latin one, `сорр`, is not caught by these
 * rules: it is ordinary Cyrillic text.) Latin letters with diacritics outside U+00C0–U+024F
 * (Vietnamese `ễ`, U+1E00–U+1EFF) are escaped inside an ASCII word too: `ạ` passes for `a`.
 */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const LATIN = /\p{Script=Latin}/u;
const CYRILLIC = /\p{Script=Cyrillic}/u;
const GREEK = /\p{Script=Greek}/u;
const CYRILLIC_OR_GREEK = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;
const ASCII_LETTER = /[A-Za-z]/;
/** A letter that is neither ASCII nor a Latin letter of U+00C0–U+024F (× and ÷ are not letters). */
const UNUSUAL_LETTER = /[^\P{L}A-Za-z\u00C0-\u024F]/u;
const MATH_ALPHANUMERIC = /[\u{1D400}-\u{1D7FF}]/u;

/** A code point that continues the character before it: a combining mark, a Hangul vowel or final jamo. */
const CONTINUES = /^[\p{M}\u1160-\u11FF\uD7B0-\uD7FF]$/u;

/**
 * More code points continuing one character than Unicode's stream-safe text allows (30, UAX #15).
 * SECURITY: such a run is flagged without being normalized — ICU orders combining marks by
 * insertion, so normalizing 200,000 of them took half a minute, a summary rendering blocked.
 */
const LONG_RUN = /[\p{M}\u1160-\u11FF\uD7B0-\uD7FF]{31}/u;
const MAX_CONTINUING = 30;

/** Any code point outside ASCII. */
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007F]/;

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

/** The number of the scripts Latin, Cyrillic and Greek `text` has letters of. */
const scriptsIn = (text: string) =>
  Number(LATIN.test(text)) + Number(CYRILLIC.test(text)) + Number(GREEK.test(text));

/** The UTF-16 length of the code point `cp`. */
const units = (cp: number) => (cp > 0xffff ? 2 : 1);

/**
 * What to escape in `value`, by the UTF-16 offset where each code point starts, or null when it
 * is shown as it is. In order: a control, bidi, invisible or invalid character (emoji sequences
 * keep their joiners and selectors), a {@link isLookalike look-alike}, the unusual letters of a
 * word mixing scripts (see {@link WORD}), and — when the text is not in NFC (`e` and
 * U+0301 instead of `é`, U+212B ANGSTROM SIGN instead of `Å`) — the non-ASCII code points of each
 * character NFC would change; an `é` written as one code point is ordinary text. Ordinary text,
 * in any script, costs a few scans of the whole string and no work per character.
 */
function analyse(value: string): (HiddenKind | null)[] | null {
  const hidden = MAYBE_HIDDEN.test(value);
  if (!hidden && !NON_ASCII.test(value)) return null;
  const lookalike = MAYBE_LOOKALIKE.test(value);
  const mixed =
    scriptsIn(value) >= 2 ||
    (ASCII_LETTER.test(value) && UNUSUAL_LETTER.test(value)) ||
    MATH_ALPHANUMERIC.test(value);
  const longRun = LONG_RUN.test(value);
  const unnormalized = longRun || value.normalize('NFC') !== value;
  if (!hidden && !lookalike && !mixed && !unnormalized) return null;
  const kinds: (HiddenKind | null)[] = new Array<HiddenKind | null>(value.length).fill(null);
  let any = false;
  if (hidden || lookalike) {
    for (let i = 0; i < value.length;) {
      const cp = value.codePointAt(i)!;
      const n = units(cp);
      const kind = classify(cp);
      if (kind !== null && !isEmojiPart(cp, codePointBefore(value, i), value.codePointAt(i + n))) {
        kinds[i] = kind;
        any = true;
      } else if (kind === null && isLookalike(cp)) {
        kinds[i] = 'lookalike';
        any = true;
      }
      i += n;
    }
  }
  if (mixed) {
    for (const m of value.matchAll(WORD)) {
      const word = m[0];
      // SECURITY: which letters of this word are escaped (see WORD): with an ASCII letter, every
      // unusual one — counting only Cyrillic and Greek let Armenian `օ` and small capital `ᴄ` pass.
      const suspect = ASCII_LETTER.test(word)
        ? UNUSUAL_LETTER
        : scriptsIn(word) >= 2
          ? CYRILLIC_OR_GREEK
          : null;
      if (suspect === null && !MATH_ALPHANUMERIC.test(word)) continue;
      for (let j = 0; j < word.length;) {
        const cp = word.codePointAt(j)!;
        const ch = String.fromCodePoint(cp);
        if (
          kinds[m.index + j] === null &&
          ((suspect !== null && suspect.test(ch)) || MATH_ALPHANUMERIC.test(ch))
        ) {
          kinds[m.index + j] = 'mixed-script';
          any = true;
        }
        j += units(cp);
      }
    }
  }
  if (unnormalized) {
    let marked = false;
    // A segment NFC changes was found (its code points may already be flagged by another kind).
    let found = false;
    const mark = (from: number, to: number) => {
      for (let i = from; i < to;) {
        const cp = value.codePointAt(i)!;
        if (kinds[i] === null && cp > 0x7f) {
          kinds[i] = 'unnormalized';
          marked = true;
        }
        i += units(cp);
      }
    };
    // A segment: a code point and those that continue it ([from, to) in UTF-16 units).
    for (let from = 0; from < value.length;) {
      let to = from + units(value.codePointAt(from)!);
      let continuing = 0;
      while (to < value.length) {
        const cp = value.codePointAt(to)!;
        if (!CONTINUES.test(String.fromCodePoint(cp))) break;
        to += units(cp);
        continuing += 1;
      }
      const seg = value.slice(from, to);
      if (continuing > MAX_CONTINUING || seg.normalize('NFC') !== seg) {
        mark(from, to);
        found = true;
      }
      from = to;
    }
    // SECURITY: fail closed — a composition this segmentation did not find still flags the text,
    // with everything outside ASCII escaped, rather than showing it unflagged.
    if (!found) mark(0, value.length);
    any ||= marked;
  }
  return any ? kinds : null;
}

/** The kinds in `kinds`, each once, in the fixed order. */
function ordered(kinds: Iterable<HiddenKind | null | undefined>): HiddenKind[] {
  const found = new Set(kinds);
  return HIDDEN_KINDS.filter((k) => found.has(k));
}

/**
 * `value` with each code point `kinds` names written by `escape`, and each run of the others
 * between them by `keep`.
 */
function rewrite(
  value: string,
  kinds: readonly (HiddenKind | null)[],
  escape: (cp: number) => string,
  keep: (run: string) => string = (run) => run,
): string {
  let out = '';
  let kept = 0;
  for (let i = 0; i < value.length;) {
    const cp = value.codePointAt(i)!;
    const n = units(cp);
    if (kinds[i] !== null) {
      out += keep(value.slice(kept, i)) + escape(cp);
      kept = i + n;
    }
    i += n;
  }
  return out + keep(value.slice(kept));
}

/**
 * Escapes control, bidi-override/isolate, invisible/zero-width, tag and variation-selector
 * characters, lone surrogates, look-alike punctuation and blanks, the unusual letters of a word
 * mixing scripts, and the characters of a text not in NFC as `\uXXXX` / `\u{XXXXX}`,
 * and reports which kinds it found. Ordinary text in any script ("Zürich", "Москва", "東京", emoji)
 * is returned unchanged. Idempotent on its own output (which holds none of them).
 */
export function escapeForDisplay(value: string): DisplayText {
  const kinds = analyse(value);
  if (kinds === null) return { text: value, hidden: [] };
  return { text: rewrite(value, kinds, escapeCodePoint), hidden: ordered(kinds) };
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

/** A JSON string literal in `JSON.stringify` output (nothing outside strings holds a quote). */
const JSON_STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/g;

/**
 * A JSON value for a person: its compact JSON text with what {@link escapeForDisplay} escapes
 * written as JSON `\uXXXX` escapes in its strings, keys included (a valid JSON text of the same
 * value), and the kinds found. `JSON.stringify` alone would write `\r` as the visible `\\r` but
 * leave U+202E, a U+2215 or a Cyrillic `о` raw, and flag nothing.
 */
export function displayJson(value: unknown): DisplayText {
  const found = new Set<HiddenKind>();
  const json = (JSON.stringify(value) ?? 'null').replace(JSON_STRING, (literal) => {
    const text = JSON.parse(literal) as string;
    const kinds = analyse(text);
    if (kinds === null) return literal;
    for (const k of ordered(kinds)) found.add(k);
    return '"' + rewrite(text, kinds, jsonEscape, jsonRun) + '"';
  });
  return { text: escapeForTerminal(json), hidden: ordered(found) };
}

/**
 * A flagged code point in a JSON string: what JSON.stringify escapes itself (C0, a lone
 * surrogate) keeps its form (`\r`, `\u001b`, `\ud800`); anything else is written `\uXXXX` (a
 * supplementary character as its surrogate pair), which JSON reads back as the same character.
 */
function jsonEscape(cp: number): string {
  const ch = String.fromCodePoint(cp);
  const own = JSON.stringify(ch).slice(1, -1);
  if (own !== ch) return own;
  let out = '';
  for (let i = 0; i < ch.length; i++)
    out += `\\u${ch.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
  return out;
}

/**
 * Unflagged text in a JSON string: quotes and backslashes escaped, anything else as it is (the
 * characters JSON.stringify escapes besides — C0, lone surrogates — are flagged, never kept).
 */
const jsonRun = (run: string) => run.replace(/["\\]/g, '\\$&');

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
