// A redaction probe: the configured path `card.number` did not reach `card: [{number}]` (an array of
// cards), so the card number was kept in clear in the hashed record and the sink; and a credential
// named `passcode` (or DB_PASSWORD, access_token) in the agent's intent was not taken for one.
import { describe, expect, it } from 'vitest';
import { REDACTED, REDACTED_SECRET as S, createRedactor, redactText } from '../../src/audit/redact.js';

describe('a redaction path goes through the arrays on its way', () => {
  const args = {
    customerId: 'c-42',
    card: [
      { holder: 'Alice', number: 'CARDNUM-XYZ-555' },
      { holder: 'Bob', number: 'CARDNUM-ABC-777', extra: [{ number: 'kept: not on the path' }] },
    ],
  };

  it('card.number redacts the number of every card in card: [{number}], and nothing else', () => {
    expect(createRedactor({ paths: ['card.number'] })(args)).toEqual({
      customerId: 'c-42',
      card: [
        { holder: 'Alice', number: REDACTED },
        { holder: 'Bob', number: REDACTED, extra: [{ number: 'kept: not on the path' }] },
      ],
    });
    // Arrays within arrays too; and a path through an array that is not there changes nothing.
    expect(createRedactor({ paths: ['card.number'] })({ card: [[{ number: 'n' }]] })).toEqual({
      card: [[{ number: REDACTED }]],
    });
    expect(createRedactor({ paths: ['card.pin'] })(args)).toEqual(args);
  });

  it('an index segment still picks one item, * still any; the tracking form names the items it changed', () => {
    expect(createRedactor({ paths: ['card.1.number'] })(args).card).toEqual([
      { holder: 'Alice', number: 'CARDNUM-XYZ-555' },
      { holder: 'Bob', number: REDACTED, extra: [{ number: 'kept: not on the path' }] },
    ]);
    expect(createRedactor({ paths: ['card.*'] })(args).card).toEqual([REDACTED, REDACTED]);
    const changed: string[] = [];
    createRedactor({ paths: ['card.number'] }).tracking(args, undefined, 'context.args', changed);
    expect(changed).toEqual(['context.args.card.0.number', 'context.args.card.1.number']);
  });
});

describe('named credentials in free text', () => {
  it('passcode and its kin, and a name with a snake or kebab prefix, are credentials; prose passes', () => {
    // What follows a credential name goes with its value, to the end of the text (redact-pieces.test.ts).
    expect(redactText('customer passcode: 4711-93xq, verified')).toBe(`customer passcode: ${S}`);
    expect(redactText('pass-phrase="c0rrect-h0rse"')).toBe(`pass-phrase="${S}`);
    expect(redactText('pin_code=903-114, please')).toBe(`pin_code=${S}`);
    expect(redactText('set DB_PASSWORD=hunter22 and more')).toBe(`set DB_PASSWORD=${S}`);
    expect(redactText('and x-access-token: ab12cd34ef')).toBe(`and x-access-token: ${S}`);
    for (const prose of ['the passcode: expired', 'a passcode of his own', 'mytoken=abc12345'])
      expect(redactText(prose), prose).toBe(prose);
  });
});
