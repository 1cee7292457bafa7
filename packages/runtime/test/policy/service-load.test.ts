// ADR 0034: a node compiles the sets it loads without blocking its event loop (compileAsync), so
// something can happen while a load compiles — an activation on this very node. The load must not
// then swap in the set it read before: that set may be older than the one activated meanwhile, and
// a node running an older set than the one an admin just activated can allow what it forbids.
import { describe, expect, it } from 'vitest';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import { createCedarEngine, type PolicyEngine } from '../../src/policy/index.js';
import { createPolicyService } from '../../src/policy/service.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { request, source } from './fixtures.js';

const permitUpTo = (n: number) =>
  source({
    'p.cedar': `@id("refund") permit (principal, action == Action::"payments.refund", resource) when { context.args has amount && context.args.amount <= ${n} };`,
  });

/** An engine whose compile of the lenient set waits until released. */
function gatedEngine(engine: PolicyEngine) {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const gated: PolicyEngine = {
    ...engine,
    async compileAsync(src) {
      if (src.policies['p.cedar']!.includes('<= 1000')) await held;
      return engine.compileAsync(src);
    },
  };
  return { gated, release };
}

/** A memory store where another node activated the lenient set (refunds up to 1,000). */
async function lenientActive() {
  const store = createMemoryStore();
  await store.migrate();
  const engine = createCedarEngine({ memoEntries: 0 });
  const deps = { store, clock: createManualClock(), logger: silentLogger, audit: async () => undefined };
  const other = createPolicyService({ ...deps, engine });
  const lenient = await other.activate(permitUpTo(1000), 'test');
  return { deps, engine, other, lenient };
}

describe('a load that compiled while this node activated a set', () => {
  it('drops what it compiled; the set activated meanwhile stays', async () => {
    const { deps, engine, other, lenient } = await lenientActive();

    // This node's engine holds its compile of the lenient set until released.
    const { gated, release } = gatedEngine(engine);
    const node = createPolicyService({ ...deps, engine: gated });
    const loading = node.refresh();
    // Meanwhile an admin activates the strict set (up to 100) on this node.
    const strict = await node.activate(permitUpTo(100), 'test');
    expect(node.active()!.version).toBe(strict.version);
    release();
    expect(await loading).toBe(false);
    expect(node.active()!.version).toBe(strict.version);
    expect(node.active()!.version).not.toBe(lenient.version);
    expect(node.active()!.evaluate(request({ args: { amount: 500 } })).effect).toBe('deny');
    // The store says strict too: the next refresh keeps it.
    expect(await node.refresh()).toBe(false);
    expect(node.active()!.version).toBe(strict.version);
    node.close();
    other.close();
  });

  it('without an activation meanwhile, the load swaps its set in (allow path)', async () => {
    const { deps, engine, other, lenient } = await lenientActive();
    const node = createPolicyService({ ...deps, engine });
    expect(await node.refresh()).toBe(true);
    expect(node.active()!.version).toBe(lenient.version);
    expect(node.active()!.evaluate(request({ args: { amount: 500 } })).effect).toBe('allow');
    node.close();
    other.close();
  });
});

// Found by a black-box probe: a large set compiles for seconds off the event loop, and a small set
// activated meanwhile was applied first, then silently replaced by the slower, earlier request.
describe('activations while another one compiles', () => {
  async function fresh() {
    const store = createMemoryStore();
    await store.migrate();
    const engine = createCedarEngine({ memoEntries: 0 });
    const deps = { store, clock: createManualClock(), logger: silentLogger, audit: async () => undefined };
    return { store, engine, deps };
  }

  it('on one node, the later request wins: activations run in the order they were asked for', async () => {
    const { store, engine, deps } = await fresh();
    const { gated, release } = gatedEngine(engine);
    const node = createPolicyService({ ...deps, engine: gated });
    const slow = node.activate(permitUpTo(1000), 'admin-1');
    const fast = node.activate(permitUpTo(100), 'admin-2');
    release();
    const [lenient, strict] = await Promise.all([slow, fast]);
    expect(lenient.changed && strict.changed).toBe(true);
    expect(node.active()!.version).toBe(strict.version);
    expect(await store.getActivePolicyVersion()).toBe(strict.version);
    expect(node.active()!.evaluate(request({ args: { amount: 500 } })).effect).toBe('deny');
    node.close();
  });

  it('a set another node activated while this one compiled is not replaced: 409 conflict, nothing activated', async () => {
    const { store, engine, deps } = await fresh();
    const { gated, release } = gatedEngine(engine);
    const node = createPolicyService({ ...deps, engine: gated });
    const other = createPolicyService({ ...deps, engine });
    const slow = node.activate(permitUpTo(1000), 'admin-1');
    const strict = await other.activate(permitUpTo(100), 'admin-2');
    release();
    await expect(slow).rejects.toMatchObject({ code: 'conflict' });
    expect(await store.getActivePolicyVersion()).toBe(strict.version);
    // Sent again, knowingly, it is activated.
    const again = await node.activate(permitUpTo(1000), 'admin-1');
    expect(await store.getActivePolicyVersion()).toBe(again.version);
    node.close();
    other.close();
  });
});

// Found by a black-box probe (two nodes on PostgreSQL): node A activated a large set X, then at once
// a small set Y with an emergency forbid. Node B, still compiling X, swapped X in after Y was already
// active, and Y's notification had been folded into that load: B allowed on X until its next poll.
describe('a load that compiled while another node activated a newer set', () => {
  it('drops the superseded set and installs the newer one in the same refresh', async () => {
    const { deps, engine, other } = await lenientActive();
    const { gated, release } = gatedEngine(engine);
    const node = createPolicyService({ ...deps, engine: gated });
    const loading = node.refresh();
    // Meanwhile another node activates the strict set.
    const strict = await other.activate(permitUpTo(100), 'test');
    release();
    await loading;
    expect(node.active()!.version, 'the superseded set installed').toBe(strict.version);
    expect(node.active()!.evaluate(request({ args: { amount: 500 } })).effect).toBe('deny');
    node.close();
    other.close();
  });

  it('a refresh asked while a load is in flight (a notification) gets a load of its own after it', async () => {
    const { deps, engine, other, lenient } = await lenientActive();
    const { gated, release } = gatedEngine(engine);
    const node = createPolicyService({ ...deps, engine: gated });
    const first = node.refresh();
    const strict = await other.activate(permitUpTo(100), 'test');
    // The notification of the strict set arrives while the lenient one compiles.
    const notified = node.refresh();
    expect(notified).not.toBe(first);
    release();
    await Promise.all([first, notified]);
    expect(node.active()!.version).toBe(strict.version);
    expect(node.active()!.version).not.toBe(lenient.version);
    node.close();
    other.close();
  });
});
