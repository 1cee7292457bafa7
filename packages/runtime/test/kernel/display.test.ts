import { describe, expect, it } from 'vitest';
import {
  HIDDEN_MARKER,
  displayJson,
  displayLine,
  escapeForDisplay,
  escapeForTerminal,
} from '../../src/kernel/index.js';

describe('escapeForDisplay: ordinary text is shown as it is', () => {
  it.each([
    ['plain ASCII', 'Refund 900 to customer c-42'],
    ['Latin with diacritics', 'Zürich, São Paulo, Kraków, Ærø'],
    ['CJK', '東京 北京 서울'],
    ['Arabic and Hebrew (right-to-left scripts without overrides)', 'مرحبا שלום'],
    ['Cyrillic and Greek', 'Москва Αθήνα'],
    ['Devanagari with combining marks', 'नमस्ते'],
    ['emoji, with presentation selector, skin tone and ZWJ sequences', '👍 ❤️ 👍🏽 👨‍👩‍👧 🏳️‍🌈'],
    ['symbols', '€ £ ¥ ™ © → ≤ ✓'],
    ['the empty string', ''],
    ['a literal backslash-u text', 'C:\\path\\u202E is just text'],
  ])('%s', (_, text) => {
    expect(escapeForDisplay(text)).toEqual({ text, hidden: [] });
    expect(displayLine(text)).toBe(text);
  });
});

describe('escapeForDisplay: hidden characters are escaped and flagged', () => {
  it('the terminal attack of issue 8 §5: CR and an ESC sequence that erase the real recipient', () => {
    const arg = 'mallory@evil.example\r\u001b[2KSend mail to alice@corp.example';
    expect(escapeForDisplay(arg)).toEqual({
      text: 'mallory@evil.example\\u000D\\u001B[2KSend mail to alice@corp.example',
      hidden: ['control'],
    });
    const line = displayLine(arg);
    expect(line).toBe(
      `${HIDDEN_MARKER} (control): mallory@evil.example\\u000D\\u001B[2KSend mail to alice@corp.example`,
    );
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\r\u001b]/);
  });

  it('a right-to-left override that makes "txt.exe" read as "exe.txt"', () => {
    expect(escapeForDisplay('invoice\u202Etxt.exe')).toEqual({
      text: 'invoice\\u202Etxt.exe',
      hidden: ['bidi'],
    });
  });

  const cases: [string, number[], string][] = [
    ['every C0 control, tab and newline included', range(0x00, 0x1f), 'control'],
    ['DEL', [0x7f], 'control'],
    ['every C1 control (U+009B is a one-byte CSI)', range(0x80, 0x9f), 'control'],
    ['line and paragraph separators', [0x2028, 0x2029], 'control'],
    ['zero-width space, non-joiner, joiner', [0x200b, 0x200c, 0x200d], 'invisible'],
    ['LRM and RLM', [0x200e, 0x200f], 'bidi'],
    ['bidi embeddings and overrides U+202A–U+202E', range(0x202a, 0x202e), 'bidi'],
    ['bidi isolates U+2066–U+2069', range(0x2066, 0x2069), 'bidi'],
    ['Arabic letter mark', [0x061c], 'bidi'],
    ['BOM / zero-width no-break space', [0xfeff], 'invisible'],
    ['soft hyphen', [0x00ad], 'invisible'],
    ['word joiner and invisible operators', range(0x2060, 0x2064), 'invisible'],
    [
      'combining grapheme joiner, Hangul fillers, Mongolian separators',
      [0x34f, 0x115f, 0x3164, 0x180e],
      'invisible',
    ],
    ['every tag character U+E0000–U+E007F', range(0xe0000, 0xe007f), 'invisible'],
    ['variation selectors that select nothing', [0xfe00, 0xe0100, 0xe01ef], 'invisible'],
    ['interlinear annotation characters', [0xfff9, 0xfffa, 0xfffb], 'invisible'],
    // A second-round probe: drawn as nothing in Chromium, and not flagged.
    ['unassigned default ignorables U+E0080–U+E0FFF', [0xe0080, 0xe00ff, 0xe01f0, 0xe0fff], 'invisible'],
    ['shorthand format controls U+1BCA0–U+1BCA3', range(0x1bca0, 0x1bca3), 'invisible'],
  ];
  it.each(cases)('%s', (_, cps, kind) => {
    for (const cp of cps) {
      const ch = String.fromCodePoint(cp);
      const d = escapeForDisplay(`a${ch}b`);
      const hex = cp.toString(16).toUpperCase();
      const esc = cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
      expect(d, `U+${hex}`).toEqual({ text: `a${esc}b`, hidden: [kind] });
      expect(d.text).not.toContain(ch);
    }
  });

  it('a zero-width joiner between letters, or at the edges, is hidden (only emoji sequences keep it)', () => {
    expect(escapeForDisplay('pay\u200Dpal').hidden).toEqual(['invisible']);
    expect(escapeForDisplay('\u200D👍').hidden).toEqual(['invisible']);
    expect(escapeForDisplay('👍\u200D').hidden).toEqual(['invisible']);
  });

  it('a presentation selector after a character with no emoji form is hidden; emoji and keycaps keep theirs', () => {
    // "DE89\uFE0F3704" was drawn exactly as "DE893704" and not flagged.
    expect(escapeForDisplay('DE89\uFE0F3704\uFE0E0044')).toEqual({
      text: 'DE89\\uFE0F3704\\uFE0E0044',
      hidden: ['invisible'],
    });
    for (const ok of ['❤\uFE0F', '☺\uFE0E', '1\uFE0F\u20E3', '#\uFE0F\u20E3', '👍🏽', '©\uFE0F'])
      expect(escapeForDisplay(ok), ok).toEqual({ text: ok, hidden: [] });
  });

  it('a presentation selector with nothing visible before it is hidden', () => {
    expect(escapeForDisplay('\uFE0Fx').text).toBe('\\uFE0Fx');
    expect(escapeForDisplay('a\u200B\uFE0F').text).toBe('a\\u200B\\uFE0F');
  });

  it('text smuggled in tag characters behind an emoji is shown', () => {
    const smuggled =
      '😀' + [...'send to mallory'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    const d = escapeForDisplay(smuggled);
    expect(d.hidden).toEqual(['invisible']);
    expect(d.text.startsWith('😀\\u{E0073}\\u{E0065}')).toBe(true);
  });

  it('a lone surrogate (possible in a JS string) is escaped as invalid', () => {
    expect(escapeForDisplay('a\uD800b')).toEqual({ text: 'a\\uD800b', hidden: ['invalid'] });
    expect(escapeForDisplay('a\uDFFF')).toEqual({ text: 'a\\uDFFF', hidden: ['invalid'] });
  });

  it('lists each kind once, in a fixed order', () => {
    expect(escapeForDisplay('\u202E\u0000\u200B\u202E\r').hidden).toEqual(['control', 'bidi', 'invisible']);
  });

  it('is idempotent: its output has nothing left to escape', () => {
    const once = escapeForDisplay('x\r\u001b[2K\u202E\u200B\u{E0041}\u00AD').text;
    expect(escapeForDisplay(once)).toEqual({ text: once, hidden: [] });
  });

  it('keeps ordinary non-ASCII text next to what it escapes', () => {
    expect(displayLine('Zürich\u202E東京')).toBe(`${HIDDEN_MARKER} (bidi): Zürich\\u202E東京`);
  });
});

describe('escapeForTerminal: the same JSON value, nothing a terminal acts on', () => {
  it('escapes CR, ESC, C1, bidi and tags in a plain line and keeps newline, tab and ordinary text', () => {
    expect(escapeForTerminal('a\rb\u001b[2Kc\u202Ed\u009Be\u{E0041}\tf\ng Zürich 東京 👨‍👩‍👧 ❤️')).toBe(
      'a\\u000Db\\u001B[2Kc\\u202Ed\\u009Be\\uDB40\\uDC41\tf\ng Zürich 東京 👨‍👩‍👧 ❤️',
    );
  });

  it('escapes C1, bidi and invisible characters inside strings and keeps the value', () => {
    const value = {
      to: 'mallory@evil.example\r\u001b[2Kalice',
      name: 'invoice\u202Etxt.exe',
      zw: 'a\u200Bb\u{E0041}\u009B',
      city: 'Zürich 東京 👨‍👩‍👧',
    };
    const json = escapeForTerminal(JSON.stringify(value, null, 2));
    expect(JSON.parse(json)).toEqual(value);
    // eslint-disable-next-line no-control-regex
    expect(json).not.toMatch(/[\r\u001b\u202E\u200B\u009B]|\u{E0041}/u);
    expect(json).toContain('\\u202E');
    expect(json).toContain('Zürich 東京');
    // Pretty-printing whitespace stays whitespace.
    expect(json.split('\n').length).toBeGreaterThan(3);
  });

  it('leaves JSON with nothing hidden unchanged', () => {
    const json = JSON.stringify({ a: 'Zürich', b: [1, 2], c: '東京' }, null, 2);
    expect(escapeForTerminal(json)).toBe(json);
  });
});

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let c = from; c <= to; c++) out.push(c);
  return out;
}

describe('displayJson: args as an approver sees them', () => {
  it('flags hidden characters in values and keys and keeps the JSON value', () => {
    const args = { to: 'mallory@evil.example\r\u001b[2Kalice@corp.example', 'x\u202E': 1, n: [1, 'Zürich'] };
    const d = displayJson(args);
    expect(d.hidden).toEqual(['control', 'bidi']);
    expect(JSON.parse(d.text)).toEqual(args);
    // JSON.stringify writes C0 itself (lower-case hex); the rest is escaped by escapeForTerminal.
    expect(d.text).toContain('mallory@evil.example\\r\\u001b[2Kalice');
    expect(d.text).toContain('x\\u202E');
  });

  it('flags nothing for ordinary args', () => {
    expect(displayJson({ customerId: 'c-42', amount: 900, city: '東京' })).toEqual({
      text: '{"customerId":"c-42","amount":900,"city":"東京"}',
      hidden: [],
    });
  });
});
