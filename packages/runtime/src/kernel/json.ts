import { MandateError } from './errors.js';

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays accepted. */
  maxDepth?: number;
}

/**
 * `out[key] = value`, except that a key `__proto__` (which JSON can carry) becomes an own
 * property instead of replacing the object's prototype. SECURITY: an assignment would turn the
 * value's keys into inherited ones, which `for…in` then copies as attributes nobody sent.
 */
export function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * `obj[key]` when `key` is an own property of `obj`; undefined otherwise. SECURITY: for names from
 * outside (a schema, a config, a grant): `__proto__`, `constructor`, `toString` … must not find
 * what Object.prototype holds.
 */
export const ownValue = <T>(
  obj: Readonly<Record<string, T>> | null | undefined,
  key: string,
): T | undefined => (obj !== undefined && obj !== null && Object.hasOwn(obj, key) ? obj[key] : undefined);

/**
 * Where `value` holds an own key `__proto__` (`config.gateway.onBehalfOf`), or null. SECURITY: zod's
 * `z.record` leaves such a key out without a word, so a mapping or a constraint written under it
 * silently did not exist (a review: an agent named `__proto__` acted for no user through the
 * gateway, a grant's `resourceAttributes` constraint vanished). Documents that are not args refuse it.
 */
export function protoKeyPath(value: unknown, path = '$'): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = protoKeyPath(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return `${path}.__proto__`;
    const found = protoKeyPath((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (found) return found;
  }
  return null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decode bytes as UTF-8, rejecting invalid sequences instead of replacing them. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new MandateError('invalid_utf8', 'body is not valid UTF-8');
  }
}

/**
 * Parse JSON the one way Mandate reads input: duplicate object keys are an error (a body that
 * means two things to two parsers is rejected, THREATS "input that means two things"), integers
 * beyond ±(2^53−1) are an error (they would silently change value), so is any number whose text
 * names another value than the double it parses to (`500.0000000000000001` is not 500), nesting is
 * bounded, and `__proto__` is an ordinary key, never a prototype.
 *
 * Number errors are `invalid_number` naming the JSON path (`args.amount`) in the message and in
 * `details.path`.
 */
export function parseJsonStrict(text: string, options: StrictJsonOptions = {}): unknown {
  const p = new Parser(text, options.maxDepth ?? 64);
  p.ws();
  const value = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail('unexpected data after the JSON value');
  return value;
}

class Parser {
  i = 0;
  /** Keys and indexes from the root to the value being read; only read when a number is refused. */
  private readonly path: (string | number)[] = [];
  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  fail(message: string): never {
    throw new MandateError('invalid_json', `${message} at offset ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }

  value(depth: number): unknown {
    const c = this.s.charCodeAt(this.i);
    switch (c) {
      case 0x7b /* { */:
        return this.object(depth + 1);
      case 0x5b /* [ */:
        return this.array(depth + 1);
      case 0x22 /* " */:
        return this.string();
      case 0x74 /* t */:
        return this.literal('true', true);
      case 0x66 /* f */:
        return this.literal('false', false);
      case 0x6e /* n */:
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character');
    }
  }

  literal<T>(word: string, value: T): T {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return value;
    }
    return this.fail('invalid literal');
  }

  object(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) throw new MandateError('too_deep', `JSON nested deeper than ${this.maxDepth}`);
    this.i++;
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('expected a string key');
      const key = this.string();
      if (seen.has(key))
        // The key is the caller's and may be a secret: the record says what, not which.
        throw new MandateError('duplicate_key', `duplicate key "${key.slice(0, 64)}" in JSON object`, {
          recorded: 'a key named twice in one JSON object',
        });
      seen.add(key);
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail('expected ":"');
      this.i++;
      this.ws();
      this.path.push(key);
      const v = this.value(depth);
      this.path.pop();
      setOwn(out, key, v);
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return out;
      }
      this.fail('expected "," or "}"');
    }
  }

  array(depth: number): unknown[] {
    if (depth > this.maxDepth) throw new MandateError('too_deep', `JSON nested deeper than ${this.maxDepth}`);
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      this.path.push(out.length);
      out.push(this.value(depth));
      this.path.pop();
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x5d) {
        this.i++;
        return out;
      }
      this.fail('expected "," or "]"');
    }
  }

  string(): string {
    const s = this.s;
    const start = this.i;
    let j = start + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(j);
      if (Number.isNaN(c)) {
        this.i = j;
        this.fail('unterminated string');
      }
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        j += 2;
        continue;
      }
      if (c < 0x20) {
        this.i = j;
        this.fail('control character in string');
      }
      j++;
    }
    this.i = j + 1;
    if (!escaped) return s.slice(start + 1, j);
    let decoded: string;
    try {
      decoded = JSON.parse(s.slice(start, j + 1)) as string;
    } catch {
      this.i = start;
      return this.fail('invalid string escape');
    }
    // A lone surrogate (`"\ud800"`) has no UTF-8 form: what was decided could not be forwarded as is.
    if (!decoded.isWellFormed()) {
      this.i = start;
      return this.fail('lone surrogate escape in string');
    }
    return decoded;
  }

  number(): number {
    const s = this.s;
    const start = this.i;
    let j = start;
    if (s.charCodeAt(j) === 0x2d) j++;
    const intStart = j;
    while (isDigit(s.charCodeAt(j))) j++;
    if (j === intStart) this.failAt(j, 'invalid number');
    if (s.charCodeAt(intStart) === 0x30 && j - intStart > 1) this.failAt(intStart, 'leading zero in number');
    let isInt = true;
    if (s.charCodeAt(j) === 0x2e) {
      isInt = false;
      j++;
      const f = j;
      while (isDigit(s.charCodeAt(j))) j++;
      if (j === f) this.failAt(j, 'invalid fraction');
    }
    const e = s.charCodeAt(j);
    let hasExponent = false;
    if (e === 0x65 || e === 0x45) {
      isInt = false;
      hasExponent = true;
      j++;
      const sign = s.charCodeAt(j);
      if (sign === 0x2b || sign === 0x2d) j++;
      const d = j;
      while (isDigit(s.charCodeAt(j))) j++;
      if (j === d) this.failAt(j, 'invalid exponent');
    }
    this.i = j;
    const text = s.slice(start, j);
    const n = Number(text);
    if (!Number.isFinite(n)) this.refuseNumber(text, 'is out of range');
    if (isInt && !Number.isSafeInteger(n)) this.refuseNumber(text, 'is an integer beyond ±(2^53−1)');
    if (!isInt) {
      if (Number.isInteger(n) && !Number.isSafeInteger(n))
        this.refuseNumber(text, 'is a number beyond ±(2^53−1)');
      // SECURITY: decide on the number the caller wrote, or refuse: a text that rounds to another
      // double (`500.0000000000000001` → 500, `1e-400` → 0) would be decided, limited and
      // canonicalised as a value nobody sent. What passes here is exactly what `canonicalize`
      // writes back (ECMAScript shortest form), so the decided and forwarded value are one.
      // Up to 15 digits without an exponent always round-trip (DBL_DIG; such a value is a normal
      // double), so only longer or exponent texts need the comparison.
      const digits = j - intStart - 1;
      if ((hasExponent || digits > 15) && !sameDecimal(text, String(n)))
        this.refuseNumber(text, `has no exact double value (it would be read as ${String(n)})`);
    }
    return n;
  }

  refuseNumber(text: string, why: string): never {
    const where = jsonPath(this.path);
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new MandateError('invalid_number', `${where || 'the JSON value'}: ${shown} ${why}`, {
      details: { path: where, why },
    });
  }

  failAt(j: number, message: string): never {
    this.i = j;
    return this.fail(message);
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Do two JSON number texts name the same decimal value? Compared as digits and exponent with
 * leading and trailing zeros dropped, so `1.50`, `1.5` and `15e-1` are one value and every zero is
 * zero whatever its sign.
 */
function sameDecimal(a: string, b: string): boolean {
  const x = decimalParts(a);
  const y = decimalParts(b);
  if (x.digits === '' || y.digits === '') return x.digits === y.digits;
  return x.negative === y.negative && x.digits === y.digits && x.exponent === y.exponent;
}

/** `text` = ±digits × 10^exponent, digits without leading or trailing zeros ('' for zero). */
function decimalParts(text: string): { negative: boolean; digits: string; exponent: number } {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const e = body.search(/[eE]/);
  const mantissa = e < 0 ? body : body.slice(0, e);
  let exponent = e < 0 ? 0 : Number(body.slice(e + 1));
  const dot = mantissa.indexOf('.');
  let digits = mantissa;
  if (dot >= 0) {
    digits = mantissa.slice(0, dot) + mantissa.slice(dot + 1);
    exponent -= mantissa.length - dot - 1;
  }
  let from = 0;
  while (from < digits.length && digits.charCodeAt(from) === 0x30) from++;
  let to = digits.length;
  while (to > from && digits.charCodeAt(to - 1) === 0x30) to--;
  exponent += digits.length - to;
  return { negative, digits: digits.slice(from, to), exponent };
}

/** `args.items[2].price`; keys that are not identifiers in brackets (`args["a b"]`). */
function jsonPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * The reason a refusal is recorded with: the message the caller got, except that a refused number
 * is not written into the hashed, unerasable record — it may be a secret under any key
 * (`"password": 123456789012345678901234567890`) and the record cannot be redacted after the fact.
 */
export function recordedReason(err: MandateError): string {
  if (err.recorded !== undefined) return err.recorded;
  if (err.code !== 'invalid_number') return err.message;
  const d = (err.details ?? {}) as { path?: unknown; why?: unknown };
  const where = typeof d.path === 'string' && d.path !== '' ? d.path : 'the JSON value';
  // Without the value the number would be read as, either ("has no exact double value (it would be…)").
  const why = typeof d.why === 'string' ? d.why.replace(/ \(.*\)$/, '') : 'cannot be decided on exactly';
  return `${where}: a number that ${why}`;
}
