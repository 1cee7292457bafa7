// The dashboard carries a copy of the runtime's escapeForDisplay (its bundle cannot import the
// runtime's Node entry point). docs/consent.md promises one rule for every human-facing rendering:
// this test fails as soon as the two differ on any character.
import { describe, expect, it } from 'vitest';
import { HIDDEN_MARKER, escapeForDisplay } from '../../src/kernel/index.js';
import * as dashboard from '../../../../apps/dashboard/src/display.js';

/** Every code point but the surrogates (those are checked alone, as lone surrogates). */
function* codePoints(): Generator<number> {
  for (let cp = 0; cp <= 0x10ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) yield cp;
}

describe("the dashboard's escaping is the runtime's", () => {
  it('escapes and flags every code point the same, between letters', () => {
    const differ: string[] = [];
    for (const cp of codePoints()) {
      const s = `a${String.fromCodePoint(cp)}b`;
      const r = escapeForDisplay(s);
      const d = dashboard.escapeForDisplay(s);
      if (r.text !== d.text || r.hidden.join() !== d.hidden.join()) differ.push(cp.toString(16));
      if (differ.length > 20) break;
    }
    expect(differ).toEqual([]);
  });

  it('treats lone surrogates and emoji contexts (selectors, joiners, skin tones) the same', () => {
    const samples = [
      '\uD800',
      'a\uDFFFb',
      '👍\uFE0F',
      '\uFE0Fx',
      'a\u200B\uFE0F',
      '👨\u200D👩\u200D👧',
      '👍🏽\u200D👍',
      '\u200D👍',
      '👍\u200D',
      '❤\uFE0F\u200D🔥',
      'pay\u200Dpal',
      '\u{E0041}\u{E0100}\u{1D173}',
      'x\r\u001b[2K\u202E\u200B\u{E0041}\u00AD',
    ];
    for (const s of samples) expect(dashboard.escapeForDisplay(s), s).toEqual(escapeForDisplay(s));
    expect(dashboard.HIDDEN_MARKER).toBe(HIDDEN_MARKER);
  });
});
