import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCedarEngine, loadPolicyDir } from '../../src/policy/index.js';
import { CONTEXT_KEYS, agentEntity } from '../../src/decisions/index.js';

const root = join(import.meta.dirname, '../../../..');
const agent = (id: string, roles: string[]) =>
  agentEntity({ id, roles, status: 'active', attributes: { tenant: 'acme' } });

describe('couldPermit (tool visibility by partial evaluation)', async () => {
  const engine = createCedarEngine();
  const set = engine.compile(await loadPolicyDir(join(root, 'examples/fintech-support/policies')));

  it('is true when some permit could apply to this agent for some resource and context', () => {
    const support = agent('support-bot', ['support']);
    expect(set.couldPermit(support, 'crm.read_customer', CONTEXT_KEYS)).toBe(true);
    expect(set.couldPermit(support, 'payments.refund', CONTEXT_KEYS)).toBe(true);
    // Time windows and the user acted for are unknown here, so they never hide a tool.
    expect(set.couldPermit(agent('trade-bot', ['trading']), 'trade.place_order', CONTEXT_KEYS)).toBe(true);
  });

  it('is false when every permit is provably false for this agent (its roles), or the action is unknown', () => {
    const support = agent('support-bot', ['support']);
    expect(set.couldPermit(support, 'trade.place_order', CONTEXT_KEYS)).toBe(false);
    expect(set.couldPermit(support, 'hr.create_account', CONTEXT_KEYS)).toBe(false);
    expect(set.couldPermit(agent('trade-bot', ['trading']), 'crm.read_customer', CONTEXT_KEYS)).toBe(false);
    expect(set.couldPermit(support, 'crm.delete_customer', CONTEXT_KEYS)).toBe(false);
  });

  it('decides what the principal alone decides, and stays conservative on the unknowns', () => {
    const s = engine.compile({
      policies: {
        'p.cedar':
          '@id("u") permit (principal is Agent, action == Action::"crm.read_customer", resource) unless { principal.roles.contains("blocked") };\n' +
          '@id("c") permit (principal is Agent, action == Action::"crm.update_customer", resource) unless { context.args.force };\n',
      },
      schema:
        'entity Agent = { roles: Set<String> };\nentity Customer;\n' +
        'action "crm.read_customer" appliesTo { principal: [Agent], resource: Customer, context: {} };\n' +
        'action "crm.update_customer" appliesTo { principal: [Agent], resource: Customer, context: { args: { force: Bool } } };\n',
    });
    expect(s.couldPermit(agent('a', ['blocked']), 'crm.read_customer', [])).toBe(false);
    expect(s.couldPermit(agent('a', []), 'crm.read_customer', [])).toBe(true);
    // `unless` over an unknown context value: not provably false, so the tool stays visible.
    expect(s.couldPermit(agent('a', []), 'crm.update_customer', ['args'])).toBe(true);
  });
});
