import { afterEach, describe, expect, it } from 'vitest';
import { isMandateError } from '../../src/kernel/index.js';
import { createCedarEngine, type CompiledPolicySet, type PolicyProblem } from '../../src/policy/index.js';
import { request, source } from './fixtures.js';

/**
 * A misspelt Mandate annotation is an ordinary custom annotation to Cedar (a probe): `@Approval`
 * made its permit a plain allow, `@Quorum("2")` a quorum of one, both with `{ ok: true }`. Near
 * misses are refused at validation; annotations of the user's own that are no near miss stay allowed.
 */
const engine = createCedarEngine();
const live: CompiledPolicySet[] = [];
afterEach(() => {
  for (const set of live.splice(0)) set.dispose();
});

const REFUND = `permit (principal, action == Action::"payments.refund", resource);`;

function problemsOf(annotations: string): PolicyProblem[] {
  const r = engine.validate(source({ 'p.cedar': `@id("the-policy") ${annotations}\n${REFUND}` }));
  return r.ok ? [] : r.problems;
}

describe('annotations that look like a Mandate annotation', () => {
  it.each([
    ['@Approval("dpo")', 'Approval', 'approval'],
    ['@APPROVAL("dpo")', 'APPROVAL', 'approval'],
    ['@aproval("dpo")', 'aproval', 'approval'],
    ['@approvals("dpo")', 'approvals', 'approval'],
    ['@apporval("dpo")', 'apporval', 'approval'],
    ['@approve("dpo")', 'approve', 'approval'],
    ['@requires_approval("dpo")', 'requires_approval', 'approval'],
    ['@approval_role("dpo")', 'approval_role', 'approval'],
    ['@approval("dpo") @Quorum("2")', 'Quorum', 'quorum'],
    ['@approval("dpo") @qorum("2")', 'qorum', 'quorum'],
    ['@approval("dpo") @min_quorum("2")', 'min_quorum', 'quorum'],
    ['@Reason("why")', 'Reason', 'reason'],
    ['@reasons("why")', 'reasons', 'reason'],
    ['@ID("x")', 'ID', 'id'],
    ['@Id("x")', 'Id', 'id'],
  ])(
    '%s is refused, naming the annotation, the policy and what it looks like',
    (annotations, name, meant) => {
      const problems = problemsOf(annotations);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ file: 'p.cedar', policyId: 'the-policy' });
      expect(problems[0]!.message).toBe(
        `@${name} is not a Mandate annotation but looks like @${meant} (annotation names are exact and case-sensitive): write @${meant}, or rename your own annotation`,
      );
    },
  );

  it('the exact annotations, and custom ones that are no near miss, are accepted', () => {
    expect(problemsOf('@approval("dpo") @quorum("2") @reason("why")')).toEqual([]);
    for (const custom of [
      '@owner("team-a")',
      '@ticket("SEC-12")',
      '@doc("see wiki")',
      '@severity("high")',
      '@ids("a,b")',
      '@identity("x")',
      '@valid("yes")',
      '@x("1")',
      '@approver_team("ops")',
    ]) {
      expect([custom, problemsOf(custom)]).toEqual([custom, []]);
    }
    // And a custom annotation changes nothing: the permit allows as a permit without one does.
    const set = engine.compile(source({ 'p.cedar': `@id("p") @owner("team-a") ${REFUND}` }));
    live.push(set);
    expect(set.evaluate(request()).effect).toBe('allow');
  });

  it('compile refuses a near miss with policy_invalid (the PUT /v1/policies path), never compiling it into a plain permit', () => {
    let thrown: unknown;
    try {
      live.push(engine.compile(source({ 'p.cedar': `@id("delete-needs-dpo") @Approval("dpo") ${REFUND}` })));
    } catch (err) {
      thrown = err;
    }
    expect(isMandateError(thrown) && thrown.code).toBe('policy_invalid');
    expect(JSON.stringify((thrown as { details?: unknown }).details)).toMatch(/delete-needs-dpo.*@Approval/);
  });
});

describe('reserved values', () => {
  it.each(['mandate.default_deny', 'mandate.undeclared_action', 'Mandate.anything'])(
    '@id("%s") is refused: the mandate. namespace names Mandate\'s own reasons',
    (id) => {
      const r = engine.validate(source({ 'p.cedar': `@id("${id}") ${REFUND}` }));
      expect(r.ok).toBe(false);
      expect(!r.ok && r.problems.map((p) => p.message)).toEqual([
        `@id("${id}") is in the namespace mandate. Mandate reserves for its own reasons`,
      ]);
    },
  );

  it('ids that only mention mandate are fine', () => {
    for (const id of ['mandate-refunds', 'refunds.mandate.x', 'mandated'])
      expect(engine.validate(source({ 'p.cedar': `@id("${id}") ${REFUND}` }))).toEqual({ ok: true });
  });

  it.each(['Self', 'SELF', 'self ', ' self', '\tSelf\n'])(
    '@approval(%j) is refused: not the reserved role, and a role some approver could hold',
    (role) => {
      const problems = problemsOf(`@approval(${JSON.stringify(role)})`);
      expect(problems.map((p) => p.message)).toEqual([
        `@approval("${role}") is not the reserved role: write @approval("self") exactly`,
      ]);
    },
  );

  it('@approval("self") and roles that merely contain self are accepted', () => {
    for (const role of ['self', 'selfie-team', 'itself'])
      expect([role, problemsOf(`@approval("${role}")`)]).toEqual([role, []]);
  });
});
