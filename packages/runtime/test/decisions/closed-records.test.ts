// Unit level of test/integration/closed-records.test.ts: a record the policy schema declares is
// closed (an undeclared attribute inside it is refused, as Cedar's request and entity validation
// refuse it), and an attribute named `__proto__` is declared, and so checked, like any other.
import { describe, expect, it } from 'vitest';
import { MandateError, parseJsonStrict } from '../../src/kernel/index.js';
import { createCedarEngine } from '../../src/policy/index.js';
import type { PolicyEntity } from '../../src/policy/port.js';
import { typesFromSchemaJson } from '../../src/policy/schema-types.js';
import { argsForPolicy } from '../../src/decisions/typed-args.js';
import { entityTypeFault } from '../../src/decisions/typed-entities.js';

const SCHEMA = `
type Target = { kind: String, id: String };
entity Agent = {
  profile?: { level: Long, team: String }, profiles?: Set<{ level: Long }>, "__proto__"?: String
};
entity Tool;
action "a" appliesTo {
  principal: Agent, resource: Tool,
  context: { args: {
    target?: Target, targets?: Set<Target>, deep?: { inner: { x: Long } },
    r?: { "__proto__": String, a: String }, opt?: { need: String, maybe?: decimal }
  } }
};
`;

const set = createCedarEngine().compile({ policies: {}, schema: SCHEMA });
const argsType = set.argsType('a');

/** The args as the HTTP API reads them (an own `__proto__` key stays data). */
const json = (text: string) => parseJsonStrict(text) as Record<string, unknown>;

function refusal(args: Record<string, unknown>): MandateError {
  try {
    argsForPolicy(args, argsType);
  } catch (err) {
    if (err instanceof MandateError) return err;
    throw err;
  }
  throw new Error(`not refused: ${JSON.stringify(args)}`);
}

describe('argsForPolicy: a declared record is closed', () => {
  it('an undeclared attribute at any depth of a declared record is invalid_args naming its path', () => {
    for (const [args, path] of [
      [{ target: { kind: 'db', id: 'prod', x: 1 } }, 'args.target.x'],
      [
        {
          targets: [
            { kind: 'db', id: 'a' },
            { kind: 'db', id: 'prod', x: null },
          ],
        },
        'args.targets[1].x',
      ],
      [{ deep: { inner: { x: 1, y: 2 } } }, 'args.deep.inner.y'],
      [{ deep: { inner: { x: 1 }, y: 2 } }, 'args.deep.y'],
      [{ opt: { need: 'n', other: 'o' } }, 'args.opt.other'],
    ] as const) {
      const e = refusal(args);
      expect(e.code, path).toBe('invalid_args');
      expect(e.message).toBe(`${path}: not declared by the schema`);
      expect(e.details).toEqual({ path });
    }
    // An undeclared `__proto__` key (an own one, as JSON gives it) is refused too.
    expect(refusal(json('{"target":{"kind":"db","id":"prod","__proto__":{"x":1}}}')).message).toBe(
      'args.target.__proto__: not declared by the schema',
    );
  });

  it('records with only declared keys, optional ones absent, and top-level undeclared args pass as before', () => {
    const args = {
      target: { kind: 'db', id: 'prod' },
      targets: [{ kind: 'db', id: 'prod' }],
      deep: { inner: { x: 1 } },
      opt: { need: 'n' },
      extra: { anything: [1, { goes: true }] },
    };
    // Nothing to convert: the same object back.
    expect(argsForPolicy(args, argsType)).toBe(args);
    // A conversion inside a record still happens (decimal), keeping the other keys.
    expect(argsForPolicy({ opt: { need: 'n', maybe: 2 } }, argsType)).toEqual({
      opt: { need: 'n', maybe: { __extn: { fn: 'decimal', arg: '2.0' } } },
    });
  });

  it('a declared attribute named __proto__ is type-checked', () => {
    expect(argsForPolicy(json('{"r":{"__proto__":"x","a":"y"}}'), argsType)).toEqual(
      json('{"r":{"__proto__":"x","a":"y"}}'),
    );
    const e = refusal(json('{"r":{"__proto__":["root"],"a":"x"}}'));
    expect(e.message).toBe('args.r.__proto__: the policy schema declares String; got an array');
    expect(e.details).toEqual({ path: 'args.r.__proto__' });
  });
});

describe('typesFromSchemaJson: an attribute named __proto__ is declared', () => {
  it('as an own attribute of the record, in args and in entity shapes', () => {
    const r = argsType?.kind === 'record' ? argsType.attributes['r'] : undefined;
    expect(r?.kind).toBe('record');
    const attrs = r?.kind === 'record' ? r.attributes : {};
    expect(Object.hasOwn(attrs, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.keys(attrs).sort()).toEqual(['__proto__', 'a']);
    const shape = set.entityShape('Agent');
    expect(shape?.kind === 'record' && Object.hasOwn(shape.attributes, '__proto__')).toBe(true);
  });

  it('names looked up in the schema never find what Object.prototype holds', () => {
    const types = typesFromSchemaJson({
      '': {
        entityTypes: {},
        actions: {
          a: {
            appliesTo: {
              context: {
                type: 'Record',
                attributes: {
                  args: {
                    type: 'Record',
                    attributes: {
                      s: { type: 'EntityOrCommon', name: 'toString' },
                      p: { type: 'EntityOrCommon', name: '__proto__' },
                    },
                  },
                },
              },
            },
          },
        },
      },
    });
    expect(types.args.get('a')).toEqual({
      kind: 'record',
      attributes: { s: { kind: 'other' }, p: { kind: 'other' } },
    });
  });
});

describe('entityTypeFault: a declared record attribute is closed', () => {
  const agent = (attrs: Record<string, unknown>): PolicyEntity[] => [
    { uid: { type: 'Agent', id: 'bot' }, attrs, parents: [] },
  ];

  it('an undeclared attribute inside it is a fault naming it', () => {
    expect(entityTypeFault(set, agent({ profile: { level: 1, team: 'red', since: 2020 } }))).toBe(
      'entity Agent::"bot" attribute profile.since: not declared by the policy schema',
    );
    expect(entityTypeFault(set, agent({ profiles: [{ level: 1 }, { level: 2, x: 'y' }] }))).toBe(
      'entity Agent::"bot" attribute profiles[1].x: not declared by the policy schema',
    );
  });

  it('declared keys only, an undefined (absent) one, and undeclared top-level attributes are fine', () => {
    expect(entityTypeFault(set, agent({ profile: { level: 1, team: 'red' } }))).toBeNull();
    expect(entityTypeFault(set, agent({ profile: { level: 1, team: 'red', since: undefined } }))).toBeNull();
    expect(entityTypeFault(set, agent({ nickname: { any: 'thing' } }))).toBeNull();
  });

  it('an entity attribute named __proto__ is type-checked', () => {
    expect(entityTypeFault(set, agent(json('{"__proto__":"x"}')))).toBeNull();
    expect(entityTypeFault(set, agent(json('{"__proto__":["x"]}')))).toBe(
      'entity Agent::"bot" attribute __proto__: the policy schema declares String; got a set',
    );
  });
});
