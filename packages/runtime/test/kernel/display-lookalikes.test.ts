// SECURITY (probe f2): text that is drawn as something it is not was shown unflagged — a Cyrillic
// `о` in `ceo@cоrp.example`, U+2024 ONE DOT LEADER for a dot, U+2215 DIVISION SLASH in a URL,
// decomposed (NFD) text, U+2800 BRAILLE PATTERN BLANK, a Cyrillic key `tо` that reads as `to`. The
// approver read `ceo@corp.example`; the mail went elsewhere. Such characters are now escaped and
// flagged like controls, bidi and invisible ones (@mandate/protocol/display).
import { describe, expect, it } from 'vitest';
import {
  HIDDEN_KINDS,
  HIDDEN_MARKER,
  displayJson,
  displayLine,
  escapeForDisplay,
} from '../../src/kernel/index.js';

describe('look-alike punctuation and blanks', () => {
  it.each([
    ['U+2024 ONE DOT LEADER for a dot', 'ceo@corp\u2024example', 'ceo@corp\\u2024example'],
    [
      'U+2215 DIVISION SLASH: the URL goes to evil.example',
      'https://corp.example\u2215@evil.example',
      'https://corp.example\\u2215@evil.example',
    ],
    ['U+2044 FRACTION SLASH', 'files\u2044etc\u2044passwd', 'files\\u2044etc\\u2044passwd'],
    ['U+FF0E FULLWIDTH FULL STOP', 'corp\uFF0Eexample', 'corp\\uFF0Eexample'],
    ['U+3002 IDEOGRAPHIC FULL STOP', 'corp\u3002example', 'corp\\u3002example'],
    ['U+2800 BRAILLE PATTERN BLANK', 'alice\u2800bob', 'alice\\u2800bob'],
    ['a no-break space that passes for a space', 'alice\u00A0smith', 'alice\\u00A0smith'],
    ['a narrow no-break space', 'a\u202Fb', 'a\\u202Fb'],
    ['an em space and an ideographic space', 'a\u2003b\u3000c', 'a\\u2003b\\u3000c'],
    ['U+2236 RATIO for a colon', 'https\u2236//corp.example', 'https\\u2236//corp.example'],
    // Re-probe: full stops and colons of other scripts.
    ['U+0701 SYRIAC SUPRALINEAR FULL STOP', 'ceo@corp\u0701example', 'ceo@corp\\u0701example'],
    ['U+06D4 ARABIC FULL STOP', 'ceo@corp\u06D4example', 'ceo@corp\\u06D4example'],
    ['U+05C3 HEBREW SOF PASUQ for a colon', 'https\u05C3//corp.example', 'https\\u05C3//corp.example'],
    ['U+0589 ARMENIAN FULL STOP for a colon', 'https\u0589//corp.example', 'https\\u0589//corp.example'],
    [
      'U+1735 PHILIPPINE SINGLE PUNCTUATION for a slash',
      'corp.example\u1735@evil',
      'corp.example\\u1735@evil',
    ],
    ['U+037E GREEK QUESTION MARK for a semicolon', 'ls\u037E rm -rf /', 'ls\\u037E rm -rf /'],
    ['U+2212 MINUS SIGN and U+2010 HYPHEN', 'rm \u2212rf \u2010x', 'rm \\u2212rf \\u2010x'],
    ['fullwidth @ and small full stop', 'ceo\uFF20corp\uFE52example', 'ceo\\uFF20corp\\uFE52example'],
    [
      'single angle quotes for < and >',
      '"a" \u2039ceo@corp.example\u203A',
      '"a" \\u2039ceo@corp.example\\u203A',
    ],
  ])('%s', (_, text, escaped) => {
    expect(escapeForDisplay(text)).toEqual({ text: escaped, hidden: ['lookalike'] });
    expect(displayLine(text)).toBe(`${HIDDEN_MARKER} (lookalike): ${escaped}`);
  });
});

describe('the look-alike set, every BMP code point', () => {
  // The documented set (packages/protocol/src/display.ts, docs/consent.md), range by range.
  const SET: [number, number][] = [
    [0x00a0, 0x00a0],
    [0x02c2, 0x02c3],
    [0x02d0, 0x02d0],
    [0x02d7, 0x02d7],
    [0x037e, 0x037e],
    [0x0387, 0x0387],
    [0x0589, 0x0589],
    [0x05c3, 0x05c3],
    [0x06d4, 0x06d4],
    [0x0701, 0x0709],
    [0x1361, 0x1361],
    [0x1680, 0x1680],
    [0x16eb, 0x16ec],
    [0x1735, 0x1736],
    [0x1804, 0x1804],
    [0x2000, 0x200a],
    [0x2010, 0x2012],
    [0x2024, 0x2025],
    [0x202f, 0x202f],
    [0x2039, 0x203a],
    [0x2043, 0x2044],
    [0x205a, 0x205a],
    [0x205f, 0x205f],
    [0x2212, 0x2212],
    [0x2215, 0x2216],
    [0x2236, 0x2236],
    [0x2571, 0x2571],
    [0x27cb, 0x27cb],
    [0x27cd, 0x27cd],
    [0x2800, 0x2800],
    [0x29f5, 0x29f5],
    [0x29f8, 0x29f9],
    [0x2e4a, 0x2e4a],
    [0x3000, 0x3000],
    [0x3002, 0x3002],
    [0xa789, 0xa789],
    [0xfe10, 0xfe19],
    [0xfe30, 0xfe6b],
    [0xff01, 0xff0f],
    [0xff1a, 0xff20],
    [0xff3b, 0xff40],
    [0xff5b, 0xff5e],
    [0xff61, 0xff61],
  ];
  it('is flagged `lookalike` exactly on the documented set (the quick test and the per-character one agree)', () => {
    const expected: number[] = [];
    for (const [from, to] of SET) for (let cp = from; cp <= to; cp++) expected.push(cp);
    const found: number[] = [];
    for (let cp = 0x80; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (escapeForDisplay(`a${String.fromCharCode(cp)}b`).hidden.includes('lookalike')) found.push(cp);
    }
    expect(found.map((c) => c.toString(16))).toEqual(expected.map((c) => c.toString(16)));
  });
});

describe('words mixing Latin with Cyrillic or Greek letters', () => {
  it('the probe: a Cyrillic о in ceo@cоrp.example', () => {
    expect(escapeForDisplay('ceo@c\u043Erp.example')).toEqual({
      text: 'ceo@c\\u043Erp.example',
      hidden: ['mixed-script'],
    });
  });

  it('escapes every Cyrillic and Greek letter of such a word, and nothing of the other words', () => {
    expect(escapeForDisplay('pay \u0440\u0430ypal now').text).toBe('pay \\u0440\\u0430ypal now');
    // Greek omicron and nu inside a Latin word.
    expect(escapeForDisplay('ama\u03BFon.com').text).toBe('ama\\u03BFon.com');
    expect(escapeForDisplay('\u03BDisa').hidden).toEqual(['mixed-script']);
    // Cyrillic mixed with Greek reads as Latin too.
    expect(escapeForDisplay('\u0441\u03BF').text).toBe('\\u0441\\u03BF');
  });

  it('a Cyrillic key that reads as `to` is escaped and flagged in JSON, and stays the same JSON value', () => {
    const args = { to: 'alice@corp.example', 't\u043E': 'mallory@evil.example' };
    const d = displayJson(args);
    expect(d.hidden).toEqual(['mixed-script']);
    expect(d.text).toBe('{"to":"alice@corp.example","t\\u043E":"mallory@evil.example"}');
    expect(JSON.parse(d.text)).toEqual(args);
  });

  // SECURITY (re-probe f3): only Cyrillic and Greek letters counted, so an Armenian `օ`, a small
  // capital `ᴄ`, an IPA `ɑ`, Cherokee `Ꭱ`, a mathematical `𝗈` or a fullwidth `ｃ` in a Latin word
  // was shown unflagged. Every letter that is not ASCII or a Latin one of U+00C0–U+024F is now.
  it.each([
    ['Armenian o', 'ceo@c\u0585rp.example', 'ceo@c\\u0585rp.example'],
    ['U+1D04 LATIN LETTER SMALL CAPITAL C', 'ceo@\u1D04orp.example', 'ceo@\\u1D04orp.example'],
    ['U+0251 LATIN SMALL LETTER ALPHA', 'pay@p\u0251ypal.example', 'pay@p\\u0251ypal.example'],
    ['Cherokee Ꭱ', 'ceo@\u13A1vil.example', 'ceo@\\u13A1vil.example'],
    ['a mathematical sans-serif o', 'ceo@c\u{1D5C8}rp.example', 'ceo@c\\u{1D5C8}rp.example'],
    ['a fullwidth c', 'ceo@\uFF43orp.example', 'ceo@\\uFF43orp.example'],
    ['a Latin letter with a dot below (U+1EA1)', 'p\u1EA1ypal', 'p\\u1EA1ypal'],
  ])('a letter of any other script or block inside an ASCII word: %s', (_, text, escaped) => {
    expect(escapeForDisplay(text)).toEqual({ text: escaped, hidden: ['mixed-script'] });
  });

  it('mathematical alphanumerics are escaped in a word of their own too', () => {
    expect(escapeForDisplay('ceo@\u{1D5BC}\u{1D5C8}\u{1D5CB}\u{1D5C9}.example')).toEqual({
      text: 'ceo@\\u{1D5BC}\\u{1D5C8}\\u{1D5CB}\\u{1D5C9}.example',
      hidden: ['mixed-script'],
    });
  });

  it('accented Latin words and whole words of other scripts are shown as they are', () => {
    for (const text of [
      'naïve, Straße, Ångström, Łódź, Győr, Ærøskøbing, Şişli, Dvořák, ǅemal',
      'Երևան և Москва',
      'ＩＢＭの東京',
      'ᏣᎳᎩ',
    ])
      expect(escapeForDisplay(text), text).toEqual({ text, hidden: [] });
  });

  it('whole words of one script are ordinary text, next to each other or not', () => {
    for (const text of [
      'Москва and Athens',
      'Αθήνα, Θεσσαλονίκη',
      'ООО «Ромашка» ltd',
      'Straße 5, 東京都, 서울',
      'ceo@corp.example',
    ])
      expect(escapeForDisplay(text), text).toEqual({ text, hidden: [] });
  });
});

describe('text not in Unicode NFC', () => {
  it('decomposed text: the combining marks are escaped', () => {
    expect(escapeForDisplay('Zu\u0308rich')).toEqual({ text: 'Zu\\u0308rich', hidden: ['unnormalized'] });
    // The same word composed is ordinary.
    expect(escapeForDisplay('Z\u00FCrich')).toEqual({ text: 'Z\u00FCrich', hidden: [] });
  });

  it('a character NFC replaces (U+212B ANGSTROM SIGN for Å, U+2126 OHM SIGN for Ω)', () => {
    expect(escapeForDisplay('\u212B')).toEqual({ text: '\\u212B', hidden: ['unnormalized'] });
    // Inside a word with ASCII letters the ANGSTROM SIGN is an unusual letter, flagged as such first.
    expect(escapeForDisplay('\u212Bngstr\u00F6m')).toEqual({
      text: '\\u212Bngstr\u00F6m',
      hidden: ['mixed-script'],
    });
    expect(escapeForDisplay('5 \u2126').hidden).toEqual(['unnormalized']);
    // Inside a Latin word the OHM SIGN (a Greek letter) is flagged as mixing scripts first.
    expect(escapeForDisplay('5 k\u2126')).toEqual({ text: '5 k\\u2126', hidden: ['mixed-script'] });
  });

  it('marks out of canonical order, and Hangul written as jamo', () => {
    expect(escapeForDisplay('a\u0301\u0316').text).toBe('a\\u0301\\u0316');
    expect(escapeForDisplay('\u1100\u1161').text).toBe('\\u1100\\u1161');
  });

  it('a character with 200,000 combining marks is flagged without normalizing it (ICU orders marks in quadratic time)', () => {
    const d = escapeForDisplay(`a${'\u0316\u0301'.repeat(100_000)}`);
    expect(d.hidden).toEqual(['unnormalized']);
    expect(d.text.startsWith('a\\u0316\\u0301')).toBe(true);
  });

  it('keeps precomposed text in every script as it is', () => {
    for (const text of ['São Paulo, Kraków, Ærø', 'नमस्ते', 'Αθήνα', '한국어', 'é'])
      expect(escapeForDisplay(text), text).toEqual({ text, hidden: [] });
  });
});

describe('the new kinds with the old ones', () => {
  it('are listed once each, in the fixed order, after the hidden ones', () => {
    expect(HIDDEN_KINDS).toEqual([
      'control',
      'bidi',
      'invisible',
      'invalid',
      'lookalike',
      'mixed-script',
      'unnormalized',
    ]);
    const d = escapeForDisplay('Zu\u0308rich c\u043Erp\u2024x \u202E\r');
    expect(d.hidden).toEqual(['control', 'bidi', 'lookalike', 'mixed-script', 'unnormalized']);
    expect(d.text).toBe('Zu\\u0308rich c\\u043Erp\\u2024x \\u202E\\u000D');
  });

  it('is idempotent: the output has nothing left to flag', () => {
    const once = escapeForDisplay('ceo@c\u043Erp\u2024example\u2215x Zu\u0308rich \u2800 \u212B').text;
    expect(escapeForDisplay(once)).toEqual({ text: once, hidden: [] });
  });

  it('typographic punctuation of ordinary prose is not a look-alike', () => {
    const text = '“Quoted” — it’s done… 2024–2025 · 10 € (ok)';
    expect(escapeForDisplay(text)).toEqual({ text, hidden: [] });
  });

  it('displayJson escapes them in values as JSON escapes and keeps what JSON.stringify escapes itself', () => {
    const value = { url: 'https://corp.example\u2215@evil.example', name: 'Zu\u0308rich', nl: 'a\nb"c' };
    const d = displayJson(value);
    expect(d.hidden).toEqual(['control', 'lookalike', 'unnormalized']);
    expect(d.text).toBe(
      '{"url":"https://corp.example\\u2215@evil.example","name":"Zu\\u0308rich","nl":"a\\nb\\"c"}',
    );
    expect(JSON.parse(d.text)).toEqual(value);
  });
});
