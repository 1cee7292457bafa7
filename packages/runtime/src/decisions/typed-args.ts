import { MandateError } from '../kernel/index.js';
import type { ArgType } from '../policy/port.js';

/** Cedar's decimal is a 64-bit integer of ten-thousandths: ±922337203685477.5807. */
const DECIMAL_MAX_UNITS = 922_337_203_685_477;
const DECIMAL_TEXT = /^-?\d+\.\d{1,4}$/;

/**
 * SECURITY: a reason never holds the value refused: it is recorded in the hashed, unerasable
 * `request.refused` event, and the arg may be one that redaction keeps out of every record (a pin
 * typed Long). The caller knows what it sent; the path names which.
 */
function refuse(arg: string, why: string, recorded?: string): never {
  throw new MandateError('invalid_args', `${arg}: ${why}`, {
    details: { path: arg },
    ...(recorded !== undefined ? { recorded } : {}),
  });
}

/**
 * The args as the policy engine must see them, typed by what the schema declares for
 * `context.args` (issue 8 §3): a number where `decimal` is declared becomes a decimal value (`37` →
 * `decimal("37.0")`, which Cedar would otherwise hold as a Long and fail every decimal comparison
 * on); a number `decimal` cannot hold exactly (more than 4 fractional digits, out of range) and a
 * fraction where `Long` is declared are refused with 400 `invalid_args` naming the arg, instead of
 * a `policy_error` deny naming no policy. The input is never changed; the same object comes back
 * when nothing needed converting.
 *
 * SECURITY: a value of another type than the one declared is refused too (400 `invalid_args`), as
 * Cedar's own request validation refuses it: Cedar compares values of different types as unequal
 * without an error, so `context.args.to != "ceo@acme.example"` held for `["ceo@acme.example"]`
 * and allowed what the policy meant to forbid — the tool's JSON schema, often loose for MCP tools,
 * was the only check. Inside a record the schema declares (an arg's value, nested, in a set), an
 * attribute it does not declare is refused too, as Cedar's request validation refuses it: the extra
 * key made the record Cedar sees unequal to the one a policy names, so `context.args.target ==
 * {"kind": "db", "id": "prod"}` (or `.contains(…)` over a Set of them) did not fire for
 * `{"kind": "db", "id": "prod", "x": 1}`. A top-level arg the schema does not declare is left
 * alone (the tool's JSON schema governs it; a strictly validated policy cannot read it). One that
 * is absent is the policy's to test with `has`.
 *
 * Only the policy engine sees the converted copy: the args that are audited, bound to approvals and
 * forwarded stay the JSON the caller sent (37 and decimal 37.0 are one value).
 */
export function argsForPolicy(
  args: Record<string, unknown>,
  type: ArgType | undefined,
): Record<string, unknown> {
  if (type === undefined) return args;
  // The top level is open: an undeclared arg is left alone (see above); every record within is closed.
  if (type.kind === 'record') return convertRecord(args, type.attributes, 'args', false);
  return convert(args, type, 'args') as Record<string, unknown>;
}

/** What a JSON value is, in words, for a refusal. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return `a ${typeof value}`;
}

function mismatch(arg: string, value: unknown, declared: string): never {
  return refuse(arg, `the policy schema declares ${declared}; got ${kindOf(value)}`);
}

function convert(value: unknown, type: ArgType, arg: string): unknown {
  switch (type.kind) {
    case 'decimal':
      return typeof value === 'number' ? toDecimal(value, arg) : mismatch(arg, value, 'decimal');
    case 'long':
      if (typeof value !== 'number') return mismatch(arg, value, 'Long');
      if (!Number.isInteger(value))
        refuse(arg, `a number with a fractional part; the policy schema declares Long`);
      return value;
    case 'string':
      return typeof value === 'string' ? value : mismatch(arg, value, 'String');
    case 'bool':
      return typeof value === 'boolean' ? value : mismatch(arg, value, 'Bool');
    // SECURITY: an entity named by an arg would reach Cedar without its attributes or parents (the
    // decision loads the agent, the user and the resource only), so `context.args.team in
    // Team::"board"` would be false for a real member and a forbid on it would never fire. Such an
    // arg is refused whatever it holds: declare a String and compare ids, or make it the resource.
    case 'entity':
      return refuse(
        arg,
        `the policy schema declares an entity (${type.type}); args cannot name entities, since only the agent, the user and the resource are loaded — declare a String, or make it the tool's resource`,
      );
    // Args cannot carry Cedar's escapes (the registry refuses `__entity` and `__extn` keys): a string
    // where `ipaddr`, `datetime` or `duration` is declared is that value's text (Cedar's schema-based
    // reading of JSON does the same; text it cannot read is an evaluation error, so a deny).
    case 'extension':
      if (typeof value !== 'string') return mismatch(arg, value, `${type.fn} (its text)`);
      return { __extn: { fn: type.fn, arg: value } };
    case 'set': {
      if (!Array.isArray(value)) return mismatch(arg, value, 'a Set');
      let out: unknown[] | undefined;
      value.forEach((el, i) => {
        const next = convert(el, type.element, `${arg}[${i}]`);
        if (next !== el) (out ??= [...value])[i] = next;
      });
      return out ?? value;
    }
    case 'record':
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        return mismatch(arg, value, 'a record');
      return convertRecord(value as Record<string, unknown>, type.attributes, arg, true);
    default:
      return value;
  }
}

/**
 * A record checked attribute by attribute against the attributes declared for it. `closed`: an
 * attribute it does not declare is refused, as Cedar's request validation refuses it (Cedar's
 * schemas have no open records: the human-readable syntax cannot say `additionalAttributes`).
 */
function convertRecord(
  record: Record<string, unknown>,
  attributes: Readonly<Record<string, ArgType>>,
  arg: string,
  closed: boolean,
): Record<string, unknown> {
  if (closed) {
    // Own keys, as Cedar is handed them (Object.keys, like JSON.stringify); undefined is absent.
    for (const key of Object.keys(record)) {
      if (!Object.hasOwn(attributes, key) && record[key] !== undefined)
        // The key is the caller's (it may be a secret); the record names the declared record only.
        refuse(
          `${arg}.${key}`,
          'not declared by the schema',
          `${arg}: an attribute not declared by the schema`,
        );
    }
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, attrType] of Object.entries(attributes)) {
    if (!Object.hasOwn(record, key)) continue;
    const el = record[key];
    const next = convert(el, attrType, `${arg}.${key}`);
    // Spread and a computed key both define own properties: a `__proto__` key stays data.
    if (next !== el) out = { ...(out ?? record), [key]: next };
  }
  return out ?? record;
}

function toDecimal(n: number, arg: string): { __extn: { fn: 'decimal'; arg: string } } {
  if (Math.abs(n) > DECIMAL_MAX_UNITS)
    refuse(arg, `a number beyond the range of decimal (±${DECIMAL_MAX_UNITS})`);
  if (Number.isInteger(n)) return { __extn: { fn: 'decimal', arg: `${Object.is(n, -0) ? 0 : n}.0` } };
  // String(n) is the shortest form naming exactly this double (and, since the edge parser refuses
  // any other, exactly what the caller wrote); more than 4 fractional digits would be rounded.
  const text = String(n);
  if (!DECIMAL_TEXT.test(text))
    refuse(arg, `a number with more than 4 fractional digits; the policy schema declares decimal`);
  return { __extn: { fn: 'decimal', arg: text } };
}
