// Keys holding "." (decisions/args-keys.ts, grants/limits-dotted-keys.ts). Found by a black-box
// probe (2026-12-02): a grant limit `o.n <= 5` read 1 from `{"o": {"n": 1}, "o.n": 100}`, and the
// call went out with the literal "o.n" key to an upstream that reads keys as dotted paths (MongoDB's
// `$set`, lodash's `set`, Elasticsearch), which acted on o.n = 100. The narrowest rule that closes
// it: a dotted key is refused where its dotted reading lands on an arg the call also holds, or
// enters a name a schema declares; a grant limit never holds for a dotted key that reaches its arg.
import { describe, expect, it } from 'vitest';
import { dottedKeyReaches } from '../../src/grants/limits-dotted-keys.js';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
action "pay.transfer" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { amount: Long, payee?: { iban?: String }, meta?: { ref?: String } }, time: Time, intent?: String }
};
action "db.update" appliesTo { principal: [Agent, User], resource: Tool, context: { time: Time, intent?: String } };
`;
const POLICIES = {
  'p.cedar': `
@id("pay") permit (principal is Agent, action in [Action::"pay.transfer", Action::"db.update"], resource);
@id("no-mule") forbid (principal, action == Action::"pay.transfer", resource)
when { context.args has payee && context.args.payee has iban && context.args.payee.iban == "MULE" };
`,
};
const TOOLS = [
  {
    action: 'pay.transfer',
    inputSchema: {
      type: 'object',
      properties: {
        amount: { type: 'integer' },
        payee: { $ref: '#/$defs/Payee' },
        lines: { type: 'array', items: { type: 'object', properties: { qty: { type: 'integer' } } } },
        // A property whose name holds a ".": the tool means the key as it is.
        'x.trace': { type: 'string' },
      },
      allOf: [{ properties: { memo: { type: 'object', properties: { note: { type: 'string' } } } } }],
      $defs: { Payee: { type: 'object', properties: { iban: { type: 'string' } } } },
      required: ['amount'],
    },
  },
  // A MongoDB-style update: a free-form document.
  { action: 'db.update', inputSchema: { type: 'object' } },
];

const harness = () => decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS });

describe('a dotted key landing on an arg the call also holds is refused, wherever it is', () => {
  it('invalid_args naming the path; the record names the place by the schema only', async () => {
    const h = await harness();
    for (const [args, path, at] of [
      [{ doc: { o: { n: 1 }, 'o.n': 100 } }, 'args.doc', 'args.doc.o.n'],
      // Deeper readings, two dotted keys on one arg, an array's element by its index, a fold.
      [{ doc: { o: { 'n.m': 1 }, 'o.n': { m: 100 } } }, 'args.doc.o.n', 'args.doc.o.n.m'],
      [{ a: { 'o.n': 1 }, 'a.o.n': 100 }, 'args', 'args.a.o.n'],
      [{ items: [{ a: 1 }], 'items.0.a': 100 }, 'args', 'args.items.0.a'],
      [{ set: { 'Status.x': 1, status: { x: 2 } } }, 'args.set.status', 'args.set.status.x'],
    ] as const) {
      const e = (await h.refusal('db.update', args)) as {
        code: string;
        message: string;
        details?: { path?: string };
        recorded?: string;
      };
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.message, JSON.stringify(args)).toBe(
        `${at}: two args of the call are at this path when keys holding "." are read as dotted paths, as MongoDB, lodash's set and Elasticsearch read them ({"o.n": …} as {"o": {"n": …}}); the policies and limits read one, such an upstream could act on the other`,
      );
      expect(e.details, JSON.stringify(args)).toEqual({ path });
      expect(e.recorded).toMatch(
        /^args(\[\*\])+: two args at one path when keys holding "." are read as dotted paths$/,
      );
    }
  });

  it('the key is never recorded (it may be a secret)', async () => {
    const h = await harness();
    const secret = 'sk_live_DOTLEAK42abcdef';
    const e = (await h.refusal('db.update', {
      headers: { [secret]: { v: 1 }, [`${secret}.v`]: 2 },
    })) as { message: string; recorded?: string };
    expect(e.message).toContain(secret);
    expect(e.recorded).toBe(
      'args[*][*]: two args at one path when keys holding "." are read as dotted paths',
    );
  });

  it('dotted keys landing nowhere else are data, answered as sent', async () => {
    const h = await harness();
    const args = {
      files: { 'config.yaml': 'a: 1', config: 'x', 'a.b': { c: 1 }, a: { d: 1 }, '.env': 'k', 'x.': 1 },
      hosts: ['example.com', { 'api.example.com': 1, 'example.com': 2 }],
    };
    const out = await h.decide('db.update', args);
    expect(out.decision.effect).toBe('allow');
    expect(out.args).toEqual(args);
  });
});

describe('a dotted key entering a declared name is refused, the declared arg sent or not', () => {
  it('declared by the tool (through $ref, allOf, array items) or the policy schema, a fold away or not', async () => {
    const h = await harness();
    expect((await h.decide('pay.transfer', { amount: 5, payee: { iban: 'GOOD' } })).decision.effect).toBe(
      'allow',
    );
    expect((await h.decide('pay.transfer', { amount: 5, payee: { iban: 'MULE' } })).decision.effect).toBe(
      'deny',
    );
    for (const [args, path, name] of [
      // The forbid on payee.iban saw no payee.
      [{ amount: 5, 'payee.iban': 'MULE' }, 'args', 'payee'],
      [{ amount: 5, payee: { iban: 'GOOD' }, 'payee.x': 'MULE' }, 'args', 'payee'],
      [{ amount: 5, 'Payee.iban': 'MULE' }, 'args', 'payee'],
      [{ amount: 5, 'memo.note': 'x' }, 'args', 'memo'],
      [{ amount: 5, lines: [{ 'qty.n': 1 }] }, 'args.lines[0]', 'qty'],
      [{ amount: 5, 'lines.0.qty': 9 }, 'args', 'lines'],
      // The policy schema's meta.ref (the tool declares no meta).
      [{ amount: 5, meta: { 'ref.x': 'y' } }, 'args.meta', 'ref'],
      [{ amount: 5, 'amount.x': 1 }, 'args', 'amount'],
    ] as const) {
      const e = (await h.refusal('pay.transfer', args)) as {
        code: string;
        message: string;
        details?: { path?: string };
        recorded?: string;
      };
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.message, JSON.stringify(args)).toMatch(
        new RegExp(`is inside the declared "${name}", which the policies and limits read as sent nested$`),
      );
      expect(e.details).toEqual({ path });
      expect(e.recorded).toMatch(
        new RegExp(`: a key holding "\\." whose dotted reading is inside the declared "${name}"$`),
      );
    }
  });

  it('a key the schema declares with its "." is the tool\'s own, and an undeclared head is data', async () => {
    const h = await harness();
    const out = await h.decide('pay.transfer', {
      amount: 5,
      'x.trace': 't-1',
      'build.id': 'b-1',
      payee: { iban: 'GOOD' },
      // memo declares note; the policy schema does not type memo (a declared record is closed).
      memo: { note: 'n', 'bank.bic': 'X' },
    });
    expect(out.decision.effect).toBe('allow');
  });
});

describe("dottedKeyReaches: what the grant check counts as sending a limit's arg with a dotted key", () => {
  it('a dotted key reaching the arg or going inside it, at any depth; never the nested arg alone', () => {
    for (const args of [
      { 'o.n': 100 },
      { 'o.n.x': 1 },
      { o: { 'n.x': 1 } },
      { 'o.n': { x: 1 } },
      { o: { n: 1 }, 'o.n': 1 },
    ])
      expect(dottedKeyReaches(args, 'o.n'), JSON.stringify(args)).toBe(true);
    expect(dottedKeyReaches({ 'a.o': { n: 1 } }, 'a.o.n')).toBe(true);
    for (const args of [
      { o: { n: 100 } },
      { o: { 'm.n': 1 } },
      { 'o.m': 1, 'x.o.n': 1 },
      { o: [{ 'n.x': 1 }] },
      { 'o.nn': 1 },
      {},
    ])
      expect(dottedKeyReaches(args, 'o.n'), JSON.stringify(args)).toBe(false);
    // A path with one name: only a dotted key starting with it.
    expect(dottedKeyReaches({ amount: 5 }, 'amount')).toBe(false);
    expect(dottedKeyReaches({ 'amount.x': 5 }, 'amount')).toBe(true);
  });
});
