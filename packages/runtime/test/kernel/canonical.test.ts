import { describe, expect, it } from 'vitest';
import { canonicalize, parseJsonStrict } from '../../src/kernel/index.js';

/** The IEEE-754 double with these 64 bits (RFC 8785 appendix B lists its vectors this way). */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt('0x' + hex));
  return view.getFloat64(0);
}

describe('canonicalize: RFC 8785 appendix B number vectors', () => {
  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('%s → %s', (bits, expected) => {
    expect(canonicalize(fromBits(bits))).toBe(expected);
  });

  it.each([['7fffffffffffffff'], ['7ff0000000000000'], ['fff0000000000000']])(
    '%s (NaN or Infinity) is rejected, not written as null',
    (bits) => {
      expect(() => canonicalize(fromBits(bits))).toThrow(expect.objectContaining({ code: 'invalid_number' }));
    },
  );

  it('writes the number forms of the brief the ECMAScript way', () => {
    expect(canonicalize(1e21)).toBe('1e+21');
    expect(canonicalize(1e-7)).toBe('1e-7');
    expect(canonicalize(1e20)).toBe('100000000000000000000');
    expect(canonicalize(-0)).toBe('0');
    expect(canonicalize([-0, 0, 4.5, 4.5, 2e-3])).toBe('[0,0,4.5,4.5,0.002]');
    // Parsed input: the exponent spellings of one value canonicalise the same.
    expect(canonicalize(parseJsonStrict('[1E-7, 1e-7, 0.0000001, 10E-8]'))).toBe('[1e-7,1e-7,1e-7,1e-7]');
    expect(canonicalize(parseJsonStrict('[900, 9E2, 9.00e+2, 900.0]'))).toBe('[900,900,900,900]');
  });
});

describe('canonicalize: RFC 8785 section 3.2 examples', () => {
  it('the 3.2.2 example: whitespace removed, numbers and strings normalised, keys sorted', () => {
    // The input of RFC 8785 §3.2.2 with its one integer beyond 2^53 (1E30) kept, since JCS itself allows it.
    const input = {
      // As written in the RFC (more digits than a double holds), so parsed from text.
      numbers: [Number('333333333.33333329'), 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    };
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('the 3.2.3 example: keys sorted by UTF-16 code units, not by code points or locale', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",' +
        '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    const out = canonicalize(input);
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // U+1F600 (a surrogate pair starting 0xD83D) sorts before U+FB33: by code points it would be after.
    expect(out.indexOf('"😀"')).toBeLessThan(out.indexOf('"\ufb33"'));
  });
});

describe('canonicalize: structure', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalize({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, A: true })).toBe(
      '{"A":true,"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('is independent of key insertion order, so equal calls hash equal', () => {
    const a = parseJsonStrict('{"customerId":"c-42","amount":900}');
    const b = parseJsonStrict('{"amount":900,"customerId":"c-42"}');
    expect(canonicalize(a)).toBe(canonicalize(b));
    expect(canonicalize(a)).toBe('{"amount":900,"customerId":"c-42"}');
  });

  it('distinguishes values that differ only in type', () => {
    expect(canonicalize({ amount: 900 })).not.toBe(canonicalize({ amount: '900' }));
    expect(canonicalize([1])).not.toBe(canonicalize(['1']));
  });

  it('escapes control characters the JSON way and leaves other unicode literal', () => {
    expect(canonicalize('\u0000\u001f\u007f\u2028é')).toBe('"\\u0000\\u001f\u007f\u2028é"');
    expect(canonicalize('a\tb\nc"d\\e')).toBe('"a\\tb\\nc\\"d\\\\e"');
  });

  it('is the identity on its own output (idempotent through the strict parser)', () => {
    const once = canonicalize(parseJsonStrict('{"b":[1.50,-0,1E-7,"\\u00e9"],"a":{"y":false,"x":null}}'));
    expect(canonicalize(parseJsonStrict(once))).toBe(once);
  });

  it('rejects values JSON cannot carry instead of dropping them', () => {
    expect(() => canonicalize(() => 1)).toThrow();
    expect(() => canonicalize(10n)).toThrow();
    expect(() => canonicalize(Symbol('s'))).toThrow();
    expect(() => canonicalize({ a: Number.NaN })).toThrow(
      expect.objectContaining({ code: 'invalid_number' }),
    );
    expect(() => canonicalize(undefined)).toThrow();
  });
});
