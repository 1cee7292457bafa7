import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createTestMandate as create,
  disposeAll,
  examplePolicySource,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund } from '../fixtures/http.js';
import { policySetTextToParts } from '../../src/policy/cedar/wasm.js';

/*
 * Issue 8 §6: hostile policy text cannot break the engine. Before the fix, a policy nested 3,000
 * parentheses deep sent to POST /v1/policies/validate answered "Maximum call stack size exceeded"
 * twice, then "memory access out of bounds", and from then on every decision was deny/policy_error,
 * re-activating the valid set got 422, and /readyz still said ready.
 */

afterAll(disposeAll);
// Every node of this process shares one wasm instance, and an open node's periodic check would
// replace a broken instance under another test's feet: each test closes its nodes.
afterEach(closeAll);

const opened: TestMandate[] = [];
async function createTestMandate(opts: Parameters<typeof create>[0]): Promise<TestMandate> {
  const t = await create(opts);
  opened.push(t);
  return t;
}
async function closeAll(): Promise<void> {
  for (const t of opened.splice(0)) await t.close();
}

const deep = (n: number) =>
  `permit (principal, action, resource) when { ${'('.repeat(n)}true${')'.repeat(n)} };`;

/** Breaks this process's live wasm instance the way the attack did, bypassing every door. */
function breakLiveInstance(): void {
  for (let i = 0; i < 5; i++) {
    try {
      policySetTextToParts(deep(3000));
    } catch {
      // The trap is the point.
    }
    try {
      if (policySetTextToParts('permit (principal, action, resource);').type !== 'success') return;
    } catch {
      return;
    }
  }
  throw new Error('the wasm instance could not be broken');
}

/** The example set plus one extra file. */
function withFile(name: string, text: string) {
  const s = examplePolicySource();
  return { ...s, policies: { ...s.policies, [name]: text } };
}

describe('hostile policy text', () => {
  it('a policy nested 3,000 deep is refused with 422 three times; decisions, activation and /readyz stay good', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    const attack = withFile('attack.cedar', deep(3000));
    for (let i = 0; i < 3; i++) {
      const r = await api.post('/v1/policies/validate', KEYS.admin, attack);
      expectError(r, 422, 'policy_invalid');
      expect(JSON.stringify(r.body.error.details)).toMatch(/nested too deep/);
    }
    // Through the other doors too.
    expectError(await api.put('/v1/policies', KEYS.admin, attack), 422, 'policy_invalid');
    expectError(
      await api.post('/v1/policies/test', KEYS.admin, { cases: [{}], policies: attack }),
      422,
      'policy_invalid',
    );

    // The allow path still allows, its deny twin still denies.
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    // c-13 is under legal hold: the forbid still wins.
    expect(ok200(await api.decide(KEYS.supportBot, refund(120, {}, 'c-13'))).effect).toBe('deny');
    // Activating a valid (changed) set still works, and so does validating one.
    const changed = withFile(
      'extra.cedar',
      '@id("extra")\nforbid (principal, action == Action::"trade.place_order", resource);',
    );
    expect(ok200(await api.post('/v1/policies/validate', KEYS.admin, changed))).toEqual({ ok: true });
    expect(ok200(await api.put('/v1/policies', KEYS.admin, changed)).changed).toBe(true);
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    expect(ok200(await api.get('/readyz'))).toMatchObject({ ready: true, engine: 'ok' });
  });

  it('a chain of operators too long for Cedar is refused unparsed; a short one validates', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    // 400 `+` in one expression parse, validate, and then trap Cedar when evaluated.
    const chain = (n: number) =>
      `permit (principal, action == Action::"crm.read_customer", resource) when { ${Array(n).fill('1').join(' + ')} > 0 };`;
    const long = await api.post('/v1/policies/validate', KEYS.admin, withFile('long.cedar', chain(400)));
    expectError(long, 422, 'policy_invalid');
    expect(JSON.stringify(long.body.error.details)).toMatch(/operators stacked in one expression/);
    expectError(
      await api.put('/v1/policies', KEYS.admin, withFile('long.cedar', chain(400))),
      422,
      'policy_invalid',
    );
    expect(
      ok200(await api.post('/v1/policies/validate', KEYS.admin, withFile('short.cedar', chain(20)))),
    ).toEqual({
      ok: true,
    });
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
  });

  it('/readyz reports a broken live engine with its reason, and the node recovers by starting a fresh instance', async () => {
    // The periodic check is off so the broken state can be observed; heal() is that check.
    const t = await createTestMandate({ store: 'memory', engineCheckMs: 0 });
    const api = client(t.url);
    expect(ok200(await api.get('/readyz'))).toMatchObject({ ready: true, engine: 'ok' });
    breakLiveInstance();
    const broken = await api.get('/readyz');
    expect(broken.status).toBe(503);
    expect(broken.body).toMatchObject({ ready: false, engine: 'broken' });
    expect(broken.body.engineReason).toMatch(/canary/);
    // Fail closed meanwhile: the allow path is denied, never allowed.
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('deny');

    const found = await t.m.policies.heal();
    expect(found.ok).toBe(false);
    expect(ok200(await api.get('/readyz'))).toMatchObject({ ready: true, engine: 'ok' });
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    expect((await t.m.policies.heal()).ok).toBe(true);
  });
});

describe('several nodes in one process share the wasm instance', () => {
  it('when one replaces it, the others compile their set again instead of denying forever', async () => {
    const a = await createTestMandate({ store: 'memory', engineCheckMs: 0 });
    const b = await createTestMandate({ store: 'memory', engineCheckMs: 0 });
    breakLiveInstance();
    expect((await a.m.policies.heal()).ok).toBe(false);
    // b's set lived in the replaced instance: not ready, denying (fail closed), until its own check.
    const notReady = await client(b.url).get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body.engineReason).toMatch(/compiled again/);
    expect(ok200(await client(b.url).decide(KEYS.supportBot, refund(120))).effect).toBe('deny');
    await b.m.policies.heal();
    expect(ok200(await client(b.url).get('/readyz')).ready).toBe(true);
    expect(ok200(await client(b.url).decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
    expect(ok200(await client(a.url).decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
  });
});

describe('the periodic engine check', () => {
  it('replaces a broken live engine by itself within seconds', async () => {
    const t = await createTestMandate({ store: 'memory', engineCheckMs: 50 });
    const api = client(t.url);
    breakLiveInstance();
    await expect
      .poll(async () => (await api.get('/readyz')).status, { timeout: 10_000, interval: 50 })
      .toBe(200);
    expect(ok200(await api.decide(KEYS.supportBot, refund(120))).effect).toBe('allow');
  });
});
