import { describe, expect, it } from 'vitest';
import { ERASED_SUMMARY, argRows, isErasedApproval } from '../src/display.js';

// What erasing a user leaves of their approvals (runtime audit/personal.ts): summary `[erased]`
// and each arg's value `erased`. The approval still binds the original call.
describe('an erased approval', () => {
  const erased = { summary: ERASED_SUMMARY, args: { customerId: 'erased', amount: 'erased' } };

  it('is recognised by its summary and every value together', () => {
    expect(isErasedApproval(erased)).toBe(true);
    // An agent's own text that reads `erased` is a value like any other.
    expect(isErasedApproval({ summary: 'Refund 1 to customer erased', args: { customerId: 'erased' } })).toBe(
      false,
    );
    expect(isErasedApproval({ summary: ERASED_SUMMARY, args: { customerId: 'erased', amount: 9000 } })).toBe(
      false,
    );
  });

  it('has its values hidden, not shown as the text `erased`', () => {
    expect(argRows(erased.args, { erased: true })).toEqual([
      { path: 'customerId', value: '', hidden: [], redacted: false, erased: true },
      { path: 'amount', value: '', hidden: [], redacted: false, erased: true },
    ]);
    expect(argRows(erased.args).map((r) => [r.path, r.value, r.erased])).toEqual([
      ['customerId', 'erased', undefined],
      ['amount', 'erased', undefined],
    ]);
  });
});
