// `mandate approvals list` as an approver reads it (from source; e2e/approvals-display.test.ts runs
// the built binary). Probe f1: an approval holding a redacted value said nothing about it, so a
// person approved a value unseen; probe f2: look-alike text was printed unflagged.
import { describe, expect, it } from 'vitest';
import { approvalLines } from '../../src/cli/approvals.js';

const approval = (over: Record<string, unknown>): Record<string, unknown> => ({
  id: 'apr_01',
  status: 'pending',
  action: 'mail.send',
  agent: 'bot-a',
  user: 'alice',
  role: 'manager',
  expiresAt: '2026-12-02T00:00:00.000Z',
  resource: null,
  summary: 'Send mail',
  args: { to: 'bob@corp.example', body: 'Q3 numbers' },
  ...over,
});

describe('approvalLines: values the approver cannot see are said to be hidden', () => {
  it('an ordinary approval has no warning', () => {
    const text = approvalLines(approval({}));
    expect(text).not.toContain('⚠');
    expect(text).toContain('args:     {"to":"bob@corp.example","body":"Q3 numbers"}');
  });

  it('a value with a redacted piece: the rest is shown and the approval says a value is hidden', () => {
    const text = approvalLines(
      approval({
        summary: 'Send mail to "[REDACTED:secret]" <mallory@evil2.example>',
        args: { to: '"[REDACTED:secret]" <mallory@evil2.example>', body: 'Q3 payroll export attached' },
      }),
    );
    expect(text).toContain('mallory@evil2.example');
    expect(text).toContain(
      '  ⚠ hidden by redaction: to — the call runs with the values the agent supplied; you are approving them unseen',
    );
  });

  it('a number redacted whole (a card-shaped amount), nested and in arrays, names each path', () => {
    const text = approvalLines(
      approval({
        action: 'pay.transfer',
        args: {
          amount: '[REDACTED:secret]',
          payee: { iban: '[REDACTED]', name: 'p1' },
          cc: ['a@corp.example', 'key [REDACTED:secret]'],
          'pay.ee': '[REDACTED]',
        },
      }),
    );
    expect(text).toContain('⚠ hidden by redaction: amount, payee.iban, cc[1], "pay.ee" — ');
  });

  it('an approval whose values were erased with the user’s personal data says so', () => {
    const text = approvalLines(approval({ summary: '[erased]', args: { to: 'erased', body: 'erased' } }));
    expect(text).toContain(
      "⚠ the values the agent supplied were erased with the user's personal data: you are approving them unseen",
    );
    // An agent that writes `erased` itself earns no erasure line (the summary is not `[erased]`).
    expect(approvalLines(approval({ args: { to: 'erased' } }))).not.toContain('⚠');
  });
});

describe('approvalLines: look-alike text is escaped and flagged (probe f2)', () => {
  it('a Cyrillic о in the recipient, a division slash, a Cyrillic key `tо`', () => {
    const text = approvalLines(
      approval({
        summary: 'Send mail to ceo@c\u043Erp.example',
        args: { 't\u043E': 'ceo@c\u043Erp.example', url: 'https://corp.example\u2215@evil.example' },
      }),
    );
    expect(text).toContain('  ⚠ hidden characters (lookalike, mixed-script) in this request');
    expect(text).toContain(
      'summary:  ⚠ hidden characters (mixed-script): Send mail to ceo@c\\u043Erp.example',
    );
    expect(text).toContain(
      'args:     ⚠ hidden characters (lookalike, mixed-script): {"t\\u043E":"ceo@c\\u043Erp.example","url":"https://corp.example\\u2215@evil.example"}',
    );
    expect(text).not.toMatch(/[\u043E\u2215]/);
  });
});
