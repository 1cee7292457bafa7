import { describe, expect, it } from 'vitest';
import { crossCheck } from '../../src/app/index.js';
import type { PolicyCaseResult, PolicyTestReport } from '../../src/app/policy-cases.js';

/** `mandate policy test` decides every case with both engines; a case they answer differently fails. */
const result = (name: string, effect: string, ok = true): PolicyCaseResult => ({
  name,
  ok,
  expected: { effect: 'deny' } as PolicyCaseResult['expected'],
  actual: { effect, reasons: ['legal-hold'], errors: [], approvalRole: null },
  problems: ok ? [] : [`effect is ${effect}, expected deny`],
});
const report = (results: PolicyCaseResult[]): PolicyTestReport => ({
  passed: results.filter((r) => r.ok).length,
  failed: results.filter((r) => !r.ok).length,
  policyVersion: 'sha256:x',
  results,
});

describe('crossCheck (policy test on both engines)', () => {
  it('fails a case the engines answer differently, naming both answers; keeps the rest', () => {
    const merged = crossCheck(
      { name: 'compiled', report: report([result('hold', 'deny'), result('other', 'deny')]) },
      { name: 'cedar', report: report([result('hold', 'allow', false), result('other', 'deny')]) },
    );
    expect(merged.passed).toBe(1);
    expect(merged.failed).toBe(1);
    expect(merged.results[0]!.ok).toBe(false);
    expect(merged.results[0]!.problems.join()).toMatch(
      /the compiled engine answered .*"deny".*, the cedar engine .*"allow".*: the engines disagree/,
    );
    expect(merged.results[1]).toEqual(result('other', 'deny'));
  });

  it('passes what both engines answer alike', () => {
    const merged = crossCheck(
      { name: 'compiled', report: report([result('hold', 'deny')]) },
      { name: 'cedar', report: report([result('hold', 'deny')]) },
    );
    expect(merged).toEqual(report([result('hold', 'deny')]));
  });
});
