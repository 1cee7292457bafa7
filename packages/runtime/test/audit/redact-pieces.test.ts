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
    expect(redact({ cmd: 'login --user bob password="correct horse, battery; 4" --now' })).toEqual({
      cmd: `login --user bob password="${S}" --now`,
    });
    expect(redactText(`{"secret": 'a b;c1', "n": 2}`)).toBe(`{"secret": '${S}', "n": 2}`);
    // Unquoted, a value still ends at a space (prose after it stays).
    expect(redactText('use password=hunter22 then log in')).toBe(`use password=${S} then log in`);
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
