// Found by a black-box probe (two nodes on PostgreSQL, a set of ~300 policies): node A activated an
// emergency forbid and denied at once, while node B, which had read that the store's active version
// was no longer its own, went on allowing on its last set for the seconds the new one took to
// compile (off the event loop, ADR 0034) — up to the staleness bound. Once a node knows another set
// is active, decisions wait for it (whenCurrent), within a bound, instead.
import { describe, expect, it } from 'vitest';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
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
