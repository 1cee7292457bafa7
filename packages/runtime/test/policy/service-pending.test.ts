// Found by a black-box probe (two nodes on PostgreSQL, a set of ~300 policies): node A activated an
// emergency forbid and denied at once, while node B, which had read that the store's active version
// was no longer its own, went on allowing on its last set for the seconds the new one took to
// compile (off the event loop, ADR 0034) — up to the staleness bound. Once a node knows another set
// is active, decisions wait for it (whenCurrent), within a bound, instead.
import { describe, expect, it } from 'vitest';
import { MandateError, createManualClock, silentLogger } from '../../src/kernel/index.js';
import { createCedarEngine, type PolicyEngine } from '../../src/policy/index.js';
import { createPolicyService, savePolicySource } from '../../src/policy/service.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { request, source } from './fixtures.js';

const permitUpTo = (n: number) =>
  source({
    'p.cedar': `@id("refund") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount <= ${n} };`,
  });

/** An engine whose compile of the strict set (up to 100) waits until released. */
function gatedEngine(engine: PolicyEngine) {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let compiling = false;
  const gated: PolicyEngine = {
    ...engine,
    async compileAsync(src) {
      if (src.policies['p.cedar']?.includes('<= 100 ')) {
        compiling = true;
        await held;
      }
      return engine.compileAsync(src);
    },
  };
  return { gated, release, compiling: () => compiling };
}

/** Node B serves the lenient set (up to 1,000); node A then activates the strict one (up to 100). */
async function strictActivatedElsewhere() {
  const store = createMemoryStore();
  await store.migrate();
  const engine = createCedarEngine({ memoEntries: 0 });
  const deps = { store, clock: createManualClock(), logger: silentLogger, audit: async () => undefined };
  const a = createPolicyService({ ...deps, engine });
  const lenient = await a.activate(permitUpTo(1000), 'test');
  const { gated, release, compiling } = gatedEngine(engine);
  const b = createPolicyService({ ...deps, engine: gated });
  expect(await b.refresh()).toBe(true);
  expect(b.active()!.version).toBe(lenient.version);
  const strict = await a.activate(permitUpTo(100), 'test');
  return { store, deps, a, b, lenient, strict, release, compiling };
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
};

describe('a node that knows another set is active', () => {
  it('answers nothing on its last set while the new one compiles: decisions wait for the swap', async () => {
    const { a, b, strict, release, compiling } = await strictActivatedElsewhere();
    // Nothing known yet: no wait (the hot path does not await).
    expect(b.whenCurrent(5000)).toBe(true);
    const loading = b.refresh();
    await until(compiling);
    // B has read that the strict set is active and compiles it: a decision now waits for it.
    const current = b.whenCurrent(5000);
    expect(current, 'a decision answered on the replaced set while the new one compiles').not.toBe(true);
    let settled = false;
    void (current as Promise<boolean>).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    release();
    expect(await current).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    expect(b.active()!.evaluate(request({ args: { amount: 500 } })).effect).toBe('deny');
    await loading;
    expect(b.whenCurrent(5000)).toBe(true);
    a.close();
    b.close();
  });

  it('a notification holds decisions at once, before the load has read anything', async () => {
    const { a, b, strict, release } = await strictActivatedElsewhere();
    b.noteActive(strict.version);
    const current = b.whenCurrent(5000);
    expect(current).not.toBe(true);
    const loading = b.refresh();
    release();
    expect(await current).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    await loading;
    a.close();
    b.close();
  });

  it('fails closed when the new set is not installed within the bound', async () => {
    const { a, b, lenient, release, compiling } = await strictActivatedElsewhere();
    const loading = b.refresh();
    await until(compiling);
    const started = performance.now();
    expect(await b.whenCurrent(50)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    // Past the bound, a decision is refused at once, not after another wait.
    expect(await b.whenCurrent(50)).toBe(false);
    expect(b.active()!.version).toBe(lenient.version);
    release();
    await loading;
    expect(b.whenCurrent(50)).toBe(true);
    a.close();
    b.close();
  });

  it('its own activation does not hold its decisions; one it sees another node made does', async () => {
    const { a, b, strict, release } = await strictActivatedElsewhere();
    expect(a.whenCurrent(5000)).toBe(true);
    release();
    // B's own activation of the strict set (already active): loaded, not waited on afterwards.
    const again = await b.activate(permitUpTo(100), 'test');
    expect(again).toEqual({ version: strict.version, changed: false });
    expect(b.whenCurrent(5000)).toBe(true);
    a.close();
    b.close();
  });

  it('a stored active set that does not compile keeps the last good set (P4): decisions go on', async () => {
    const { store, deps, a, b, strict, release } = await strictActivatedElsewhere();
    release();
    await b.refresh();
    // The store's active set, written by hand, does not compile.
    const broken = source({ 'p.cedar': 'permit (principal, action, resource) when { nope };' });
    const at = await savePolicySource(deps, 'broken-version', broken, 'hand');
    await store.activatePolicySet('broken-version', at);
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000)).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    a.close();
    b.close();
  });
});

// Re-probe of the above: B's reader child was killed while it read a 2,000-policy emergency forbid;
// the failure was read as 'does not compile', and B decided on the old set (260 allows after A's
// 200, the last 7.8 s after). And once so refused, a version was never waited for again: X, Y, then
// X activated once more, B allowed on Y for 4.5 s.
describe('a set the engine could not read is not a set that does not compile', () => {
  /** An engine whose compile of the strict set (up to 100) throws `state.error` while it is set. */
  function failingEngine(engine: PolicyEngine) {
    const state: { error: Error | null; broken: boolean } = {
      error: new MandateError(
        'unavailable',
        'the policy set could not be read: the policy reader process failed (SIGKILL)',
      ),
      broken: false,
    };
    const failing: PolicyEngine = {
      ...engine,
      health: () => (state.broken ? { ok: false, reason: 'canary failed' } : engine.health()),
      reinstantiate: () => undefined,
      async compileAsync(src) {
        if (state.error && src.policies['p.cedar']?.includes('<= 100 ')) throw state.error;
        return engine.compileAsync(src);
      },
    };
    return { failing, state };
  }

  async function setup() {
    const store = createMemoryStore();
    await store.migrate();
    const engine = createCedarEngine({ memoEntries: 0 });
    const deps = { store, clock: createManualClock(), logger: silentLogger, audit: async () => undefined };
    const a = createPolicyService({ ...deps, engine });
    const lenient = await a.activate(permitUpTo(1000), 'test');
    const { failing, state } = failingEngine(engine);
    const logged: string[] = [];
    const logger = { ...silentLogger, error: (message: string) => void logged.push(message) };
    const b = createPolicyService({ ...deps, logger, engine: failing });
    expect(await b.refresh()).toBe(true);
    const broken = source({ 'p.cedar': 'permit (principal, action, resource) when { nope };' });
    const brokenAt = await savePolicySource(deps, 'broken-version', broken, 'hand');
    /** X: a set Cedar refuses, made active by hand. */
    const activateBroken = async () => {
      await store.activatePolicySet('broken-version', brokenAt);
      b.noteActive('broken-version');
    };
    return { a, b, lenient, state, logged, activateBroken };
  }

  it('decisions go on waiting, are refused past the bound, and the next refresh installs the set', async () => {
    const { a, b, lenient, state, logged } = await setup();
    const strict = await a.activate(permitUpTo(100), 'test');
    expect(await b.refresh()).toBe(false);
    expect(b.active()!.version).toBe(lenient.version);
    // SECURITY: not kept over: no decision is answered on the replaced set, and past the bound
    // each is refused (the decision path's 503 store_unavailable).
    expect(b.whenCurrent(50), 'a decision answered on the replaced set after the engine failed').not.toBe(
      true,
    );
    expect(await b.whenCurrent(50)).toBe(false);
    expect(logged.join('\n')).toMatch(/the engine failed, not the set/);
    expect(logged.join('\n')).not.toMatch(/does not compile/);
    // The next poll loads it again.
    state.error = null;
    expect(await b.refresh()).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    expect(b.whenCurrent(50)).toBe(true);
    a.close();
    b.close();
  });

  it('a refusal of one activation of a version does not outlive it: X, Y, X again is waited for', async () => {
    const { a, b, lenient, state, activateBroken } = await setup();
    await activateBroken();
    expect(await b.refresh()).toBe(false);
    // Kept over (P4): decisions go on.
    expect(b.whenCurrent(5000)).toBe(true);
    // Y, which B cannot read yet (no swap), then X again: learned anew, and checked anew.
    const strict = await a.activate(permitUpTo(100), 'test');
    b.noteActive(strict.version);
    expect(await b.refresh()).toBe(false);
    await activateBroken();
    expect(b.whenCurrent(5000), 'X activated again was kept over from its first refusal').not.toBe(true);
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000)).toBe(true);
    expect(b.active()!.version).toBe(lenient.version);
    // And Y activated once more, once readable, is installed.
    state.error = null;
    await a.activate(permitUpTo(100), 'test');
    expect(await b.refresh()).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    a.close();
    b.close();
  });

  it('a version refused once, installed later, is waited for when it is active again', async () => {
    const { a, b, lenient, state } = await setup();
    // X (the strict set) refused once as 'invalid', then installed.
    state.error = new MandateError('policy_invalid', 'policy set is invalid');
    const strict = await a.activate(permitUpTo(100), 'test');
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000)).toBe(true);
    state.error = null;
    expect(await b.refresh()).toBe(true);
    expect(b.active()!.version).toBe(strict.version);
    // Y, then X again, which B now cannot read for a while: its decisions wait for it.
    await a.activate(permitUpTo(1000), 'test');
    expect(await b.refresh()).toBe(true);
    expect(b.active()!.version).toBe(lenient.version);
    await a.activate(permitUpTo(100), 'test');
    state.error = new MandateError('unavailable', 'the policy reader process failed (SIGKILL)');
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000), 'a decision answered on Y while X is active again').not.toBe(true);
    a.close();
    b.close();
  });

  it('a swap clears it: after the engine is healed, the refused set is checked again before decisions go on', async () => {
    const { b, state, activateBroken } = await setup();
    state.error = null;
    await activateBroken();
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000)).toBe(true);
    // The last good set compiled again into a fresh engine instance (a swap): the refusal was the
    // old instance's, and is not taken on trust for the new one.
    state.broken = true;
    await b.heal();
    state.broken = false;
    expect(b.whenCurrent(5000)).not.toBe(true);
    expect(await b.refresh()).toBe(false);
    expect(b.whenCurrent(5000)).toBe(true);
    b.close();
  });
});
