import { MandateError } from './errors.js';

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays accepted. */
  maxDepth?: number;
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
 * beyond ±(2^53−1) are an error (they would silently change value), nesting is bounded, and
 * `__proto__` is an ordinary key, never a prototype.
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
        throw new MandateError('duplicate_key', `duplicate key "${key.slice(0, 64)}" in JSON object`);
      seen.add(key);
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail('expected ":"');
      this.i++;
      this.ws();
      const v = this.value(depth);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = v;
      }
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
      out.push(this.value(depth));
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
    if (e === 0x65 || e === 0x45) {
      isInt = false;
      j++;
      const sign = s.charCodeAt(j);
      if (sign === 0x2b || sign === 0x2d) j++;
      const d = j;
      while (isDigit(s.charCodeAt(j))) j++;
      if (j === d) this.failAt(j, 'invalid exponent');
    }
    this.i = j;
    const n = Number(s.slice(start, j));
    if (!Number.isFinite(n)) throw new MandateError('invalid_number', 'number out of range');
    if (isInt && !Number.isSafeInteger(n)) {
      throw new MandateError(
        'invalid_number',
        `integer ${s.slice(start, Math.min(j, start + 40))} is beyond ±(2^53−1)`,
      );
    }
    if (!isInt && Number.isInteger(n) && !Number.isSafeInteger(n)) {
      throw new MandateError('invalid_number', 'number beyond ±(2^53−1)');
    }
    return n;
  }

  failAt(j: number, message: string): never {
    this.i = j;
    return this.fail(message);
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
