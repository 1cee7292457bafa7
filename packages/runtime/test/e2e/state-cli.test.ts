import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestMandate,
  disposeAll,
  exampleEntities,
  examplePolicySource,
  tempDir,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, ok200 } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

/*
 * Issue 8 §2 through the real binary: an in-process CLI command opens the app, which seeds; it
 * must not undo a suspension nor append events for nothing. `mandate policy activate` is the way
 * the start-up log points to for applying a changed directory.
 */

beforeAll(() => ensureBuilt());
afterAll(disposeAll);

const count = async (t: TestMandate, type: string) =>
  (await t.m.store.queryAudit({ type, limit: 10_000 })).length;

function policyDir(extra: Record<string, string>): string {
  const dir = join(tempDir(), 'policies');
  mkdirSync(dir);
  const s = examplePolicySource();
  for (const [f, text] of Object.entries({ ...s.policies, ...extra })) writeFileSync(join(dir, f), text);
  writeFileSync(join(dir, 'schema.cedarschema'), s.schema);
  return dir;
}

describe('in-process CLI commands and the store', () => {
  it('`keys create -c <cfg>` keeps a suspension and records only the key', async () => {
    const first = await createTestMandate({ store: 'sqlite' });
    const hrBot = { ...exampleEntities().agents.find((a) => a.id === 'hr-bot')!, status: 'suspended' };
    ok200(await client(first.url).put('/v1/entities', KEYS.admin, { agents: [hrBot] }));
    const before = {
      entities: await count(first, 'entities.updated'),
      policy: await count(first, 'policy.activated'),
      keys: await count(first, 'key.created'),
    };
    await first.close();

    const r = await runCli(['keys', 'create', '--role', 'admin', '--name', 'ops', '-c', first.configFile]);
    expect(r.code, r.stderr).toBe(0);

    const again = await createTestMandate({ reuse: first, listen: false });
    expect((await again.m.store.getAgent('hr-bot'))?.status).toBe('suspended');
    expect({
      entities: await count(again, 'entities.updated'),
      policy: await count(again, 'policy.activated'),
      keys: await count(again, 'key.created'),
    }).toEqual({ ...before, keys: before.keys + 1 });
  }, 120_000);

  it('`policy activate <dir>` activates a changed directory once, and refuses an invalid one', async () => {
    const first = await createTestMandate({ store: 'sqlite', listen: false });
    const original = first.m.policies.active()!.version;
    await first.close();
    const tightened = policyDir({
      'incident.cedar':
        '@id("incident")\nforbid (principal, action == Action::"trade.place_order", resource);',
    });

    const activated = await runCli(['policy', 'activate', tightened, '-c', first.configFile, '--json']);
    expect(activated.code, activated.stderr).toBe(0);
    const body = JSON.parse(activated.stdout) as { ok: boolean; version: string; changed: boolean };
    expect(body).toMatchObject({ ok: true, changed: true });
    expect(body.version).not.toBe(original);

    const again = await runCli(['policy', 'activate', tightened, '-c', first.configFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/is already active/);

    const invalid = await runCli([
      'policy',
      'activate',
      policyDir({ 'broken.cedar': 'permit (principal, action, resource) when { nope(' }),
      '-c',
      first.configFile,
    ]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(/broken\.cedar/);

    // The next start serves the activated set, although the config still names the example directory.
    const reopened = await createTestMandate({ reuse: first, listen: false });
    expect(reopened.m.policies.active()?.version).toBe(body.version);
    expect(await count(reopened, 'policy.activated')).toBe(2);
  }, 180_000);
});
