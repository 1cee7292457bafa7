import { canonicalize, hmacSha256Hex, setOwn } from '../kernel/index.js';

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /**
   * Dot paths to redact, e.g. `card.number`; `*` matches any one segment (an object key or array
   * index). Arrays on the way need no segment of their own: `card.number` also reaches the
   * `number` of each item of `card: [{number}]`; an index segment (`card.0.number`) picks one.
   */
  paths: readonly string[];
}

/** Returns a redacted deep copy of `args`; `extraPaths` add to the configured paths for this call (e.g. per tool). */
export interface Redactor {
  (args: Record<string, unknown>, extraPaths?: readonly string[]): Record<string, unknown>;
  /**
   * The same copy, and onto `changed` the path (`path.key.0…`, in key order) of every value it
   * replaced by a different one: what comparing the input with the copy would find
   * ({@link changedPaths}), without serialising both at every level.
   */
  tracking(
    args: Record<string, unknown>,
    extraPaths: readonly string[] | undefined,
    path: string,
    changed: string[],
  ): Record<string, unknown>;
}

/** Replacement for a value at a configured path. */
export const REDACTED = '[REDACTED]';
/** Replacement for a value that looks like a secret wherever it is. */
export const REDACTED_SECRET = '[REDACTED:secret]';

/**
 * Key names that hold secrets, matched word by word (camelCase, snake_case and kebab-case split
 * into words) so that `accessToken`, `x-api-key` and `DB_PASSWORD` match while `classname`
 * (which contains "ssn") or `max_tokens` do not.
 */
const SECRET_KEY =
  /(?:^| )(?:passwords?|passwd|pass|passphrase|passcode|pwd|pw|pin|otp|totp|secrets?|token|api ?keys?|access ?keys?|private ?keys?|priv ?keys?|(?:auth|signing|encryption|master|licen[cs]e|mandate|session|ssh|tls|ssl|hmac|client|secret|recovery) ?keys?|authorization|cookies?|set cookie|ssn|cvv2?|cvc2?|credentials?|mnemonics?|seed ?phrases?|recovery ?(?:codes?|phrases?)|backup ?codes?|(?:mfa|2fa|sms|verification|one ?time) ?codes?|one ?time ?passwords?|security ?answers?)(?: |$)/;

/**
 * SECURITY: the words of {@link SECRET_KEY} that name a secret wherever they are inside one word
 * of a key: a probe found `password1`, `newpassword`, `userpassword` kept in clear (whole words
 * only). `secretary`/`secretariat` are not secrets.
 */
const SECRET_PART = /passw(?:or)?d|passphrase|passcode|secret(?!ar)|credential|apikey|accesskey|privatekey/;

/**
 * A word ending in `token` (`accesstoken`, `refreshtoken`, `idtoken`, `token2`); a count of tokens
 * (`max_tokens`, `tokensUsed`, `tokenizer`) does not end so.
 */
const TOKEN_WORD = /token[0-9]*$/;

/** `auth`, `basicauth`, `oauth` as the last word of a key, or before one of these: an auth value. */
const AUTH_WORD = /^[a-z]*auth$/;
const AUTH_NEXT = new Set([
  'header',
  'headers',
  'token',
  'key',
  'value',
  'string',
  'cookie',
  'code',
  'data',
  'info',
  'creds',
]);

/** The names of {@link NAMED_CREDENTIAL} and {@link QUOTED_CREDENTIAL}, each in its own group-less form. */
const CREDENTIAL_NAME =
  '(?:[a-z0-9]*(?:passwords?|passwd)|pass[_ -]?phrases?|pass[_ -]?codes?|pin[_ -]?codes?|secret|(?:(?:access|refresh|id|auth|session|bearer|api|csrf|oauth|client)[_ -]?)?token|api[_ -]?key|access[_ -]?key|private[_ -]?key|client[_ -]?secret)';

/** A digit or symbol: what a credential's value holds and prose after `token:` seldom does. */
const CREDENTIAL_SYMBOL = '[0-9!@#$%^&*_\\-+/.~]';

/**
 * How far the patterns after a credential name look for what makes it one. SECURITY (probe f6):
 * an unbounded lookahead (`(?=[^\s,;]*…)`) ran to the end of the text from every `password=` in
 * it — `password="x` repeated over 375 KiB held the event loop 20 s — and V8's linear engine does
 * not take a pattern with a lookbehind. Bounded, each start costs at most this much, so a text
 * costs linear time; a first word this long is taken for a secret, digit or not.
 */
const CREDENTIAL_LOOK = 256;

/**
 * A named credential (`password=hunter2`, `api_key: 9f…`, `DB_PASSWORD=…`, `passcode: 4711-93`,
 * `accessToken=ya29…`, `mypassword=…`) and EVERYTHING after it, to the end of the text; group 1,
 * the name, stays. SECURITY (probe f4): the value ended at a space, comma, semicolon or quote, so
 * `password=Tr0ub4dor,horse-battery-staple9` kept `horse-battery-staple9` in clear (and a space,
 * tab or newline likewise): where a value ends cannot be known, so the tail after a credential name
 * is taken for secret. Its first word must hold six characters. After `=` that is all: a
 * passphrase of letters only (`password=correcthorsebattery`) was kept in clear while every value
 * had to hold a digit or symbol, a test meant for prose, which writes a colon (`the token:
 * expired`) and seldom an `=` without a blank. After `:` the first word must still hold a digit or
 * symbol within {@link CREDENTIAL_LOOK} characters (or be that long). The names: those of
 * {@link SECRET_KEY} prose does not use for something else, five letters at least — `pin=`, `otp=`
 * or `pwd=` and six characters would take the shortest secret below {@link SHORTEST_SECRET}, which
 * lets short strings skip the patterns. A password may have any prefix (`newpassword=`); a token
 * only one of the prefixes of credentials (`access_token`, `refreshToken`, `id-token` …), so that
 * `mytoken=abc12345` stays prose. Every quantifier before `[\s\S]*` is bounded or disjoint, and the
 * colon's lookahead runs once per colon, so a text costs linear time (redact-redos.test.ts).
 */
const NAMED_CREDENTIAL = new RegExp(
  `(?<![a-z0-9])(${CREDENTIAL_NAME}["']?\\s*` +
    `(?:=|:(?=\\s*["']?(?:[^\\s,;]{0,${CREDENTIAL_LOOK}}${CREDENTIAL_SYMBOL}|[^\\s,;'"]{${CREDENTIAL_LOOK}})))` +
    `\\s*["']?)(?!\\[REDACTED)[^\\s,;'"]{6}[\\s\\S]*`,
  'i',
);

/**
 * A named credential whose value is quoted (`password="correct horse 4"`, `"secret": 'a b;c1'`,
 * `password="ab\"cd horse 9"`, `{"password":"hunterhunter"}`) and everything after it, to the end
 * of the text: the quoted value must hold six characters (a `\`-escaped character counts as one,
 * so an escaped quote does not end it). No digit or symbol is asked of it: a quoted value after a
 * credential name is a value, whatever the separator (JSON writes a colon).
 * Tried before {@link NAMED_CREDENTIAL}, whose first word would stop at the passphrase's first space.
 */
const QUOTED_CREDENTIAL = new RegExp(
  `(?<![a-z0-9])(${CREDENTIAL_NAME}["']?\\s*[:=]\\s*(["']))(?!\\[REDACTED)` +
    `(?=(?:\\\\[^\\n]|(?!\\2)[^\\n\\\\]){6})` +
    `[\\s\\S]*`,
  'i',
);

/**
 * A password in a URL's user info (`postgres://app:hunter2@db/prod`, `redis://:s3cret@cache`,
 * `ws://svc:pw@chat`, Azure's `postgres://admin@server:pw@server.postgres.database.azure.com`):
 * group 1 — the scheme, the user (up to its first `:`, an `@` in it kept) and that colon — stays;
 * the password goes, up to the last `@` of the word (whatever it holds: `/`, `#`, `?`, quotes, an
 * unencoded `@`), and that `@` stays. A connection string is sent under any key (`dsn`,
 * `DATABASE_URL`, `target`), so the key's name cannot be what finds it. Not a password: a port
 * followed by a path (`https://host:8443/a@b`). Scheme of two characters or more, password of five
 * or more (the shortest, `ws://:abcde@`, is {@link SHORTEST_SECRET} long); every part bounded,
 * so linear time. A re-probe found the first form of this pattern (a three-letter scheme, no `/`,
 * `#`, `?` or quote in the password, no `@` in the user) passing most real connection strings.
 */
const URL_CREDENTIAL =
  /\b([a-z][a-z0-9+.-]{1,30}:\/\/[^\s:/?#]{0,256}:)(?![0-9]{1,5}(?:[/?#]|$))[^\s]{5,256}@/i;

/** Secret shapes found anywhere inside a string value; `Bearer …` first, so `redactText` takes the scheme with its token. */
const SECRET_VALUE = [
  // Bearer credentials; the token must hold a digit or symbol so that prose ("bearer instruments") passes.
  /\bBearer\s+(?=[A-Za-z0-9\-._~+/]*[0-9\-._~+/])[A-Za-z0-9\-._~+/]{12,}=*/i,
  // JWT (header and payload are base64url JSON). SECURITY: it starts only where a base64url run
  // starts: with `\b`, `eyJ-` repeated started again after each `-` and scanned the rest of the run
  // each time (quadratic; 40k characters took 1 s, 1 MiB minutes).
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, // AWS access key id
  /\bsk-[A-Za-z0-9_-]{16,}/, // OpenAI / Anthropic style
  /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}/, // Stripe secret and restricted keys
  /\bgh[pousr]_[A-Za-z0-9]{30,}/, // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/, // Slack tokens
  /\bgithub_pat_[A-Za-z0-9_]{22,}/, // GitHub fine-grained tokens
  /\bglpat-[A-Za-z0-9_-]{20,}/, // GitLab personal access tokens
  /\bnpm_[A-Za-z0-9]{36}/, // npm tokens
  /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/, // SendGrid keys
  /\bAIza[0-9A-Za-z_-]{35}/, // Google API keys
  /\bhooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{16,}/, // Slack webhook URLs (the path is the secret)
  /(?<![A-Za-z0-9])mdt_[A-Za-z0-9_-]{32,}/, // Mandate's own API keys (keys/service.ts: `mdt_` and 24 random bytes, base64url)
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/, // PEM, and OpenPGP's armor
  QUOTED_CREDENTIAL,
  NAMED_CREDENTIAL,
  URL_CREDENTIAL,
];

/** The same shapes, matching every occurrence, with what replaces each (inside free text). */
const SECRET_VALUE_ALL: [RegExp, string][] = [
  // SECURITY: a named credential first, so that its tail goes with it: a value-shaped piece
  // replaced before it (`password=sk-… rest`) left `[REDACTED:secret]`, which holds no digit, and
  // the tail in clear.
  [new RegExp(QUOTED_CREDENTIAL.source, 'gi'), `$1${REDACTED_SECRET}`],
  [new RegExp(NAMED_CREDENTIAL.source, 'gi'), `$1${REDACTED_SECRET}`],
  // A private key in free text goes with its body, up to its END line (or the end of the text).
  [
    /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    REDACTED_SECRET,
  ],
  // The password of a URL, its scheme, user and host kept (the record still says where it went).
  [new RegExp(URL_CREDENTIAL.source, 'gi'), `$1${REDACTED_SECRET}@`],
  ...SECRET_VALUE.filter(
    (re) => re !== NAMED_CREDENTIAL && re !== QUOTED_CREDENTIAL && re !== URL_CREDENTIAL,
  ).map((re): [RegExp, string] => [new RegExp(re.source, re.flags + 'g'), REDACTED_SECRET]),
];

/**
 * Card-number candidates: 13–19 digits, optionally grouped by spaces or dashes. The first digit
 * must be 2–6 (the issuer ranges of the card networks) so that millisecond timestamps and most
 * numeric ids, which start with 1, are not taken for cards.
 */
const CARD_CANDIDATE = /(?<![0-9])[2-6](?:[ \u00a0\u2007\u202f-]?[0-9]){12,18}(?![0-9])/g;

/**
 * Card numbers grouped by dots (`4111.1111.1111.1111`, a probe found them kept in clear): groups
 * of 3–7 digits, three to five of them, so that a decimal number (one dot) or a date is no candidate.
 */
const CARD_DOTTED = /(?<![0-9])(?<![0-9]\.)[2-6][0-9]{2,6}(?:\.[0-9]{3,7}){2,4}(?![0-9])(?!\.[0-9])/g;

/** A card-number candidate that is one: 13–19 digits passing Luhn. */
function isCardNumber(candidate: string): boolean {
  const digits = candidate.replace(/[ .\u00a0\u2007\u202f-]/g, '');
  return digits.length >= 13 && digits.length <= 19 && luhn(digits);
}

/**
 * HTTP Basic credentials (`Basic dXNlcjpwYXNz`): the scheme and a base64 token that decodes to
 * UTF-8 text holding a `:` (user:password), so that prose ("Basic information") passes.
 */
const BASIC_CANDIDATE = /\bBasic\s+([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])/gi;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isBasicCredential(token: string): boolean {
  let text: string;
  try {
    const binary = atob(token);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    text = UTF8.decode(bytes);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return text.includes(':') && !/[\u0000-\u001f\u007f]/.test(text);
}

/**
 * No secret shape above fits in fewer UTF-16 code units: the shortest are a named credential
 * (`token=` and six characters, 12), `Basic` credentials (`Basic ` and six characters, 12) and a
 * URL's password (`ws://:abcde@`, 12), then
 * a 13-digit card number (a JWT or a Slack token, 15; a dotted card number, 15; a `Bearer` token,
 * 19; a private key header, 27; a Mandate key, 36). A shorter string — most ids, names, roles,
 * statuses — is passed without running the patterns.
 */
export const SHORTEST_SECRET = 12;

/**
 * Creates the args redactor used before anything is persisted or shown: configured paths become
 * `[REDACTED]`, and secrets become `[REDACTED:secret]` wherever they are — the value under a key
 * named like a secret, a number that is a card number, and in any other string each piece shaped
 * like a token, key or card number (the rest of the string stays, as in {@link redactText}).
 */
export function createRedactor(options: RedactorOptions): Redactor {
  const configured = options.paths.map(splitPath);
  const start = (patterns: string[][]): Cursor[] => patterns.map((segments) => ({ segments, at: 0 }));
  // Built once, not per call: the configured cursors, and those of each tool's extra paths (a
  // tool's list comes back on every call of that tool). Cursors are never mutated.
  const configuredCursors = start(configured);
  const withExtra = new Map<string, Cursor[]>();
  const cursorsFor = (extraPaths: readonly string[] | undefined): Cursor[] => {
    if (!extraPaths || extraPaths.length === 0) return configuredCursors;
    const key = JSON.stringify(extraPaths);
    let cursors = withExtra.get(key);
    if (cursors === undefined) {
      cursors = start([...configured, ...extraPaths.map(splitPath)]);
      if (withExtra.size >= 1000) withExtra.clear();
      withExtra.set(key, cursors);
    }
    return cursors;
  };
  const redactor = (args: Record<string, unknown>, extraPaths?: readonly string[]) =>
    redactObject(args, cursorsFor(extraPaths), undefined);
  redactor.tracking = (
    args: Record<string, unknown>,
    extraPaths: readonly string[] | undefined,
    path: string,
    changed: string[],
  ) => redactObject(args, cursorsFor(extraPaths), { path, keys: [], changed });
  return redactor;
}

/**
 * The paths where `after` (a redacted copy) differs from `before`: leaves, or the root of a
 * replaced subtree. The reference for {@link Redactor.tracking}, and what a redactor without it
 * is checked with.
 */
export function changedPaths(before: unknown, after: unknown, path: string, out: string[]): void {
  if (canonicalize(before) === canonicalize(after)) return;
  if (isRecord(before) && isRecord(after)) {
    for (const k of Object.keys(before)) changedPaths(before[k], after[k], `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((v, i) => changedPaths(v, after[i], `${path}.${i}`, out));
    return;
  }
  out.push(path);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The keyed digest of args kept in the hashed audit event: equal args give equal digests (so an
 * auditor holding the key can confirm what ran) while the args themselves stay out of the chain.
 */
export function argsDigest(hmacKey: Uint8Array | string, args: Record<string, unknown>): string {
  return 'hmac-sha256:' + hmacSha256Hex(hmacKey, canonicalize(args));
}

/** Answers of `isSecretKey` by key name: the same few names come back on every call. */
const secretKeyMemo = new Map<string, boolean>();

/** True when a key name says its value is a secret. */
export function isSecretKey(key: string): boolean {
  let answer = secretKeyMemo.get(key);
  if (answer === undefined) {
    answer = classifyKey(key);
    if (secretKeyMemo.size >= 10_000) secretKeyMemo.clear();
    secretKeyMemo.set(key, answer);
  }
  return answer;
}

function classifyKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
  if (SECRET_KEY.test(words.join(' '))) return true;
  // An HTTP header `x-…-key` / `x-…-token` / `x-…-secret` carries a credential (`x-mandate-key`).
  const last = words.length - 1;
  if (words.length > 1 && words[0] === 'x' && /^(?:keys?|tokens?|secrets?)$/.test(words[last]!)) return true;
  return words.some(
    (w, i) =>
      SECRET_PART.test(w) ||
      TOKEN_WORD.test(w) ||
      (AUTH_WORD.test(w) && (i === last || AUTH_NEXT.has(words[i + 1]!))),
  );
}

/**
 * Free text (a decision's `intent`) with every secret-shaped span — the same shapes as in args:
 * tokens, keys, `Bearer …`, card numbers passing Luhn — replaced by `[REDACTED:secret]`. The
 * rest of the sentence stays, so the record still says why the agent acted.
 */
export function redactText(text: string): string {
  return text.length < SHORTEST_SECRET ? text : replaceSecretShapes(text);
}

/** Passes of {@link replaceSecretShapes} before a text still changing is replaced whole. */
const MAX_PASSES = 4;

/**
 * {@link redactText} without the length shortcut: every pattern run (what the shortcut is tested
 * against), until nothing more changes. SECURITY: fail closed — a replacement can uncover a shape
 * the text around it hid (`4111111111111111sk-…`: the digits hide the key's word boundary until
 * the card number is replaced), so the patterns run again on the result; a text still changing
 * after {@link MAX_PASSES} passes is replaced whole.
 */
export function replaceSecretShapes(text: string): string {
  let out = text;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = replaceOnce(out);
    if (next === out) return out;
    out = next;
  }
  return REDACTED_SECRET;
}

/** One pass of every pattern over `text`. */
function replaceOnce(text: string): string {
  let out = text;
  for (const [re, replacement] of SECRET_VALUE_ALL) out = out.replace(re, replacement);
  out = out.replace(BASIC_CANDIDATE, (m, token: string) => (isBasicCredential(token) ? REDACTED_SECRET : m));
  const card = (m: string) => (isCardNumber(m) ? REDACTED_SECRET : m);
  return out.replace(CARD_CANDIDATE, card).replace(CARD_DOTTED, card);
}

/** True when a string contains something shaped like a secret. */
export function looksLikeSecret(value: string): boolean {
  return value.length >= SHORTEST_SECRET && matchesSecretShape(value);
}

/** {@link looksLikeSecret} without the length shortcut: every pattern run (what the shortcut is tested against). */
export function matchesSecretShape(value: string): boolean {
  for (const re of SECRET_VALUE) if (re.test(value)) return true;
  for (const m of value.matchAll(BASIC_CANDIDATE)) if (isBasicCredential(m[1]!)) return true;
  return cardNumberIn(value);
}

interface Cursor {
  segments: readonly string[];
  at: number;
}

/** Where a tracking redaction is (the keys from its root) and the paths it replaced so far. */
interface Track {
  path: string;
  keys: string[];
  changed: string[];
}

/**
 * A value replaced at `key`: noted when the replacement differs from it (as {@link changedPaths}
 * would find: only the same string compares equal). A value comparing cannot serialise fails here
 * as it fails there.
 */
function replaced(track: Track | undefined, key: string, original: unknown, replacement: string): string {
  if (track !== undefined && original !== replacement) {
    if (typeof original !== 'string') canonicalize(original);
    track.changed.push(
      track.keys.length === 0 ? `${track.path}.${key}` : `${track.path}.${track.keys.join('.')}.${key}`,
    );
  }
  return replacement;
}

function splitPath(path: string): string[] {
  return path.split('.').filter((s) => s.length > 0);
}

function redactValue(
  key: string,
  value: unknown,
  cursors: readonly Cursor[],
  track: Track | undefined,
): unknown {
  // SECURITY: only the secret-shaped pieces of a string go, as in free text: replacing the whole
  // string let an agent hide any value from its approver and from the record by putting a
  // key-shaped piece in it (`"sk-proj-…" <mallory@evil.example>` was shown and recorded as
  // `[REDACTED:secret]` while the upstream sent to mallory). A string that is nothing but the
  // secret is still replaced whole.
  if (typeof value === 'string')
    return looksLikeSecret(value) ? replaced(track, key, value, replaceSecretShapes(value)) : value;
  // A card number sent as a JSON number is still a card number; a number cannot be shown in part,
  // so it goes whole (the approver is told a value is hidden: the dashboard and the CLI say so).
  if (typeof value === 'number') {
    if (track !== undefined && !Number.isFinite(value)) canonicalize(value);
    return Number.isInteger(value) && containsCardNumber(String(value))
      ? replaced(track, key, value, REDACTED_SECRET)
      : value;
  }
  if (Array.isArray(value)) {
    track?.keys.push(key);
    const out = value.map((item, i) => {
      // Tracking fails where comparing would: an array holds no `undefined` in JSON.
      if (track !== undefined && item === undefined) canonicalize(item);
      return redactChild(String(i), item, cursors, track, true);
    });
    track?.keys.pop();
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    track?.keys.push(key);
    const out = redactObject(value as Record<string, unknown>, cursors, track);
    track?.keys.pop();
    return out;
  }
  // Tracking fails where comparing would: a non-finite number, a function, a bigint …
  if (track !== undefined && value !== undefined && typeof value !== 'boolean' && value !== null)
    canonicalize(value);
  return value;
}

function redactObject(
  obj: Record<string, unknown>,
  cursors: readonly Cursor[],
  track: Track | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const changedBefore = track?.changed.length ?? 0;
  let anyUndefined = false;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined) anyUndefined = true;
    const v = redactChild(key, value, cursors, track);
    // `__proto__` from parsed JSON is an ordinary key; assigning it would set the prototype instead.
    setOwn(out, key, v);
  }
  // Tracking fails where comparing would: comparing a changed record member by member meets the
  // `undefined` one (which JSON has not).
  if (track !== undefined && anyUndefined && track.changed.length !== changedBefore) canonicalize(undefined);
  return out;
}

/** A path segment that names an array item (`recipients.0.iban`) rather than an object key. */
const INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * `inArray`: `key` is an index of an array on the path. SECURITY: a path names the keys, whatever
 * arrays lie on the way — `card.number` missed `card: [{number}]` (an array of cards), and the card
 * number was kept in clear in the hashed record and the sinks (a probe). A segment that is a key
 * name goes through the array to its items; an index or `*` is matched against the item's index.
 */
function redactChild(
  key: string,
  value: unknown,
  cursors: readonly Cursor[],
  track: Track | undefined,
  inArray = false,
): unknown {
  const next: Cursor[] = [];
  for (const c of cursors) {
    const seg = c.segments[c.at]!;
    if (seg !== '*' && seg !== key) {
      if (inArray && !INDEX.test(seg)) next.push(c);
      continue;
    }
    if (c.at + 1 === c.segments.length) return replaced(track, key, value, REDACTED);
    next.push({ segments: c.segments, at: c.at + 1 });
  }
  // SECURITY: a value under a secret-named key goes whatever its shape (a PIN as a number, a
  // credentials object); only null and booleans, which cannot carry a secret, are kept.
  if (isSecretKey(key) && value !== null && typeof value !== 'boolean')
    return replaced(track, key, value, REDACTED_SECRET);
  return redactValue(key, value, next, track);
}

function containsCardNumber(value: string): boolean {
  return value.length >= SHORTEST_SECRET && cardNumberIn(value);
}

function cardNumberIn(value: string): boolean {
  for (const m of value.matchAll(CARD_CANDIDATE)) if (isCardNumber(m[0])) return true;
  for (const m of value.matchAll(CARD_DOTTED)) if (isCardNumber(m[0])) return true;
  return false;
}

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
