import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/kernel/index.js';
import { createIsolatedScreen, type IsolatedScreen } from '../../src/policy/cedar/isolated.js';
import { createCedarEngine } from '../../src/policy/index.js';
import { SCHEMA as EXAMPLE_SCHEMA, source } from './fixtures.js';
import { SHAPES, largestAdmitted, policy } from './deep-text.js';

const exampleSource = () =>
  source({
    'main.cedar':
      '@id("p")\npermit (principal, action == Action::"payments.refund", resource) when { context.args.amount <= 500 };',
  });

/*
 * Issue 8 §6: the isolated screen runs Cedar on candidate text in a worker thread with its own
 * wasm instance. Here it is fed text past the lexical bounds (which normally refuse it before the
 * screen) to show that a trap there is contained: reported, the worker replaced, and the live
 * instance of this thread untouched.
 */

const deep = (n: number) =>
  `permit (principal, action, resource) when { ${'('.repeat(n)}true${')'.repeat(n)} };`;

let screen: IsolatedScreen | undefined;
afterEach(async () => {
  await screen?.close();
  screen = undefined;
});

describe('isolated policy screening', () => {
  it('reports a trap inside Cedar, replaces its worker, and leaves the live engine healthy', async () => {
    screen = createIsolatedScreen({ logger: silentLogger });
    const live = createCedarEngine();
    for (let i = 0; i < 3; i++) {
      const problems = await screen.screen({
        policies: { 'attack.cedar': deep(3000) },
        schema: EXAMPLE_SCHEMA,
      });
      expect(problems).toHaveLength(1);
      expect(problems[0]!.message).toMatch(/policy engine failed on this text|left broken/);
      expect(live.health()).toEqual({ ok: true });
    }
    // The next screening runs on a fresh worker and passes valid text.
    expect(await screen.screen(exampleSource())).toEqual([]);
    await live.close();
  });

  it('passes valid text and leaves invalid-but-harmless text to the engine to report', async () => {
    screen = createIsolatedScreen({ logger: silentLogger });
    expect(await screen.screen(exampleSource())).toEqual([]);
    expect(await screen.screen({ policies: { 'bad.cedar': 'permit (' }, schema: EXAMPLE_SCHEMA })).toEqual(
      [],
    );
  });

  it('passes the deepest text of every shape the bounds admit: no false refusals at the limits', async () => {
    screen = createIsolatedScreen({ logger: silentLogger });
    for (const [name, shape] of Object.entries(SHAPES)) {
      const text = policy(shape(largestAdmitted(shape)));
      expect({
        name,
        problems: await screen.screen({ policies: { 'p.cedar': text }, schema: EXAMPLE_SCHEMA }),
      }).toEqual({
        name,
        problems: [],
      });
    }
  });

  it('abandons a screening that takes too long', async () => {
    screen = createIsolatedScreen({ logger: silentLogger, timeoutMs: 1 });
    const problems = await screen.screen(exampleSource());
    expect(problems[0]?.message).toMatch(/did not finish/);
  });

  it('the engine refuses text past the bounds before any screening', async () => {
    const engine = createCedarEngine();
    const problems = await engine.screen({
      policies: { 'attack.cedar': deep(3000) },
      schema: EXAMPLE_SCHEMA,
    });
    expect(problems).toEqual([{ file: 'attack.cedar', message: expect.stringMatching(/nested too deep/) }]);
    expect(engine.validate({ policies: { 'attack.cedar': deep(3000) }, schema: EXAMPLE_SCHEMA }).ok).toBe(
      false,
    );
    expect(engine.health()).toEqual({ ok: true });
    await engine.close();
  });
});
