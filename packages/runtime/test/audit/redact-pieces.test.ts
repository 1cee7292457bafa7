// SECURITY (probe f1): a string arg that CONTAINED a secret-shaped piece was replaced whole by
// `[REDACTED:secret]`, so an agent could hide any value — a recipient, an IBAN, a command — from
// its approver and from the audit trail by putting `sk-…` in it. Only the secret-shaped pieces of
// a string go now; a value that is nothing but the secret, a number, and the value under a secret
// key still go whole; and no piece of a secret is left (the guarantees of redact.test.ts hold).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  REDACTED_SECRET as S,
  changedPaths,
  createRedactor,
  looksLikeSecret,
  redactText,
} from '../../src/audit/redact.js';

const redact = createRedactor({ paths: [] });
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWhlcmU';
const MANDATE_KEY = 'mdt_tH52KuPMosVvFGWlv0sQmgtVEItxKPqI';

/** One secret of every shape, as found on its own. */
const SECRETS = [
  'sk-proj-AAAAAAAAAAAAAAAAAAAA',
  JWT,
  'Bearer abc123DEF456ghi789',
  'Basic dXNlcjpMRUFLMzI=',
  'AKIAIOSFODNN7EXAMPLE',
  'sk_live_51Habcdefghijklmno',
  'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'xoxb-1234567890-abcdefghij',
  MANDATE_KEY,
  '4111 1111 1111 1111',
  '4111.1111.1111.1111',
  '5500-0000-0000-0004',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
];

describe('the probe: a key-shaped piece no longer hides the whole value', () => {
  it('keeps the recipient and replaces the key', () => {
    const to = '"sk-proj-AAAAAAAAAAAAAAAAAAAA" <mallory@evil2.example>';
    expect(redact({ to, body: 'Q3 payroll export attached' })).toEqual({
      to: `"${S}" <mallory@evil2.example>`,
      body: 'Q3 payroll export attached',
    });
  });

  it('a value that is nothing but the secret is still replaced whole, whatever its shape', () => {
    for (const secret of SECRETS) expect(redact({ v: secret }), secret).toEqual({ v: S });
  });

  it('a number, a value under a secret key and a configured path still go whole', () => {
    expect(
      createRedactor({ paths: ['memo'] })({
        amount: 4111111111111111,
        password: 'my password is hunter2 <ok>',
        memo: 'plain text',
        payee: 'p1',
      }),
    ).toEqual({ amount: S, password: S, memo: '[REDACTED]', payee: 'p1' });
  });

  it('redacts the piece inside nested objects and arrays, and the tracking form notes the path', () => {
    const args = { mail: { cc: ['a@corp.example', `${MANDATE_KEY} <b@corp.example>`] } };
    const changed: string[] = [];
    const copy = redact.tracking(args, undefined, 'context.args', changed);
    expect(copy).toEqual({ mail: { cc: ['a@corp.example', `${S} <b@corp.example>`] } });
    expect(changed).toEqual(['context.args.mail.cc.1']);
    const compared: string[] = [];
    changedPaths(args, copy, 'context.args', compared);
    expect(compared).toEqual(changed);
  });
});

describe('no piece of a secret is left', () => {
  it('a passphrase in quotes goes with its spaces, commas and semicolons, up to its closing quote', () => {
    // With the rest of the text: what follows a credential name is taken for secret (below).
    expect(redact({ cmd: 'login --user bob password="correct horse, battery; 4" --now' })).toEqual({
      cmd: `login --user bob password="${S}`,
    });
    expect(redactText(`{"secret": 'a b;c1', "n": 2}`)).toBe(`{"secret": '${S}`);
    expect(redactText('use password=hunter22 then log in')).toBe(`use password=${S}`);
  });

  it('a shape a replacement uncovers is taken too (a key glued to a card number)', () => {
    // The digits hide the key's word boundary until the card number is gone: one pass left the key.
    const v = '4111111111111111sk-proj-AAAAAAAAAAAAAAAAAAAA to mallory';
    const out = redact({ v }).v as string;
    expect(out).toBe(`${S}${S} to mallory`);
    expect(looksLikeSecret(out)).toBe(false);
  });

  it('any secret between any harmless text: the text stays, the secret goes, nothing of it is left', () => {
    // No `b`: `bearer` or `basic` before a token would take it as the scheme's (and rightly go with it).
    const text = fc.stringMatching(/^[ac-z <>@."()]{0,20}$/);
    fc.assert(
      fc.property(text, fc.constantFrom(...SECRETS), text, (before, secret, after) => {
        const v = `${before} ${secret} ${after}`;
        const out = redact({ v }).v as string;
        expect(out).toBe(`${before} ${S} ${after}`);
        expect(looksLikeSecret(out)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

// SECURITY (re-probe f4): the value of a named credential ended at a comma, semicolon, quote or
// blank, and what followed stayed in clear (`db password=[REDACTED:secret],horse-battery-staple9`);
// an escaped quote kept a quoted one whole in clear. Where such a value ends cannot be known, so
// everything after a credential name goes, to the end of the string; value-SHAPED secrets still go
// piece by piece (the tests above).
describe('the tail after a credential name goes with it', () => {
  it('whatever separates the value’s pieces', () => {
    for (const [v, kept] of [
      ['db password=Tr0ub4dor,horse-battery-staple9', 'db password='],
      ['db password=Tr0ub4dor;horse-battery-staple9', 'db password='],
      ['password=Tr0ub4"dor&horse-battery-staple9', 'password='],
      ["password=Tr0ub4'dor&horse", 'password='],
      ['password=Tr0ub4 dor&horse9', 'password='],
      ['password:\tS3cr3t\ttail9', 'password:\t'],
      ['client_secret=abc123\nrest-of-secret-on-next-line', 'client_secret='],
      ['api_key=sk-live-AAAA BBBB CCCC 1234', 'api_key='],
      ['{"password":"Tr0ub4dor horse battery 9"}', '{"password":"'],
      ['login --user bob password="correct horse, battery; 4" --now', 'login --user bob password="'],
    ]) {
      expect(redact({ v }).v, v).toBe(`${kept}${S}`);
      expect(redactText(v!), v).toBe(`${kept}${S}`);
    }
  });

  it('a quoted credential with an escaped quote in it', () => {
    expect(redact({ v: 'pw: password = "ab\\"cd horse 9"' }).v).toBe(`pw: password = "${S}`);
    expect(redact({ v: "{'password': 'it\\'s-a-s3cret'}" }).v).toBe(`{'password': '${S}`);
  });

  it('a value-shaped secret after a credential name takes the tail too', () => {
    // Replaced first, the key left `password=[REDACTED:secret]`, no credential any more, and the tail.
    expect(redact({ v: 'password=sk-proj-AAAAAAAAAAAAAAAAAAAA horse battery' }).v).toBe(`password=${S}`);
  });

  it('a recipient after a credential name is hidden too (the approver is told a value is hidden)', () => {
    expect(redact({ to: 'alice@corp.example, secret=x<mallory@evil2.example>' }).to).toBe(
      `alice@corp.example, secret=${S}`,
    );
    expect(redact({ to: 'access_token=q1@evil2.example' }).to).toBe(`access_token=${S}`);
  });

  it('prose after a credential word stays, and a secret-shaped piece before the name goes alone', () => {
    expect(redact({ v: 'the token: expired, ask again' }).v).toBe('the token: expired, ask again');
    expect(redact({ v: 'password="abc" is too short' }).v).toBe('password="abc" is too short');
    expect(redact({ v: `${MANDATE_KEY} then password=hunter22 tail` }).v).toBe(`${S} then password=${S}`);
  });
});
