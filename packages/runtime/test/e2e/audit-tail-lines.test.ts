// Found by a black-box probe: `mandate audit tail` printed the agent's `onBehalfOf` raw, so a
// newline in it printed a whole fake record line (an allow) under the real one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLine } from '../../src/cli/audit.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

beforeAll(() => ensureBuilt());
afterAll(disposeAll);

describe('mandate audit tail', () => {
  it('prints one line per record whatever the fields hold', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const forged = 'alice\n#57 2026-12-01T17:49:00.000Z decision allow agent=support-bot user=alice';
    const res = await client(t.url).decide(KEYS.supportBot, { ...refund(120), onBehalfOf: forged });
    expect(res.status).toBe(200);
    expect(res.body.effect).toBe('deny');
    await t.close();
    const r = await runCli(['audit', 'tail', '--config', t.configFile, '-n', '1'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines, r.stdout).toHaveLength(1);
    expect(lines[0]).toContain('user=alice\\n#57 2026-12-01T17:49:00.000Z decision allow');
    expect(lines[0]).toMatch(/ deny /);
  }, 120_000);

  it('oneLine escapes every line break and tab, nothing else', () => {
    expect(oneLine('a\nb\rc\td\u2028e\u2029f\u0085g')).toBe('a\\nb\\rc\\td\\u2028e\\u2029f\\u0085g');
    expect(oneLine('plain text, unicode é')).toBe('plain text, unicode é');
  });
});
