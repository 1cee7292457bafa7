import { describe, expect, it } from 'vitest';
import { approvalDisplay } from '../../src/approvals/index.js';
import { HIDDEN_MARKER } from '../../src/kernel/index.js';

const base = {
  summary: 'Refund 900 to customer c-42',
  args: { customerId: 'c-42', amount: 900 },
  agent: 'support-bot',
  user: 'alice',
  action: 'payments.refund',
  resource: 'Customer::c-42',
};

describe('approvalDisplay: the approver’s view', () => {
  it('shows an ordinary approval as it is, flagging nothing', () => {
    expect(approvalDisplay(base)).toEqual({
      hidden: [],
      summary: 'Refund 900 to customer c-42',
      args: '{"customerId":"c-42","amount":900}',
      agent: 'support-bot',
      user: 'alice',
      action: 'payments.refund',
      resource: 'Customer::c-42',
    });
  });

  it('escapes and flags hidden characters in the args and in a raw summary stored before this version', () => {
    const to = 'mallory@evil.example\r\u001b[2KSend mail to alice@corp.example';
    const d = approvalDisplay({ ...base, summary: `Send mail to ${to}`, args: { to, note: 'a\u202Eb' } });
    expect(d.hidden).toEqual(['control', 'bidi']);
    expect(d.summary).toBe(
      `${HIDDEN_MARKER} (control): Send mail to mallory@evil.example\\u000D\\u001B[2KSend mail to alice@corp.example`,
    );
    expect(
      d.args.startsWith(`${HIDDEN_MARKER} (control, bidi): {"to":"mallory@evil.example\\r\\u001b[2K`),
    ).toBe(true);
    expect(d.args).toContain('"note":"a\\u202Eb"');
    // eslint-disable-next-line no-control-regex
    for (const v of Object.values(d)) if (typeof v === 'string') expect(v).not.toMatch(/[\r\u001b\u202E]/);
  });
});
