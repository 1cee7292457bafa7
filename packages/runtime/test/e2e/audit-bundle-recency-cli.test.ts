// F6 through the real binary: a bundle cut back to an earlier checkpoint verifies "ok" (a prefix
// of the chain is a chain); `audit verify` prints the time of its newest signed checkpoint, and
// `--signed-after` fails it (checkpoint_stale, exit 1) when no checkpoint signed at or after that
// time covers its last record.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../fixtures/mandate.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { bundleOf, cutBundle, seedLog } from '../audit/helpers.js';

let dir: string;
let pub: string;
const verify = (file: string, ...more: string[]) =>
  runCli(['audit', 'verify', '--file', join(dir, file), '--public-key', pub, ...more], {
    cwd: dir,
    timeoutMs: 60_000,
  });

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('mandate-auditor-');
  const { store, keys } = await seedLog(20, 5);
  const text = await bundleOf(store, keys.publicKeyPem);
  writeFileSync(join(dir, 'whole.jsonl'), text);
  writeFileSync(join(dir, 'cut.jsonl'), cutBundle(text, 10));
  pub = join(dir, 'audit-signing.pub.pem');
  writeFileSync(pub, keys.publicKeyPem);
});

describe('audit verify --file: how recent the evidence is', () => {
  it('prints the newest signed checkpoint; a cut bundle fails --signed-after, the whole one passes', async () => {
    const whole = await verify('whole.jsonl', '--json');
    expect(whole.code, whole.stderr).toBe(0);
    const newest = (JSON.parse(whole.stdout) as { newestCheckpoint: { seq: number; time: string } })
      .newestCheckpoint;
    expect(newest.seq).toBe(20);
    const text = await verify('whole.jsonl');
    expect(text.stdout).toContain(`newest signed checkpoint #20 at ${newest.time}`);

    const cut = await verify('cut.jsonl');
    expect(cut.code, 'a cut bundle verifies on its own').toBe(0);
    expect(cut.stdout).toMatch(/^ok: 10 records, .*newest signed checkpoint #10 at /);
    const stale = await verify('cut.jsonl', '--signed-after', newest.time);
    expect(stale.code, stale.stdout).toBe(1);
    expect(stale.stdout).toMatch(/^FAILED at record 11: checkpoint_stale — .*older than/);
    const fresh = await verify('whole.jsonl', '--signed-after', newest.time);
    expect(fresh.code, fresh.stdout).toBe(0);
  }, 120_000);

  it('--signed-after that is not a time is a usage error', async () => {
    const r = await verify('whole.jsonl', '--signed-after', 'yesterday-ish');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--signed-after "yesterday-ish": expected an ISO time/);
  }, 60_000);
});
