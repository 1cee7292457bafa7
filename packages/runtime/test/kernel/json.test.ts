import { describe, expect, it } from 'vitest';
import { canonicalize, parseJsonStrict } from '../../src/kernel/index.js';

/** The MandateError code `fn` throws (fails the test when it does not throw one). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `not a MandateError: ${String(err)}`;
  }
  throw new Error('expected a throw');
}

describe('parseJsonStrict: what it accepts', () => {
  it.each([
    ['{}', {}],
    ['[]', []],
    [' \t\r\n{"a" : [1, 2.5, "x", true, false, null]} \n', { a: [1, 2.5, 'x', true, false, null] }],
    ['"h\\u00e9llo \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t"', 'héllo "q" \\ / \b\f\n\r\t'],
    ['"€😀"', '€😀'],
    ['"\\ud83d\\ude00"', '😀'],
    ['0', 0],
    ['-1', -1],
    ['1.5e3', 1500],
    ['1E-7', 1e-7],
    ['2.5E+2', 250],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-9007199254740991', -Number.MAX_SAFE_INTEGER],
    ['0.1', 0.1],
  ])('%s', (text, expected) => {
    expect(parseJsonStrict(text)).toEqual(expected);
  });

  it('keeps -0 as a number and canonicalises it to 0', () => {
    const v = parseJsonStrict('{"n":-0}') as { n: number };
    expect(Object.is(v.n, -0)).toBe(true);
    expect(canonicalize(v)).toBe('{"n":0}');
    expect(canonicalize(parseJsonStrict('-0.0'))).toBe('0');
  });

  it('gives the same value as JSON.parse for input both accept', () => {
    const text = '{"z":{"b":[1,{"c":"d"}],"a":null},"amount":120,"customerId":"c-42","s":"\\u20ac"}';
    expect(parseJsonStrict(text)).toEqual(JSON.parse(text));
  });
});

describe('parseJsonStrict: duplicate keys are rejected at any depth', () => {
  it.each([
    ['{"amount":1,"amount":1000000}'],
    ['{"amount":1000000,"amount":1}'],
    ['{"a":1,"b":2,"a":1}'],
    ['{"args":{"customerId":"c-42","amount":1,"amount":900}}'],
    ['[{"ok":1},{"x":{"y":[{"k":1,"k":2}]}}]'],
    // the same key spelled two ways is still the same key
    ['{"a":1,"\\u0061":2}'],
    ['{"__proto__":1,"__proto__":2}'],
  ])('%s → duplicate_key', (text) => {
    expect(codeOf(() => parseJsonStrict(text))).toBe('duplicate_key');
  });

  it('accepts the same key in sibling objects (a key is unique per object, not per document)', () => {
    expect(parseJsonStrict('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseJsonStrict('{"a":{"a":{"a":1}}}')).toEqual({ a: { a: { a: 1 } } });
  });
});

describe('parseJsonStrict: numbers that would silently change value are rejected', () => {
  it.each([
    ['9007199254740992'],
    ['9007199254740993'],
    ['-9007199254740992'],
    ['12345678901234567890'],
    ['{"amount":9007199254740993}'],
    // an exponent or a fraction that still names an integer beyond 2^53 is the same number
    ['1e21'],
    ['9007199254740993.0'],
    ['1E300'],
    // not finite at all
    ['1e400'],
    ['-1e400'],
  ])('%s → invalid_number', (text) => {
    expect(codeOf(() => parseJsonStrict(text))).toBe('invalid_number');
  });

  it.each([
    ['01'],
    ['-01'],
    ['1.'],
    ['.5'],
    ['+1'],
    ['1e'],
    ['1e+'],
    ['-'],
    ['0x10'],
    ['NaN'],
    ['Infinity'],
    ['-Infinity'],
  ])('%s → invalid_json', (text) => {
    expect(codeOf(() => parseJsonStrict(text))).toBe('invalid_json');
  });
});

describe('parseJsonStrict: nesting is bounded', () => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const nestObj = (n: number) => '{"a":'.repeat(n - 1) + '{}' + '}'.repeat(n - 1);

  it('accepts exactly maxDepth levels and rejects one more with too_deep', () => {
    expect(parseJsonStrict(nest(5), { maxDepth: 5 })).toEqual([[[[[]]]]]);
    expect(codeOf(() => parseJsonStrict(nest(6), { maxDepth: 5 }))).toBe('too_deep');
    expect(parseJsonStrict(nestObj(5), { maxDepth: 5 })).toEqual({ a: { a: { a: { a: {} } } } });
    expect(codeOf(() => parseJsonStrict(nestObj(6), { maxDepth: 5 }))).toBe('too_deep');
  });

  it('defaults to 64 levels', () => {
    expect(() => parseJsonStrict(nest(64))).not.toThrow();
    expect(codeOf(() => parseJsonStrict(nest(65)))).toBe('too_deep');
  });

  it('answers too_deep for a hostile depth instead of overflowing the stack', () => {
    expect(codeOf(() => parseJsonStrict('['.repeat(200_000)))).toBe('too_deep');
    expect(codeOf(() => parseJsonStrict('{"a":'.repeat(200_000)))).toBe('too_deep');
  });
});

describe('parseJsonStrict: malformed input', () => {
  it.each([
    [''],
    ['   '],
    ['{'],
    ['{"a":1'],
    ['{"a" 1}'],
    ['{a:1}'],
    ["{'a':1}"],
    ['{"a":1,}'],
    ['[1,]'],
    ['[1 2]'],
    ['tru'],
    ['nul'],
    ['True'],
    ['"unterminated'],
    ['"a\\"'],
    ['"\\x41"'],
    ['"\\u12"'],
    ['"\\u00zz"'],
    ['"\\'],
    ['"tab\there"'],
    ['"line\nbreak"'],
    ['"nul\u0000"'],
    ['/* c */ 1'],
    ['\f1'],
    ['\u00a01'],
    // trailing garbage after a complete value
    ['{} x'],
    ['{}}'],
    ['1 2'],
    ['[] []'],
    ['{"a":1}\u0000'],
    ['"a" "b"'],
  ])('%j → invalid_json', (text) => {
    expect(codeOf(() => parseJsonStrict(text))).toBe('invalid_json');
  });

  it('names the offset of the problem in the message', () => {
    expect(() => parseJsonStrict('{"a":1} x')).toThrow(/offset 8/);
  });
});

describe('parseJsonStrict: __proto__ is an ordinary key', () => {
  it('keeps __proto__ as an own, enumerable key and never sets the prototype', () => {
    const v = parseJsonStrict('{"__proto__":{"isAdmin":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toEqual({ isAdmin: true });
    expect((v as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(canonicalize(v)).toBe('{"__proto__":{"isAdmin":true},"a":1}');
  });

  it('does not pollute Object.prototype, at any depth', () => {
    parseJsonStrict(
      '{"x":[{"__proto__":{"polluted":"yes"}}],"constructor":{"prototype":{"polluted2":"yes"}}}',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted2).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps constructor and prototype as plain data', () => {
    const v = parseJsonStrict('{"constructor":1,"prototype":2}') as Record<string, unknown>;
    expect(v).toEqual({ constructor: 1, prototype: 2 });
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });
});

describe('parseJsonStrict: a number means the value its text names, or is refused', () => {
  /** The error `fn` throws (fails the test when it does not throw). */
  function errorOf(fn: () => unknown): { code: string; message: string; details: unknown } {
    try {
      fn();
    } catch (err) {
      return err as { code: string; message: string; details: unknown };
    }
    throw new Error('expected a throw');
  }

  it.each([
    // issue 8 §3: decided as 500 and allowed by `amount <= 500`
    ['{"args":{"customerId":"c-42","amount":500.0000000000000001}}', 'args.amount'],
    // passes a grant limit of 10,000 while 10001 does not
    ['{"args":{"amount":10000.0000000000001}}', 'args.amount'],
    ['{"args":{"amount":499.99999999999999999}}', 'args.amount'],
    // more significant digits than a double holds
    ['{"n":123456789.123456789}', 'n'],
    ['{"n":0.1000000000000000055511151231257827}', 'n'],
    // underflows to zero
    ['{"n":1e-400}', 'n'],
    ['{"n":-2.5e-330}', 'n'],
    // paths inside arrays and odd keys are named too
    ['{"args":{"items":[{"price":1},{"price":1.00000000000000001}]}}', 'args.items[1].price'],
    ['{"a b":[0.30000000000000000001]}', '["a b"][0]'],
    ['12.0000000000000000001', ''],
    ['{"n":1.00000000000000005}', 'n'],
  ])('%s → invalid_number naming %s', (text, path) => {
    const e = errorOf(() => parseJsonStrict(text));
    expect(e.code).toBe('invalid_number');
    expect(e.details).toEqual({ path, why: expect.any(String) });
    expect(e.message.startsWith(path ? `${path}: ` : 'the JSON value: ')).toBe(true);
  });

  it.each([
    // the allow next to each refusal: the same values written exactly
    ['{"args":{"customerId":"c-42","amount":500}}', { args: { customerId: 'c-42', amount: 500 } }],
    ['{"args":{"amount":10000.0}}', { args: { amount: 10000 } }],
    ['{"n":500.25}', { n: 500.25 }],
    ['{"n":0.1}', { n: 0.1 }],
    ['{"n":0.30000000000000004}', { n: 0.1 + 0.2 }],
    ['{"n":1.50}', { n: 1.5 }],
    ['{"n":15e-1}', { n: 1.5 }],
    ['{"n":1E-7}', { n: 1e-7 }],
    ['{"n":-0.0}', { n: -0 }],
    ['{"n":0e5}', { n: 0 }],
    ['{"n":5e-324}', { n: 5e-324 }],
    ['{"n":123456789.12345679}', { n: 123456789.12345679 }],
    // 15 digits (the fast path) and 16–17 digits that are a double's shortest form (compared)
    ['{"n":123456789.123456}', { n: 123456789.123456 }],
    ['{"n":0.1234567890123456}', { n: 0.1234567890123456 }],
    ['{"n":1.0000000000000002}', { n: 1.0000000000000002 }],
  ])('%s is kept', (text, expected) => {
    expect(parseJsonStrict(text)).toEqual(expected);
  });

  it('canonicalises every accepted number to a text naming the same value it was given', () => {
    for (const text of ['500.0', '1.50', '15e-1', '1E-7', '2.5E+2', '0.000001', '1e-7', '123.456']) {
      const back = canonicalize(parseJsonStrict(text));
      expect(Number(back)).toBe(Number(text));
      expect(parseJsonStrict(back)).toBe(parseJsonStrict(text));
    }
  });

  it('still names the path of an integer beyond 2^53', () => {
    const e = errorOf(() => parseJsonStrict('{"args":{"amount":9007199254740993}}'));
    expect(e.code).toBe('invalid_number');
    expect(e.details).toEqual({ path: 'args.amount', why: 'is an integer beyond ±(2^53−1)' });
  });
});
