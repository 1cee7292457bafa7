// ADR 0038 through the real binary: `mandate audit export --bundle` signs the head it exports with
// the node's key only when every record after the last checkpoint is a writer's (sealed). A record a
// database admin added after the head, with the node stopped, was signed into the bundle.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { insertAtHead, withDb } from '../fixtures/audit-db.js';

let t: TestMandate;
const cli = (args: string[], cwd?: string) => runCli(args, { timeoutMs: 60_000, ...(cwd ? { cwd } : {}) });

beforeAll(async () => {
  ensureBuilt();
  t = await createTestMandate({ store: 'sqlite' });
  const api = client(t.url);
  for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.close(); // a clean stop signs the head
});
afterAll(disposeAll);

describe('audit export --bundle over a record nobody sealed', () => {
  it('audit verify names it; the export writes the bundle without a checkpoint of its head, says why (exit 1); the bundle then fails offline', async () => {
    const before = await cli(['audit', 'verify', '--config', t.configFile, '--json']);
    expect(before.code, before.stderr).toBe(0);
    const seq = withDb(t, (db) => insertAtHead(db));
    // `audit verify` with the key directory's seal key finds it; the checkpoints alone cannot.
    const verify = await cli(['audit', 'verify', '--config', t.configFile, '--json']);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout).firstBad).toMatchObject({ seq, problem: 'unsealed' });
    const bundle = join(t.dir, 'inserted.jsonl');
    const exported = await cli(['audit', 'export', '--config', t.configFile, '--bundle', '-o', bundle]);
    expect(exported.code).toBe(1);
    expect(exported.stderr).toContain(`record ${seq}: unsealed`);
    expect(exported.stderr).toContain('without a checkpoint of its head');
    const pub = join(t.dir, 'keys', 'audit-signing.pub.pem');
    const offline = await cli(
      ['audit', 'verify', '--file', bundle, '--public-key', pub, '--json'],
      tempDir('mandate-auditor-'),
    );
    expect(offline.code).toBe(1);
    expect(JSON.parse(offline.stdout).firstBad).toMatchObject({ seq, problem: 'unsigned_tail' });
  });
});
