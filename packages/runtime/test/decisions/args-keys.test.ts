// The keys of a call's args have one order and one spelling (decisions/args-keys.ts). Found by a
// black-box probe (2026-12-01): (1) the call hash sorts keys at every depth while the call went
// out in the agent's order, so an approval for `command: {"count": …, "drop": …}` ran
// `{"drop": …, "count": …}` — and a MongoDB-style tool, which reads the first key as the command,
// dropped the collection; (2) `{"payee": "acme", "PAYEE": "mule-666"}` passed a forbid on
// `context.args.payee == "mule-666"`, and an upstream decoding like Go's encoding/json
// (case-insensitive, last wins) paid mule-666.
import { describe, expect, it } from 'vitest';
import { parseJsonStrict } from '../../src/kernel/index.js';
import { foldKey } from '../../src/decisions/args-keys.js';
import { decisionHarness } from './harness.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
action "pay.transfer" appliesTo {
  principal: [Agent, User], resource: Tool,
  context: { args: { amount: Long, payee?: String, meta?: { ref?: String } }, time: Time, intent?: String }
};
action "db.command" appliesTo { principal: [Agent, User], resource: Tool, context: { time: Time, intent?: String } };
`;
const POLICIES = {
  'p.cedar': `
@id("pay") permit (principal is Agent, action == Action::"pay.transfer", resource);
@id("no-mule") forbid (principal, action == Action::"pay.transfer", resource)
when { context.args has payee && context.args.payee == "mule-666" };
@id("db-approved") @approval("approver")
permit (principal is Agent, action == Action::"db.command", resource);
`,
};
const TOOLS = [
  {
    action: 'pay.transfer',
    // As upstream MCP servers declare them: properties named, anything else allowed.
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'integer' }, payee: { type: 'string' }, memo: { $ref: '#/$defs/Memo' } },
      $defs: { Memo: { type: 'object', properties: { note: { type: 'string' } } } },
      required: ['amount'],
    },
  },
  {
    action: 'db.command',
    inputSchema: { type: 'object', properties: { db: { type: 'string' }, command: { type: 'object' } } },
    summary: 'Run a command on {db}',
  },
];

const harness = () => decisionHarness({ schema: SCHEMA, policies: POLICIES, tools: TOOLS });
/** The args as the HTTP API and the gateway read them (key order kept as written). */
const json = (text: string) => parseJsonStrict(text) as Record<string, unknown>;

describe('the args decided on have their keys in the order the call hash uses, at every depth', () => {
  it("the outcome's args, the approval shown and the call run with it are in one order, whatever the agent's", async () => {
    const h = await harness();
    const count = json('{"db":"crm","command":{"count":"customers","drop":"customers"}}');
    const drop = json('{"command":{"drop":"customers","count":"customers"},"db":"crm"}');
    const asked = await h.decide('db.command', count);
    expect(asked.decision.effect).toBe('approval_required');
    // Sorted as canonicalize sorts them: the text the approver reads is the text that runs.
    const canonical = '{"command":{"count":"customers","drop":"customers"},"db":"crm"}';
    expect(JSON.stringify(asked.args)).toBe(canonical);
    const id = asked.decision.approval!.id;
    expect(JSON.stringify((await h.approvals.get(id))!.args)).toBe(canonical);
    await h.approvals.vote(id, { id: 'frank', roles: ['approver'] }, 'approve', null, null);
    // The same call in another order is the same call (one hash): it may use the approval, and what
    // runs is the order that was approved, never the order the agent sent.
    const used = await h.decide('db.command', drop, { approvalId: id });
    expect(used.decision.effect).toBe('allow');
    expect(JSON.stringify(used.args)).toBe(canonical);
    expect(Object.keys(used.args.command as object)).toEqual(['count', 'drop']);
  });

  it('sorts inside arrays and nested records, keeps array order, and a __proto__ key stays data', async () => {
    const h = await harness();
    const out = await h.decide(
      'pay.transfer',
      json(
        '{"payee":"acme","amount":5,"memo":{"z":[{"b":1,"a":2},"x"],"note":"n","__proto__":{"y":1,"x":2}}}',
      ),
    );
    expect(out.decision.effect).toBe('allow');
    expect(JSON.stringify(out.args)).toBe(
      '{"amount":5,"memo":{"__proto__":{"x":2,"y":1},"note":"n","z":[{"a":2,"b":1},"x"]},"payee":"acme"}',
    );
    expect(Object.getPrototypeOf(out.args.memo)).toBe(Object.prototype);
  });
});

describe('keys that differ only in case or Unicode form are refused', () => {
  it('the allow and the deny of one payee', async () => {
    const h = await harness();
    expect((await h.decide('pay.transfer', { amount: 90, payee: 'acme-supplies' })).decision.effect).toBe(
      'allow',
    );
    expect((await h.decide('pay.transfer', { amount: 90, payee: 'mule-666' })).decision.effect).toBe('deny');
  });

  it('two keys of one object equal after folding: invalid_args naming the place, at any depth', async () => {
    const h = await harness();
    for (const [args, path] of [
      [{ amount: 90, payee: 'acme-supplies', PAYEE: 'mule-666' }, 'args'],
      // U+017F LONG S folds to s (Go's EqualFold joins them), fullwidth letters by NFKC.
      [{ amount: 90, payee: 'acme-supplies', ｐａｙｅｅ: 'mule-666' }, 'args'],
      [{ amount: 90, memo: { note: 'a', NOTE: 'b' } }, 'args.memo'],
      [{ amount: 90, extra: [{ ſx: 1, sx: 2 }] }, 'args.extra[0]'],
      [{ amount: 90, extra: { 'a\u200Bb': 1, ab: 2 } }, 'args.extra'],
      // U+1E9E ẞ lower-cases to ß, which folds to ss only in a second round (Go's EqualFold joins ẞ and ß).
      [{ amount: 90, extra: { straße: 'Okweg 1', 'stra\u1E9Ee': 'Dropstraße 9' } }, 'args.extra'],
    ] as const) {
      const e = await h.refusal('pay.transfer', args);
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.message).toMatch(/differ only in case or Unicode form/);
      expect(e.details).toEqual({ path });
    }
  });

  it('an undeclared key equal after folding to a declared one is refused, the declared one present or not', async () => {
    const h = await harness();
    for (const args of [
      { amount: 90, PAYEE: 'mule-666' },
      { amount: 90, Payee: 'mule-666' },
      // Declared by the tool's schema through a $ref.
      { amount: 90, memo: { Note: 'x' } },
      // Declared by the policy schema only (meta.ref).
      { amount: 90, meta: { REF: 'x' } },
    ]) {
      const e = await h.refusal('pay.transfer', args);
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.message).toMatch(/is not declared, and differs from the declared "\w+" only in case/);
    }
    // Undeclared keys that fold to nothing declared pass as before.
    expect(
      (await h.decide('pay.transfer', { amount: 90, memo: { other: 1 }, extra: 1 })).decision.effect,
    ).toBe('allow');
  });

  it('the reason given to the caller names the keys; the recorded one does not', async () => {
    const h = await harness();
    const secret = 'sk_live_FOLDLEAK42abcdef';
    const err = (await h.refusal('pay.transfer', {
      amount: 90,
      headers: { [secret]: 1, [secret.toUpperCase()]: 2 },
    })) as { message: string; recorded?: string };
    expect(err.message).toContain(secret);
    expect(err.recorded).toBe('args[*]: two keys of one object that differ only in case or Unicode form');
  });
});

describe('a NUL character (U+0000) in an arg is refused, in a value or a key, at any depth', () => {
  // A probe (2026-12-02): `{"payee": "mule-666\u0000x"}` and `{"payee": "acme", "payee\u0000": "mule-666"}`
  // passed a forbid on `context.args.payee == "mule-666"`; a tool that reads C strings stops at the
  // NUL and pays mule-666 (a json-c decoder also cuts the key there, and keeps the last duplicate).
  it('the value and the key forms, nested and in arrays: invalid_args naming the place', async () => {
    const h = await harness();
    for (const [args, path] of [
      [{ amount: 90, payee: 'mule-666\u0000x' }, 'args.payee'],
      [{ amount: 90, payee: 'acme-supplies', 'payee\u0000': 'mule-666' }, 'args'],
      [{ amount: 90, memo: { note: '\u0000' } }, 'args.memo.note'],
      [{ amount: 90, extra: ['ok', 'a\u0000b'] }, 'args.extra[1]'],
      [{ amount: 90, extra: [{ 'k\u0000': 1 }] }, 'args.extra[0]'],
    ] as const) {
      const e = await h.refusal('pay.transfer', args);
      expect(e.code, JSON.stringify(args)).toBe('invalid_args');
      expect(e.message).toMatch(/U\+0000/);
      expect(e.details).toEqual({ path });
    }
  });

  it("the reason recorded names the place by the schema, never the caller's key or value", async () => {
    const h = await harness();
    const secret = 'sk_live_NULLEAK42abcdef';
    const err = (await h.refusal('pay.transfer', { amount: 90, headers: { [`${secret}\u0000`]: 1 } })) as {
      recorded?: string;
    };
    expect(err.recorded).toBe('args[*]: a key holding U+0000 (NUL)');
    const value = (await h.refusal('pay.transfer', { amount: 90, payee: `${secret}\u0000` })) as {
      message: string;
      recorded?: string;
    };
    expect(value.message).not.toContain(secret);
    expect(value.recorded).toBe('args.payee: a string holding U+0000 (NUL)');
  });

  it('other control characters stay data: a newline or a tab in a value is allowed as before', async () => {
    const h = await harness();
    const out = await h.decide('pay.transfer', {
      amount: 90,
      payee: 'acme-supplies',
      memo: { note: 'a\nb\tc' },
    });
    expect(out.decision.effect).toBe('allow');
    expect((out.args.memo as { note: string }).note).toBe('a\nb\tc');
  });
});

describe('foldKey', () => {
  it('joins what case-insensitive decoders join', () => {
    for (const [a, b] of [
      ['payee', 'PAYEE'],
      ['s', '\u017F'],
      ['k', '\u212A'],
      ['σ', 'ς'],
      ['i', '\u0130'],
      ['i', '\u0131'],
      ['ǆ', 'ǅ'],
      ['é', 'e\u0301'],
      ['payee', 'pay\u00ADee'],
      ['ß', '\u1E9E'],
      ['straße', 'STRA\u1E9EE'],
      ['straße', 'stra\u1E9Ee'],
    ] as const)
      expect(foldKey(a), `${a} ${b}`).toBe(foldKey(b));
    expect(foldKey('payee')).not.toBe(foldKey('pay\u0435e'));
  });

  // The re-probe's check (2026-12-01), run on the source: every two code points a case-insensitive
  // regex (Unicode simple case folding, the orbits Go's EqualFold walks) takes as one fold alike,
  // and the fold is a fixed point of itself for every code point.
  it('joins every pair of code points simple case folding joins, and folding a fold changes nothing', () => {
    const orbit = new Map<string, Set<string>>();
    const link = (a: string, b: string) => {
      if (!orbit.has(a)) orbit.set(a, new Set());
      orbit.get(a)!.add(b);
    };
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const s = String.fromCodePoint(cp);
      for (const t of [s.toLowerCase(), s.toUpperCase()])
        if ([...t].length === 1 && t !== s) {
          link(s, t);
          link(t, s);
        }
    }
    const misses: string[] = [];
    for (const [a, linked] of orbit) {
      const candidates = new Set(linked);
      for (const b of linked) for (const c of orbit.get(b) ?? []) candidates.add(c);
      for (const b of candidates) {
        if (b === a || a > b) continue;
        if (new RegExp(`^\\u{${a.codePointAt(0)!.toString(16)}}$`, 'iu').test(b) && foldKey(a) !== foldKey(b))
          misses.push(`${a}/${b}`);
      }
    }
    expect(misses).toEqual([]);
    const unstable: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const folded = foldKey(String.fromCodePoint(cp));
      if (foldKey(folded) !== folded) unstable.push(cp.toString(16));
    }
    expect(unstable).toEqual([]);
  });
});
