import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../fixtures/cli.js';
import { POLICY_TEXT_LIMITS, checkPolicyTextBounds } from '../../src/policy/index.js';
import { SHAPES, admitted, largestAdmitted, policy } from './deep-text.js';
import { isAuthorized, policySetTextToParts, reinstantiateCedar } from '../../src/policy/cedar/wasm.js';
import { SCHEMA, source } from './fixtures.js';

/*
 * Issue 8 §6: the lexical bounds must refuse every shape of text that traps Cedar (measured on
 * cedar-wasm 4.13: ~130 brackets, ~300 levels of `+`, `&&`, `||`, `.attr`, `.contains()`, `if`),
 * admit what real policies look like, and — the property that matters — the deepest text of each
 * shape they admit must parse and evaluate without breaking the instance.
 */

function instanceWorks(): boolean {
  try {
    return policySetTextToParts('permit (principal, action, resource);').type === 'success';
  } catch {
    return false;
  }
}

afterEach(() => {
  // A failed case must not leave the next one a broken instance.
  if (!instanceWorks()) reinstantiateCedar();
});

describe('policy text bounds', () => {
  it.each(Object.keys(SHAPES))('refuses %s 3,000 deep, unparsed', (name) => {
    expect(admitted(SHAPES[name]!(3000))).toBe(false);
  });

  it.each(Object.keys(SHAPES))(
    'the deepest %s the bounds admit parses and evaluates without breaking Cedar',
    (name) => {
      const n = largestAdmitted(SHAPES[name]!);
      expect(n).toBeGreaterThan(0);
      const text = policy(SHAPES[name]!(n));
      expect(policySetTextToParts(text).type).toBe('success');
      const answer = isAuthorized({
        principal: { type: 'U', id: 'u' },
        action: { type: 'Action', id: 'x' },
        resource: { type: 'R', id: 'r' },
        context: { a: 1 },
        policies: { staticPolicies: text },
        entities: [],
      });
      expect(answer.type).toBe('success');
      expect(instanceWorks()).toBe(true);
    },
  );

  it('the deepest text of every shape the bounds admit also evaluates in a hot engine (optimised wasm, deep JS stack)', () => {
    ensureBuilt();
    const texts = Object.values(SHAPES).map((shape) => policy(shape(largestAdmitted(shape))));
    const r = spawnSync(
      process.execPath,
      [
        '--no-turbo-inlining',
        '--no-liftoff',
        join(dirname(fileURLToPath(import.meta.url)), 'hot-cedar-child.mjs'),
      ],
      { input: JSON.stringify(texts), encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(texts.map(() => 'success'));
  });

  it('admits what real policies look like', () => {
    const long = [
      '@id("wide")\n@reason("a long but ordinary policy")',
      'permit (principal is Agent, action in [Action::"payments.refund", Action::"payments.charge"], resource is Customer)',
      `when { ${Array(40).fill('principal.tenant == resource.tenant').join(' && ')} }`,
      `unless { resource.id in [${Array(5000)
        .fill(0)
        .map((_, i) => `"c-${i}"`)
        .join(', ')}] };`,
    ].join('\n');
    expect(checkPolicyTextBounds(source({ 'wide.cedar': long }))).toEqual([]);
    // Brackets and operators inside strings and comments are not counted.
    const quoted = `// ((((((((((((((((((((((((((((((((((((((((\n${policy(`context.s == "${'('.repeat(100)}\\"${'+'.repeat(200)}"`)}`;
    expect(checkPolicyTextBounds(source({ 'q.cedar': quoted }))).toEqual([]);
  });

  it('refuses a set too large or with too many policies, and a schema nested too deep', () => {
    expect(
      checkPolicyTextBounds(source({ 'big.cedar': 'x'.repeat(POLICY_TEXT_LIMITS.maxSetChars) }))[0]?.message,
    ).toMatch(/too large/);
    const many = Array(POLICY_TEXT_LIMITS.maxPolicies + 1)
      .fill('permit (principal, action, resource);')
      .join('\n');
    expect(checkPolicyTextBounds(source({ 'many.cedar': many }))[0]?.message).toMatch(/policies/);
    const deepSchema = `${SCHEMA}\ntype Deep = ${'Set<'.repeat(40)}Long${'>'.repeat(40)};`;
    expect(checkPolicyTextBounds(source({ 'ok.cedar': policy('true') }, deepSchema))[0]?.message).toMatch(
      /^schema: nested too deep/,
    );
  });

  it('names the file and the line', () => {
    const text = `permit (principal, action, resource);\n\n${policy(SHAPES.parentheses!(40))}`;
    expect(checkPolicyTextBounds(source({ 'deep.cedar': text }))).toEqual([
      { file: 'deep.cedar', message: expect.stringMatching(/^nested too deep at line 3/) },
    ]);
  });
});
