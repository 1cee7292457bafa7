import { describe, expect, it } from 'vitest';
import { decodeUtf8Strict, parseJsonStrict } from '../../src/kernel/index.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('decodeUtf8Strict', () => {
  it.each([
    ['ascii', 'payments.refund'],
    ['2-byte', 'héllo'],
    ['3-byte', '€ ₿ 中文'],
    ['4-byte (astral)', '😀 𝄞'],
    ['max scalar U+10FFFF', '\u{10FFFF}'],
    ['just below the surrogates U+D7FF and just above U+E000', '\uD7FF\uE000'],
    ['empty', ''],
  ])('decodes valid UTF-8: %s', (_, text) => {
    expect(decodeUtf8Strict(utf8(text))).toBe(text);
  });

  it.each([
    ['a lone 0xFF', bytes(0xff)],
    ['0xFE', bytes(0x41, 0xfe, 0x42)],
    ['a lone continuation byte', bytes(0x80)],
    ['a truncated 2-byte sequence', bytes(0xc3)],
    ['a truncated 3-byte sequence', bytes(0xe2, 0x82)],
    ['a truncated 4-byte sequence', bytes(0xf0, 0x9f, 0x98)],
    ['a lead byte followed by ASCII', bytes(0xc3, 0x41)],
    ['overlong "/" in 2 bytes (C0 AF)', bytes(0xc0, 0xaf)],
    ['overlong "/" in 3 bytes (E0 80 AF)', bytes(0xe0, 0x80, 0xaf)],
    ['overlong "/" in 4 bytes (F0 80 80 AF)', bytes(0xf0, 0x80, 0x80, 0xaf)],
    ['overlong NUL (C0 80, "modified UTF-8")', bytes(0xc0, 0x80)],
    ['C1 lead byte', bytes(0xc1, 0xbf)],
    ['lone high surrogate U+D800 encoded as UTF-8 (ED A0 80)', bytes(0xed, 0xa0, 0x80)],
    ['lone low surrogate U+DFFF encoded as UTF-8 (ED BF BF)', bytes(0xed, 0xbf, 0xbf)],
    ['a surrogate pair encoded as two 3-byte sequences (CESU-8)', bytes(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80)],
    ['beyond U+10FFFF (F4 90 80 80)', bytes(0xf4, 0x90, 0x80, 0x80)],
    ['F5 lead byte', bytes(0xf5, 0x80, 0x80, 0x80)],
    [
      'invalid bytes inside a JSON string',
      new Uint8Array([...utf8('{"customerId":"c-'), 0xff, ...utf8('42"}')]),
    ],
  ])('rejects %s with invalid_utf8 instead of replacing it with U+FFFD', (_, input) => {
    expect(() => decodeUtf8Strict(input)).toThrow(expect.objectContaining({ code: 'invalid_utf8' }));
  });

  it('is not tricked by a valid sequence right after an invalid one (no state kept between calls)', () => {
    expect(() => decodeUtf8Strict(bytes(0xe2, 0x82))).toThrow();
    expect(decodeUtf8Strict(utf8('€'))).toBe('€');
  });

  it('with the strict parser, bytes and escapes that name the same text parse to the same value', () => {
    const fromBytes = parseJsonStrict(decodeUtf8Strict(utf8('{"name":"Zoë €"}')));
    const fromEscapes = parseJsonStrict(decodeUtf8Strict(utf8('{"name":"Zo\\u00eb \\u20ac"}')));
    expect(fromBytes).toEqual(fromEscapes);
  });
});
