// Re-probe: node B's reader child was killed (as the kernel's out-of-memory killer would) while it
// read a 2,000-policy emergency forbid activated on node A. readAhead turned the failed child into a
// reader that failed every call, the analysis reported that as the set's problem, compileAsync
// threw `policy_invalid`, and B kept its replaced set as for a set that does not compile (P4),
// deciding on it for seconds. A child that fails says nothing of the set: it is `unavailable`.
import { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isMandateError } from '../../src/kernel/index.js';
import { createCedarEngine } from '../../src/policy/index.js';
import { readAhead } from '../../src/policy/cedar/analysis.js';
import { source } from './fixtures.js';

/** While set, each reader child is killed as soon as it is spawned. */
const kill = vi.hoisted(() => ({ on: false }));
vi.mock('node:child_process', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:child_process')>();
  return {
    ...actual,
    spawn: (...args: Parameters<typeof actual.spawn>) => {
      const child: ChildProcess = actual.spawn(...args);
      if (kill.on) child.kill('SIGKILL');
      return child;
    },
  };
});

afterEach(() => {
  kill.on = false;
});

const set = source({
  'p.cedar': `@id("stop") forbid (principal, action == Action::"payments.refund", resource);\npermit (principal, action, resource);`,
});

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('a set was read by a child that was killed');
    },
    (err: unknown) => err,
  );

describe('a reader child that fails is not a set that does not compile', () => {
  it('readAhead rejects with unavailable, saying what failed', async () => {
    kill.on = true;
    const err = await rejection(readAhead(set, { readInChildFrom: 0 }));
    expect(isMandateError(err) && err.code, 'a killed child read as the set’s problem').toBe('unavailable');
    expect((err as Error).message).toMatch(/policy reader process failed \(SIGKILL\)/);
  });

  it('compileAsync and validateAsync: unavailable, not policy_invalid; the next try compiles it', async () => {
    const engine = createCedarEngine({ memoEntries: 0, readInChildFrom: 0 });
    kill.on = true;
    const err = await rejection(engine.compileAsync(set));
    expect(isMandateError(err) && err.code).toBe('unavailable');
    expect(await rejection(engine.validateAsync(set))).toMatchObject({ code: 'unavailable' });
    kill.on = false;
    const compiled = await engine.compileAsync(set);
    expect(compiled.policies.map((p) => p.id)).toContain('stop');
    compiled.dispose();
  });

  it('a set Cedar refuses, read in a child that did not fail, is still policy_invalid', async () => {
    const engine = createCedarEngine({ memoEntries: 0, readInChildFrom: 0 });
    const bad = source({ 'p.cedar': 'permit (principal, action, resource) when { nope };' });
    expect(await rejection(engine.compileAsync(bad))).toMatchObject({ code: 'policy_invalid' });
  });
});
