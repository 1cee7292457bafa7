import { describe, expect, it } from 'vitest';
import { createCedarEngine } from '../../src/policy/index.js';

const SCHEMA = `
namespace Acme { type Money = decimal; type Pair = { a: Money, b: Long }; entity Thing; }
type Args = {
  amount?: Long, ratio?: decimal, price: Acme::Money, pair: Acme::Pair, list: Set<decimal>,
  nested: { x: decimal, y: __cedar::decimal, z: Bool }, path: String, who: Agent, ip: ipaddr,
  thing: Acme::Thing, at: datetime, wait: duration
};
type Ctx = { args: Args, time: Long };
entity Agent; entity Customer;
action "a.common" appliesTo { principal: [Agent], resource: [Customer], context: Ctx };
action "a.inline" appliesTo { principal: [Agent], resource: [Customer], context: { args: { amount: decimal } } };
action "a.noargs" appliesTo { principal: [Agent], resource: [Customer], context: { time: Long } };
action "a.nocontext" appliesTo { principal: [Agent], resource: [Customer] };
`;

describe('CompiledPolicySet.argsType: what the schema says of context.args', () => {
  const set = createCedarEngine().compile({ policies: {}, schema: SCHEMA });

  it('resolves common types, namespaced types, sets, records and extension types', () => {
    expect(set.argsType('a.common')).toEqual({
      kind: 'record',
      attributes: {
        amount: { kind: 'long' },
        ratio: { kind: 'decimal' },
        price: { kind: 'decimal' },
        pair: { kind: 'record', attributes: { a: { kind: 'decimal' }, b: { kind: 'long' } } },
        list: { kind: 'set', element: { kind: 'decimal' } },
        nested: {
          kind: 'record',
          attributes: { x: { kind: 'decimal' }, y: { kind: 'decimal' }, z: { kind: 'bool' } },
        },
        path: { kind: 'string' },
        who: { kind: 'entity', type: 'Agent' },
        ip: { kind: 'extension', fn: 'ip' },
        thing: { kind: 'entity', type: 'Acme::Thing' },
        at: { kind: 'extension', fn: 'datetime' },
        wait: { kind: 'extension', fn: 'duration' },
      },
    });
  });

  it('reads an inline context record', () => {
    expect(set.argsType('a.inline')).toEqual({ kind: 'record', attributes: { amount: { kind: 'decimal' } } });
  });

  it('is undefined for an action without args, without context, or unknown', () => {
    expect(set.argsType('a.noargs')).toBeUndefined();
    expect(set.argsType('a.nocontext')).toBeUndefined();
    expect(set.argsType('a.unknown')).toBeUndefined();
  });
});
