// ADR 0027: a large policy set is parsed and strictly validated by cedar-wasm in a child process
// that exits after (its wasm memory goes with it). The analysis replays the child's answers; these
// tests read every set in a child (`readInChildFrom: 0`) and hold it to the live instance's reading:
// the same problems for the same invalid sets, the same policies, the same decisions, fallbacks and
// verification for the compiled engine — and a refusal for any answer the child was not asked for.
import { afterEach, describe, expect, it } from 'vitest';
import { isMandateError } from '../../src/kernel/index.js';
import {
  createCedarEngine,
  type CompiledPolicySet,
  type Divergence,
  type PolicySetSource,
} from '../../src/policy/index.js';
import { serialize } from 'node:v8';
import {
  createFrameReader,
  readInChild,
  readInChildAsync,
  validationId,
} from '../../src/policy/cedar/reader.js';
import { comparable, generateCase } from '../../src/bench/differential.js';
import { compiledEngine, request, source } from './fixtures.js';
import { turnsDuring } from '../fixtures/loop.js';

const live: CompiledPolicySet[] = [];
afterEach(() => {
  for (const s of live.splice(0)) s.dispose();
});
const keep = (s: CompiledPolicySet) => (live.push(s), s);

const inLive = createCedarEngine({ memoEntries: 0 });
const inChild = createCedarEngine({ memoEntries: 0, readInChildFrom: 0 });

/** Twelve policies in one file: Cedar answers them as policy0, policy1, policy10, policy11, policy2 … */
const many = Array.from(
  { length: 12 },
  (_, i) =>
    `@id("r${i}") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount <= ${(i + 1) * 100} };`,
).join('\n');

const VALID: Record<string, PolicySetSource> = {
  'several files, many policies in one': source({
    'b.cedar': many,
    'a.cedar': `@id("hold") forbid (principal, action, resource) when { resource.tags.contains("legal_hold") };`,
    'c.cedar': `permit (principal, action in Action::"crm", resource);\npermit (principal is User, action, resource);`,
  }),
  'annotations and an extension function': source({
    'p.cedar': `@id("ratio")\n@reason("small ratios")\n@approval("finance-manager")\npermit (principal, action, resource) when { context.args has ratio && context.args.ratio.lessThan(decimal("0.5")) };`,
  }),
  'no policies at all': source({}),
};

const INVALID: Record<string, PolicySetSource> = {
  'a policy that does not parse': source({
    'ok.cedar': many,
    'bad.cedar': 'permit (principal, action, resource',
  }),
  'a policy strict validation refuses': source({
    'a.cedar': many,
    'b.cedar': `@id("typo") permit (principal, action == Action::"payments.refund", resource) when { resource.tennant == "t1" };`,
    'c.cedar': `@id("cmp") permit (principal, action, resource) when { context.args.amount > "1" };`,
  }),
  'the same id twice': source({
    'a.cedar': many,
    'b.cedar': `@id("r3") forbid (principal, action, resource);`,
  }),
  'a template': source({ 'a.cedar': `permit (principal == ?principal, action, resource);` }),
  'a bad annotation': source({
    'a.cedar': `@id("q") @approval("x") @quorum("zero") permit (principal, action, resource);`,
  }),
  'a schema that does not parse': source({ 'a.cedar': many }, 'entity Agent {'),
  'an action in a namespace': source({ 'a.cedar': many }, 'namespace N { action "x"; }'),
};

describe('reading a set in a child process', () => {
  it.each(Object.keys(VALID))('a valid set (%s) reads the same as in the live instance', (name) => {
    const s = VALID[name]!;
    expect(inChild.validate(s)).toEqual({ ok: true });
    const a = keep(inLive.compile(s));
    const b = keep(inChild.compile(s));
    expect(b.version).toBe(a.version);
    expect(b.policies).toEqual(a.policies);
    expect(b.actions).toEqual(a.actions);
    expect([...b.attributeNames].sort()).toEqual([...a.attributeNames].sort());
  });

  it.each(Object.keys(INVALID))(
    'an invalid set (%s) is refused with the same code and the same problems',
    (name) => {
      const s = INVALID[name]!;
      // Cedar lists one policy's validation errors in no fixed order (the same instance answers
      // the same call in different orders): the problems are compared as a set.
      const problems = (e: ReturnType<typeof createCedarEngine>) => {
        const r = e.validate(s);
        expect(r.ok).toBe(false);
        return r.ok ? [] : r.problems.map((p) => JSON.stringify(p)).sort();
      };
      const expected = problems(inLive);
      expect(expected.length).toBeGreaterThan(0);
      expect(problems(inChild)).toEqual(expected);
      const refusal = (e: ReturnType<typeof createCedarEngine>) => {
        try {
          e.compile(s);
        } catch (err) {
          if (!isMandateError(err)) throw err;
          return { code: err.code, details: (err.details as object[]).map((p) => JSON.stringify(p)).sort() };
        }
        throw new Error('compiled an invalid set');
      };
      const r = refusal(inChild);
      expect(r).toEqual(refusal(inLive));
      expect(r.code).toBe('policy_invalid');
    },
  );

  it('the compiled engine answers like cedar-wasm on generated cases, the set read in a child', () => {
    const { engine: compiled } = compiledEngine({ readInChildFrom: 0 });
    let cases = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const g = generateCase(seed, 100);
      let reference: CompiledPolicySet;
      try {
        reference = keep(inLive.compile(g.source));
      } catch (err) {
        // The generator aims at well-typed policies, not always: the child must refuse it too.
        expect(isMandateError(err) && err.code).toBe('policy_invalid');
        expect(() => compiled.compile(g.source)).toThrow(/invalid/);
        continue;
      }
      const set = keep(compiled.compile(g.source));
      for (const req of g.requests) {
        expect(comparable(set.evaluate(req))).toEqual(comparable(reference.evaluate(req)));
        cases++;
      }
    }
    expect(cases).toBeGreaterThanOrEqual(300);
  }, 180_000);

  it('a policy the compiler does not handle is still left to cedar-wasm (allow and its deny)', () => {
    const { engine: compiled, fallbacks } = compiledEngine({ readInChildFrom: 0 });
    const set = keep(compiled.compile(VALID['annotations and an extension function']!));
    expect(set.evaluate(request({ args: { ratio: 0.25 } })).effect).toBe('approval_required');
    expect(set.evaluate(request({ args: { ratio: 0.75 } })).effect).toBe('deny');
    expect(fallbacks).toEqual([
      'a policy of this slice did not compile',
      'a policy of this slice did not compile',
    ]);
  });

  it('a request value the compiled evaluator does not read exactly still goes to cedar-wasm, its slice preparsed then', () => {
    const { engine: compiled, fallbacks } = compiledEngine({ readInChildFrom: 0 });
    const s = source({
      'p.cedar': `@id("p") permit(principal, action == Action::"payments.refund", resource) when { context.args has n && context.args.n * context.args.n - 9007199254740991 > 9007199254740991 };`,
    });
    const set = keep(compiled.compile(s));
    // Answered by the compiled evaluator: the slice is not in cedar-wasm yet.
    expect(set.evaluate(request({ args: { n: 3 } })).effect).toBe('deny');
    expect(fallbacks).toEqual([]);
    // A product beyond 2^53: cedar-wasm answers (preparsing the slice now), exactly.
    expect(set.evaluate(request({ args: { n: 3037000499 } })).effect).toBe('allow');
    expect(fallbacks).toHaveLength(1);
    expect(set.evaluate(request({ args: { n: 100000000 } })).effect).toBe('deny');
    expect(fallbacks).toHaveLength(2);
  });

  it('verification sampling still finds a wrong compiled allow, and the switch to cedar-wasm still denies it', async () => {
    const found: Divergence[] = [];
    const { engine: e } = compiledEngine({
      readInChildFrom: 0,
      verifySample: 1,
      switchOnDivergence: true,
      onDivergence: (d) => found.push(d),
      // A compiler that forgets the conditions: a wrong allow.
      compileHook: (json) => ({ ...(json as Record<string, unknown>), conditions: [] }),
    });
    const set = keep(
      e.compile(
        source({
          'p.cedar': `@id("small") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount <= 100 };`,
        }),
      ),
    );
    const refund = (amount: number) => request({ args: { customerId: 'c1', amount } });
    expect(set.evaluate(refund(5000)).effect).toBe('allow');
    await new Promise((r) => setImmediate(() => setImmediate(r)));
    expect(found).toHaveLength(1);
    expect(found[0]!.reference.effect).toBe('deny');
    expect(set.evaluate(refund(5000)).effect).toBe('deny');
    expect(set.evaluate(refund(50)).effect).toBe('allow');
  });
});

describe('the reader process answers only what it was asked', () => {
  const s = source({ 'a.cedar': many, 'b.cedar': `@id("x") forbid (principal, action, resource);` });
  const files = [s.policies['a.cedar']!, s.policies['b.cedar']!];
  /** The strict validation call the analysis makes for these policies. */
  const strictCall = (staticPolicies: Record<string, string>) => ({
    schema: s.schema,
    policies: { staticPolicies },
    validationSettings: { mode: 'strict' as const },
  });

  it("serves cedar-wasm's answers for the calls the analysis makes", () => {
    const reader = readInChild(s, files);
    expect(reader.checkParseSchema(s.schema).type).toBe('success');
    const parts = reader.policySetTextToParts(files[0]!);
    expect(parts.type === 'success' && parts.policies.length).toBe(12);
    if (parts.type !== 'success') return;
    expect(reader.policyToJson(parts.policies[0]!).type).toBe('success');
    const staticPolicies: Record<string, string> = {};
    parts.policies.forEach((p, k) => (staticPolicies[validationId(0, k)] = p));
    const b = reader.policySetTextToParts(files[1]!);
    if (b.type !== 'success') throw new Error('b.cedar did not parse');
    staticPolicies[validationId(1, 0)] = b.policies[0]!;
    const answer = reader.validate(strictCall(staticPolicies));
    expect(answer.type === 'success' && answer.validationErrors).toEqual([]);
  });

  it('refuses (throws) for any other input: another schema, text, set or mode', () => {
    const reader = readInChild(s, files);
    expect(() => reader.checkParseSchema(`${s.schema}\n`)).toThrow(/did not read/);
    expect(() => reader.policySetTextToParts('permit (principal, action, resource);')).toThrow(
      /did not read/,
    );
    expect(() => reader.policyToJson('permit (principal, action, resource);')).toThrow(/did not read/);
    const parts = reader.policySetTextToParts(files[0]!);
    if (parts.type !== 'success') throw new Error('a.cedar did not parse');
    const staticPolicies: Record<string, string> = {};
    parts.policies.forEach((p, k) => (staticPolicies[validationId(0, k)] = p));
    // A set without b.cedar's forbid: not what the child validated.
    expect(() => reader.validate(strictCall(staticPolicies))).toThrow(/did not read/);
    staticPolicies[validationId(1, 0)] = 'permit (principal, action, resource);';
    expect(() => reader.validate(strictCall(staticPolicies))).toThrow(/did not read/);
  });

  it('a child that does not finish is a failure, not an answer', () => {
    expect(() => readInChild(s, files, { timeoutMs: 1 })).toThrow(/policy reader process failed/);
  });
});

// ADR 0034: a serving node compiles a large set with compileAsync, which reads it in the same child
// without blocking the event loop (compile's spawnSync held every request for the whole read:
// 7.6 s for 3,000 generated policies in a slow CPU period).
describe('compileAsync: the child read off the event loop', () => {
  const valid = Object.entries(VALID).slice(0, 2);
  for (const [name, src] of valid) {
    it(`the same set as compile, the loop turning meanwhile: ${name}`, async () => {
      const { result, turns } = await turnsDuring(() => inChild.compileAsync(src));
      const a = keep(result);
      const b = keep(inChild.compile(src));
      expect(a.version).toBe(b.version);
      expect(a.policies).toEqual(b.policies);
      // A child process takes tens of ms at least; compile's spawnSync gave the loop no turn at all.
      expect(turns).toBeGreaterThan(0);
      const req = request({ action: 'payments.refund', args: { amount: 150 } });
      expect(a.evaluate(req)).toEqual(b.evaluate(req));
      expect(await inChild.validateAsync(src)).toEqual({ ok: true });
    });
  }

  const invalid = Object.entries(INVALID).slice(0, 2);
  for (const [name, src] of invalid) {
    it(`the same problems as compile: ${name}`, async () => {
      const sync = (() => {
        try {
          inChild.compile(src);
        } catch (err) {
          return err;
        }
        throw new Error('compile accepted an invalid set');
      })();
      const async = await inChild.compileAsync(src).then(
        () => {
          throw new Error('compileAsync accepted an invalid set');
        },
        (err: unknown) => err,
      );
      expect(isMandateError(async) && async.code).toBe('policy_invalid');
      expect((async as { details?: unknown }).details).toEqual((sync as { details?: unknown }).details);
      // POST /v1/policies/validate's reading, off the loop too.
      const checked = await inChild.validateAsync(src);
      expect(checked).toEqual(inChild.validate(src));
      expect(checked.ok).toBe(false);
    });
  }

  it('a child that does not finish is a failure, not an answer', async () => {
    const src = VALID['several files, many policies in one']!;
    const files = Object.keys(src.policies)
      .sort()
      .map((f) => src.policies[f]!);
    await expect(readInChildAsync(src, files, { timeoutMs: 1 })).rejects.toThrow(
      /policy reader process failed/,
    );
  });
});

// The child writes its answers in frames as it makes them (a 4-byte length, then v8.serialize of
// a part), and the parent decodes each as it arrives: decoding them all at the child's exit was one
// block of ~0.5 s for 10,000 policies, after the child's seconds of work.
describe('the child’s answers, frame by frame', () => {
  const frame = (o: unknown): Buffer => {
    const body = serialize(o);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  };
  const frames = Buffer.concat([
    frame({
      parts: [['a', { type: 'success', policies: [], policy_templates: [] }]],
      json: [['p1', { type: 'success' }]],
    }),
    frame({ parts: [], json: [['p2', { type: 'failure' }]] }),
    frame({ parts: [], json: [], checkParseSchema: { type: 'success' }, thrown: 'boom' }),
  ]);

  it('merges the frames whatever the chunks they arrive in, down to one byte', () => {
    for (const size of [1, 3, 7, frames.length]) {
      const reader = createFrameReader();
      for (let i = 0; i < frames.length; i += size) reader.push(frames.subarray(i, i + size));
      expect(reader.end(), `chunks of ${size}`).toEqual({
        parts: [['a', { type: 'success', policies: [], policy_templates: [] }]],
        json: [
          ['p1', { type: 'success' }],
          ['p2', { type: 'failure' }],
        ],
        checkParseSchema: { type: 'success' },
        thrown: 'boom',
      });
    }
  });

  it('output cut inside a frame (header or body) is a failure, not fewer answers', () => {
    for (const cut of [2, 10, frames.length - 1]) {
      const reader = createFrameReader();
      reader.push(frames.subarray(0, cut));
      expect(() => reader.end(), `cut at ${cut}`).toThrow(/cut short/);
    }
  });

  it('a set of many frames reads as in the live instance', async () => {
    const rules = Array.from(
      { length: 600 },
      (_, i) =>
        `@id("r${i}") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount < ${i} };`,
    ).join('\n');
    const big = source({
      'big.cedar': rules,
      'f.cedar': `@id("f") forbid (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount == 7 };`,
    });
    const a = keep(await inChild.compileAsync(big));
    const b = keep(inLive.compile(big));
    expect(a.policies).toHaveLength(601);
    expect(a.policies).toEqual(b.policies);
    for (const amount of [7, 150, 599, 600]) {
      const req = request({ action: 'payments.refund', args: { amount } });
      expect(a.evaluate(req), String(amount)).toEqual(b.evaluate(req));
    }
  });
});
