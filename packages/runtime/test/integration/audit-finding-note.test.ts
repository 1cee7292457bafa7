// A node that found its chain tampered with signs nothing after, so its `audit.verify_failed`
// record stays after its last checkpoint; a database admin deleted it with the node stopped and the
// restart said ok (a probe). The node now keeps a signed note of each finding in its checkpoint
// mirror file; at the next start the noted record must still be there, as recorded.
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { withDb } from '../fixtures/audit-db.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

beforeAll(ensureBuilt);
afterAll(disposeAll);

function node(mirror: string, reuse?: TestMandate): Promise<TestMandate> {
  return createTestMandate({
    store: 'sqlite',
    ...(reuse ? { reuse } : {}),
    config: (c) => {
      c.audit = { ...c.audit, verifyIntervalMs: 0, checkpointMirror: { file: mirror } };
    },
  });
}

/**
 * A node that made a finding and stopped: a query column edited (GET /v1/audit/verify finds
 * `index_mismatch`, the node records it and notes it in the mirror), then put back. The seq of the
 * finding's record.
 */
async function foundAndStopped(mirror: string): Promise<{ t: TestMandate; finding: number }> {
  const t = await node(mirror);
  const api = client(t.url);
  for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.m.audit.checkpoint();
  const seq = withDb(t, (db) => {
    const r = db
      .prepare(`SELECT seq FROM audit_events WHERE effect = 'allow' ORDER BY seq DESC LIMIT 1`)
      .get() as {
      seq: number;
    };
    db.prepare(`UPDATE audit_events SET effect = 'deny' WHERE seq = ?`).run(r.seq);
    return r.seq;
  });
  expect(ok200(await api.get('/v1/audit/verify', KEYS.admin))).toMatchObject({
    ok: false,
    firstBad: { seq, problem: 'index_mismatch' },
  });
  withDb(t, (db) => db.prepare(`UPDATE audit_events SET effect = 'allow' WHERE seq = ?`).run(seq));
  await t.close();
  const finding = withDb(
    t,
    (db) =>
      (
        db.prepare(`SELECT seq FROM audit_events WHERE type = 'audit.verify_failed'`).get() as {
          seq: number;
        }
      ).seq,
  );
  return { t, finding };
}

describe("the record of the node's finding", () => {
  it('is noted, signed, in the mirror file', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { finding } = await foundAndStopped(mirror);
    const notes = readFileSync(mirror, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => 'finding' in l);
    expect(notes).toMatchObject([
      { finding: { seq: finding, problem: 'index_mismatch' }, signature: expect.any(String) },
    ]);
  });

  it('deleted with the node stopped: audit verify and the restart find it gone; the node signs nothing', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t, finding } = await foundAndStopped(mirror);
    withDb(t, (db) => db.prepare('DELETE FROM audit_events WHERE seq >= ?').run(finding));
    // `mandate audit verify` reads the config's mirror, notes included.
    const cli = await runCli(['audit', 'verify', '--config', t.configFile, '--json']);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout).firstBad).toMatchObject({ seq: finding, problem: 'truncated' });
    const again = await node(mirror, t);
    const status = again.m.evidence.tail.status();
    expect(status.ok).toBe(false);
    expect(status.failure).toMatchObject({ seq: finding, problem: 'truncated' });
    await expect(again.m.audit.checkpoint()).rejects.toMatchObject({ code: 'audit_unavailable' });
  });

  it('kept: the restart checks it and goes on signing', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t } = await foundAndStopped(mirror);
    const again = await node(mirror, t);
    expect(again.m.evidence.tail.status()).toMatchObject({ ok: true });
    await expect(again.m.audit.checkpoint()).resolves.toMatchObject({ seq: expect.any(Number) });
  });

  it('a note edited in the mirror (another seq) is malformed, not trusted', async () => {
    const mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
    const { t, finding } = await foundAndStopped(mirror);
    const text = readFileSync(mirror, 'utf8');
    writeFileSync(mirror, text.replace(`{"finding":{"seq":${finding},`, `{"finding":{"seq":${finding - 1},`));
    const again = await node(mirror, t);
    expect(again.m.evidence.tail.status().failure).toMatchObject({ seq: finding - 1, problem: 'malformed' });
  });
});
