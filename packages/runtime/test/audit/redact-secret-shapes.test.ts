// SECURITY (probe): secrets the redaction missed, kept in clear in the hashed, unerasable record —
// keys with a secret word inside a word (`password1`, `newpassword`, `accesstoken`, `x-mandate-key`),
// values shaped like `Basic <base64>`, Mandate's own `mdt_` keys and card numbers grouped by dots,
// and in free text `accessToken=…`, `refreshToken=…`, `mypassword=…`, `Authorization: Basic …`.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  REDACTED_SECRET as S,
  SHORTEST_SECRET,
  createRedactor,
  isSecretKey,
  looksLikeSecret,
  redactText,
} from '../../src/audit/redact.js';
import { expectShortcutAgrees } from './helpers.js';

const redact = createRedactor({ paths: [] });
const MANDATE_KEY = 'mdt_tH52KuPMosVvFGWlv0sQmgtVEItxKPqI'; // keys/service.ts: `mdt_` + 24 random bytes, base64url

describe('key names with a secret word inside a word', () => {
  it('are secrets: concatenated, numbered, prefixed, and `x-…-key` headers', () => {
    for (const k of [
      'password1',
      'newpassword',
      'userpassword',
      'oldPassword2',
      'accesstoken',
      'refreshToken',
      'id_token',
      'csrftoken',
      'token2',
      'x-mandate-key',
      'x-functions-key',
      'x-auth-token',
      'authHeader',
      'basic_auth',
      'proxyAuth',
      'clientsecret',
      'client_secret_value',
      'usercredentials',
      'apikeyvalue',
      'privatekeypem',
      'signing_key',
      'master-key',
      'sessionKey',
    ])
      expect(isSecretKey(k), k).toBe(true);
    expect(
      redact({
        id: 't1',
        password1: 'LEAKPW28',
        accesstoken: 'LEAKAT29',
        newpassword: 'LEAKNP30',
        userpassword: 'LEAKUP31',
        headers: { 'x-mandate-key': 'LEAKMK32' },
      }),
    ).toEqual({
      id: 't1',
      password1: S,
      accesstoken: S,
      newpassword: S,
      userpassword: S,
      headers: { 'x-mandate-key': S },
    });
  });

  it('ordinary keys stay: ids, amounts, text, authors, token counts (decided: a count is no secret)', () => {
    for (const k of [
      'customerId',
      'amount',
      'description',
      'author',
      'authority',
      'auth_method',
      'tokensUsed',
      'max_tokens',
      'tokenizer',
      'secretary',
      'passenger',
      'passage_id',
      'idempotency_key',
      'sort_key',
      'keyId',
      'x-request-id',
    ])
      expect(isSecretKey(k), k).toBe(false);
    const args = {
      customerId: 'c-42',
      amount: 120,
      description: 'refund of a double charge',
      author: 'alice',
      tokensUsed: 1234,
      max_tokens: 4096,
      auth_method: 'oauth2',
    };
    expect(redact(args)).toEqual(args);
  });
});

describe('values shaped like secrets', () => {
  it('Basic credentials, Mandate API keys and card numbers grouped by dots', () => {
    expect(
      redact({
        header: 'Basic dXNlcjpMRUFLMzI=',
        inText: 'sent Authorization: Basic YWxpY2U6czNjcjN0 to the server',
        unpadded: 'basic YWxpY2U6czNjcjN0',
        key: MANDATE_KEY,
        keyInText: `curl -H "x-key: ${MANDATE_KEY}"`,
        dotted: '4111.1111.1111.1111',
        amex: '3782.822463.10005',
      }),
    ).toEqual({
      header: S,
      inText: `sent Authorization: ${S} to the server`,
      unpadded: S,
      key: S,
      keyInText: `curl -H "x-key: ${S}"`,
      dotted: S,
      amex: S,
    });
  });

  it('look-alikes stay: prose after "Basic", base64 without a user:password, decimals, versions, dates, IPs', () => {
    const args = {
      prose: 'Basic information about the refund',
      helloWorld: 'Basic SGVsbG8gd29ybGQh', // "Hello world!": no `:`
      pi: '3.141592653589793',
      version: '4.1.12',
      date: '2026.12.01',
      ip: '255.255.255.255',
      notLuhn: '4111.1111.1111.1112',
      shortMdt: 'mdt_config_table',
    };
    expect(redact(args)).toEqual(args);
  });
});

describe('named credentials in free text', () => {
  it('accessToken=, refreshToken=, a password with any prefix, Authorization: Basic', () => {
    // What follows a credential name goes with its value, to the end of the text (redact-pieces.test.ts).
    for (const [text, redacted] of [
      ['use accessToken=ya29LEAK24abcdef and more', `use accessToken=${S}`],
      ['and refreshToken=1//LEAK25abcdef', `and refreshToken=${S}`],
      ['and Authorization: Basic dXNlcjpMRUFLMjY= and more', `and Authorization: ${S} and more`],
      ['and mypassword=LEAK27hunter', `and mypassword=${S}`],
      ['then access_token: ab12cd34ef, more', `then access_token: ${S}`],
      ['refresh-token="x9y8z7w6", more', `refresh-token="${S}`],
      ['newPassword=c0rrect!', `newPassword=${S}`],
    ])
      expect(redactText(text!), text).toBe(redacted);
    expect(redactText(`the bot key is ${MANDATE_KEY}, card 4111.1111.1111.1111`)).toBe(
      `the bot key is ${S}, card ${S}`,
    );
  });

  it('prose and counts stay', () => {
    for (const prose of [
      'Basic authentication is required by the upstream',
      'the access token: expired yesterday',
      'set max_tokens=4096 and tokens_used=1200',
      'mytoken=abc12345',
      'version 4.1.12 of 2026.12.01, pi is 3.141592653589793',
    ])
      expect(redactText(prose), prose).toBe(prose);
  });
});

describe('a password in a URL (a connection string under any key)', () => {
  it('goes; the scheme, user and host stay, in args and in free text', () => {
    expect(
      redact({
        dsn: 'postgres://app:hunter2@db.internal:5432/prod',
        target: 'redis://:s3cretpw@cache:6379/0',
        note: 'clone https://deploy:ghtok3n@git.example/repo.git then run',
      }),
    ).toEqual({
      dsn: `postgres://app:${S}@db.internal:5432/prod`,
      target: `redis://:${S}@cache:6379/0`,
      note: `clone https://deploy:${S}@git.example/repo.git then run`,
    });
    expect(redactText('DATABASE_URL is mysql://root:Pa55@word@10.0.0.5/app, use it')).toBe(
      `DATABASE_URL is mysql://root:${S}@10.0.0.5/app, use it`,
    );
    expect(redactText('ws://:abcde@')).toBe(`ws://:${S}@`);
    expect('ws://:abcde@').toHaveLength(SHORTEST_SECRET);
  });

  it("goes whatever the scheme, the password or the user hold (the re-probe's cases)", () => {
    for (const [v, kept] of [
      ['ws://svc:Zq1wspass9x@chat.internal/socket', 'ws://svc:'],
      ['s3://AKIAEXAMPLE:Zq1s3secret9@bucket/key', 's3://AKIAEXAMPLE:'],
      ['postgres://app:Zq1sl/ash9pw@db/prod', 'postgres://app:'],
      ['redis://default:Zq1ha#sh9pw@cache:6379', 'redis://default:'],
      ['mysql://root:Zq1qu?est9pw@db/x', 'mysql://root:'],
      ["amqp://guest:Zq1qu'ote9pw@mq/", 'amqp://guest:'],
      [
        'postgres://admin@myserver:Zq1atuser9pw@myserver.postgres.database.azure.com/prod',
        'postgres://admin@myserver:',
      ],
    ] as const) {
      const out = redactText(`use ${v} now`);
      expect(out, v).toContain(`${kept}${S}@`);
      expect(out, v).not.toMatch(/Zq1/);
      expect(out.endsWith(' now'), v).toBe(true);
      expect(redact({ memo: v }).memo, v).not.toMatch(/Zq1/);
    }
  });

  it('URLs without a password stay: a user alone, a port, an email, a path with @', () => {
    for (const v of [
      'https://user@host.example/path',
      'https://host.example:8443/a@b',
      'postgres://db.internal:5432/prod',
      'mail alice@example.com at 10:30',
      'http://x.example/?q=a:b@c',
    ]) {
      expect(looksLikeSecret(v), v).toBe(false);
      expect(redactText(v)).toBe(v);
    }
  });
});

describe('the length shortcut still holds with the new shapes', () => {
  const PIECES = [
    'ftp://',
    'ws://',
    'u:',
    ':abcde',
    '@',
    '/',
    'Basic ',
    'basic\t',
    'dXNl',
    'cjpM',
    'YTpi',
    'mdt_',
    'password=',
    'accessToken=',
    'Token:',
    '4111',
    '.',
  ];
  const MORE = ['4', '1', ' ', '-', '_', ':', '=', 'a', 'Z', '9', '/', '+'];
  const text = fc
    .array(fc.constantFrom(...PIECES, ...MORE), { maxLength: 10 })
    .map((parts) => parts.join(''));

  it('looksLikeSecret and redactText equal every pattern run, short strings included', () => {
    expectShortcutAgrees(text);
  });

  it('the shortest Basic credential is caught right at the bound', () => {
    expect('Basic YTpiYw').toHaveLength(SHORTEST_SECRET); // "a:bc", unpadded
    expect(looksLikeSecret('Basic YTpiYw')).toBe(true);
    expect(redactText('Basic YTpiYw')).toBe(S);
  });
});

describe('secrets a probe found kept in clear (2026-12-02)', () => {
  it('vendor tokens: GitHub fine-grained, GitLab, npm, SendGrid, Google, Slack webhooks', () => {
    for (const [secret, before, after] of [
      ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP', 'gh ', ' ok'],
      ['glpat-xY3aBcDeFgHiJkLmNoPq', 'gitlab ', ' ok'],
      ['npm_abcdefghijklmnopqrstuvwxyz0123456789', 'npm ', ' ok'],
      ['SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg', 'sendgrid ', ' ok'],
      ['AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v', 'maps ', ' ok'],
    ] as const) {
      expect(redactText(`${before}${secret}${after}`), secret).toBe(`${before}${S}${after}`);
      expect(looksLikeSecret(secret), secret).toBe(true);
    }
    expect(
      redactText('post to https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx now'),
    ).toBe(`post to https://${S} now`);
    // Look-alikes stay: the prefixes alone, or too short to be the token.
    for (const prose of [
      'npm_modules and glpat-x',
      'SG.one.two',
      'AIza is not a key',
      'hooks.slack.com/services/',
    ])
      expect(redactText(prose), prose).toBe(prose);
  });

  it('an OpenPGP private key block goes with its body', () => {
    const block =
      '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0xyzABCDEF\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----';
    expect(redactText(`key: ${block} done`)).toBe(`key: ${S} done`);
    expect(redactText('-----BEGIN PGP PUBLIC KEY BLOCK-----')).toBe('-----BEGIN PGP PUBLIC KEY BLOCK-----');
  });

  it('card numbers grouped by no-break spaces (copied from web pages)', () => {
    for (const sep of ['\u00a0', '\u202f', '\u2007'])
      expect(redactText(`card ${['4111', '1111', '1111', '1111'].join(sep)} ok`), JSON.stringify(sep)).toBe(
        `card ${S} ok`,
      );
    // Not Luhn: stays.
    expect(redactText('ref 4111\u00a01111\u00a01111\u00a01112')).toBe(
      'ref 4111\u00a01111\u00a01111\u00a01112',
    );
  });

  it('key names of one-time codes, recovery material and other keys', () => {
    for (const k of [
      'mnemonic',
      'seedPhrase',
      'seed_phrase',
      'recoveryCode',
      'recovery_codes',
      'recoveryKey',
      'backupCodes',
      'totp',
      'mfaCode',
      'oneTimeCode',
      'one_time_password',
      'smsCode',
      'verificationCode',
      'securityAnswer',
      'privKey',
      'priv_key',
      'sshKey',
      'tls_key',
      'hmacKey',
      'clientKey',
      'secret_key',
      'pw',
    ])
      expect(isSecretKey(k), k).toBe(true);
    for (const k of [
      'sort_key',
      'keyId',
      'verification_status',
      'code',
      'zip_code',
      'recovery_time',
      'client_id',
    ])
      expect(isSecretKey(k), k).toBe(false);
    expect(redact({ seedPhrase: 'abandon ability able about above absent' })).toEqual({ seedPhrase: S });
  });
});
