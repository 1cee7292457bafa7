import { describe, expect, it } from 'vitest';
import { actionFor } from '../src/adapters/actions.js';

describe('tool name → Mandate action', () => {
  it('maps by the explicit map, then namespace__verb, then a dotted name', () => {
    expect(actionFor('refund', { refund: 'payments.refund' })).toBe('payments.refund');
    expect(actionFor('payments__refund', undefined)).toBe('payments.refund');
    expect(actionFor('payments.refund', {})).toBe('payments.refund');
    expect(actionFor('x', () => 'crm.read')).toBe('crm.read');
  });

  it('a tool named after an Object prototype member is not mapped by the prototype: unknown_action, nothing runs', () => {
    for (const name of ['toString', 'constructor', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'])
      expect(() => actionFor(name, { refund: 'payments.refund' }), name).toThrow(
        expect.objectContaining({ code: 'unknown_action' }),
      );
  });
});
