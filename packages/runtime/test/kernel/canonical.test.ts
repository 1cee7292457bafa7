import fc from 'fast-check';
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

/**
 * The implementation before its fast paths (issue 13), kept as the reference: every byte hashed
 * into an existing audit chain, call hash or policy version came from it, so the current one must
 * write exactly the same text for every value both accept.
 */
function reference(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('non-finite number');
      return Object.is(value, -0) ? '0' : JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(reference).join(',') + ']';
      const keys = Object.keys(value).sort();
      let out = '{';
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        out += JSON.stringify(k) + ':' + reference(v);
      }
      return out + '}';
    }
    default:
      throw new Error(`cannot canonicalise a ${typeof value}`);
  }
}

const DECISION_EVENT = JSON.parse(
  '{"action":"payments.refund","agent":"support-bot","data":{"approvalId":null,"args":{"amount":120,"customerId":"c-42"},"argsDigest":"hmac-sha256:ae31f81277e29b3a08637e9af8500fc8c323de7c2c7a251bf8b58716a877ed20","caller":"key_demo-support-bot","errors":[],"grantChain":["grt_seed_5C57E276DAC251B3A37F5228BE"],"grantId":"grt_seed_5C57E276DAC251B3A37F5228BE","intent":"customer asked for a refund","latencyUs":126,"policyInputs":{"agent":"support-bot","context":{"args":{"amount":120,"customerId":"c-42"},"grant":{"ageSeconds":13,"expiresInSeconds":31535986,"id":"grt_seed_5C57E276DAC251B3A37F5228BE"},"intent":"customer asked for a refund","onBehalfOf":{"__entity":{"id":"alice","type":"User"}},"time":{"date":"2026-11-30","epochSeconds":1796052507,"hour":10,"minute":28,"weekday":"mon"}},"entities":[{"attrs":{"roles":["support"],"tenant":"acme"},"parents":[],"uid":{"id":"support-bot","type":"Agent"}},{"attrs":{"roles":["support"],"tenant":"acme"},"parents":[],"uid":{"id":"alice","type":"User"}},{"attrs":{"tags":[],"tenant":"acme"},"parents":[],"uid":{"id":"c-42","type":"Customer"}}],"omitted":["department","name","owner","status"],"outcome":{"effect":"allow","policies":["refund-small","user-support-customers"]},"redacted":[],"resource":{"id":"c-42","type":"Customer"},"user":"alice"},"policyVersion":"sha256:f7740eca02bc3cf3f5cb18c41ca1d313540e7d623bce3496330f565cb7293e21","reasons":[{"policyId":"refund-small","principal":"agent","reason":"refunds up to 500 are allowed"},{"policyId":"user-support-customers","principal":"user","reason":"support staff work on customers of their own tenant"}],"sessionId":null,"traceId":null},"decisionId":"dec_01M8PH4PF2RHFSVDJYDTMH9SCH","effect":"allow","nodeId":"vm-14014","resource":"Customer::c-42","time":"2026-11-30T15:28:27.106Z","type":"decision","user":"alice"}',
) as unknown;

/** The same value with every object's keys inserted in reverse order. */
function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).reverse()) out[k] = reversedKeys((v as Record<string, unknown>)[k]);
  return out;
}

describe('canonicalize: byte-identical to the reference implementation', () => {
  const long = 'x'.repeat(200);
  const tricky: unknown[] = [
    '',
    'plain-ascii_id.01',
    '"',
    '\\',
    'a"b\\c',
    '\u0000\u0001\u0008\u0009\u000a\u000c\u000d\u001f',
    '\u007f\u0080\u00ff\u2028\u2029\ufeff\uffff',
    '\ud83d\ude00', // a surrogate pair
    '\ud800', // lone high surrogate
    '\udfff', // lone low surrogate
    'a\ud800b',
    '\ude00\ud83d', // reversed pair
    long,
    long + '"',
    long + '\ud800',
    'x'.repeat(64) + '"', // just past the scanned length
    'x'.repeat(63) + '"', // just within it
    'é€😀',
    0,
    -0,
    1,
    -1,
    0.1,
    1e21,
    1e-7,
    -1e-7,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_VALUE,
    Number.MAX_VALUE,
    Number('123456789.123456789'),
    true,
    false,
    null,
    [],
    {},
    [[]],
    [{}],
    { a: undefined },
    { a: undefined, b: 1 },
    { b: 1, a: undefined },
    // Keys already sorted, reversed, and differing only past the first code unit.
    { a: 1, b: 2, c: 3 },
    { c: 3, b: 2, a: 1 },
    { ab: 1, a: 2, aa: 3, b: 4, B: 5, _: 6, '': 7 },
    // Keys that need escapes or sort by UTF-16 code units (surrogates before U+E000..U+FFFF).
    { '\ufb33': 1, '\ud83d\ude00': 2, '\u20ac': 3, '\r': 4, '1': 5, '\u0080': 6, '"': 7, '\\': 8 },
    { '\ud800': 'lone', '\udc00': 'low' },
    // Integer-like keys: JavaScript enumerates them first, in numeric order, not in string order.
    { '10': 'ten', '9': 'nine', '2': 'two', a: 'a', '-1': 'minus' },
    { b: [3, { z: 1, y: [null, true, 'x"y'] }], a: { d: -0, c: 1e300 } },
    Object.assign(Object.create(null) as object, { z: 1, y: 2 }),
    new Date(0), // no own enumerable keys: "{}" (toJSON is not consulted)
    // A decision event as the example server records it, in canonical order and reversed.
    DECISION_EVENT,
    reversedKeys(DECISION_EVENT),
  ];

  it('on a corpus of tricky values', () => {
    for (const v of tricky) expect(canonicalize(v), JSON.stringify(v)).toBe(reference(v));
  });

  it('on random JSON values (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ depthSize: 'medium' }), (v) => canonicalize(v) === reference(v)),
      { numRuns: 1000 },
    );
  });

  it('on random objects with unicode and escape-heavy keys and strings', () => {
    const str = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({
        unit: fc.constantFrom('a', 'b', '"', '\\', '\n', '\u0000', '\ud800', '\udc00', 'é', '\u2028'),
        maxLength: 70,
      }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        str,
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 5 }),
        fc.dictionary(str, tie('node'), { maxKeys: 6 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => canonicalize(v) === reference(v)),
      { numRuns: 1000 },
    );
  });

  it('rejects what the reference rejects', () => {
    for (const bad of [
      Number.NaN,
      Infinity,
      -Infinity,
      undefined,
      () => 1,
      10n,
      Symbol('s'),
      [undefined],
      { a: [1, Number.NaN] },
    ]) {
      expect(() => reference(bad)).toThrow();
      expect(() => canonicalize(bad)).toThrow();
    }
  });

  it('rejects a sparse array (the reference wrote "[,1]", which is not JSON)', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [, 1];
    expect(reference(sparse)).toBe('[,1]');
    expect(() => canonicalize(sparse)).toThrow();
  });
});
