// Issue 8 §4 and issue 9 through the real binary: evidence bundles verified with no config and no
// database, verify against the mirror file and a kept head, and bad input to the audit commands.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/audit/chain.js';
import { GENESIS_HASH } from '../../src/storage/index.js';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

let t: TestMandate;
let mirror: string;
let pub: string;
const cli = (args: string[], cwd?: string) => runCli(args, { timeoutMs: 60_000, ...(cwd ? { cwd } : {}) });

beforeAll(async () => {
  ensureBuilt();
  mirror = join(tempDir('mandate-mirror-'), 'checkpoints.jsonl');
  t = await createTestMandate({
    store: 'sqlite',
    config: (c) => {
      c.audit = { ...c.audit, checkpointEvery: 5, maxCheckpointGap: 10, checkpointMirror: { file: mirror } };
    },
  });
  const api = client(t.url);
  for (let i = 0; i < 12; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.close(); // flushes and writes the final checkpoint (to the store and the mirror)
  pub = join(t.dir, 'keys', 'audit-signing.pub.pem');
});
afterAll(disposeAll);

describe('bad input to the audit commands: a message naming it, exit 2', () => {
  it('audit tail -n abc', async () => {
    const r = await cli(['audit', 'tail', '--config', t.configFile, '-n', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-n "abc": expected a whole number/);
    expect(r.stdout).toBe('');
  });

  it('audit export --effect maybe', async () => {
    const r = await cli(['audit', 'export', '--config', t.configFile, '--effect', 'maybe']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--effect.*'maybe' is invalid.*allow, deny, approval_required/s);
    expect(r.stdout).toBe('');
  });

  it('audit export --from notadate', async () => {
    const r = await cli(['audit', 'export', '--config', t.configFile, '--from', 'notadate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--from "notadate": expected an ISO time/);
    expect(r.stdout).toBe('');
  });

  it('audit verify --file without --public-key, and a malformed --expect-head', async () => {
    const r = await cli(['audit', 'verify', '--file', 'nothing.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--file needs --public-key/);
    const h = await cli(['audit', 'verify', '--config', t.configFile, '--expect-head', '12']);
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/--expect-head "12": expected <seq>:<hash>/);
  });
});

describe('evidence bundle, verified with no database', () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = join(t.dir, 'bundle.jsonl');
    const r = await cli(['audit', 'export', '--config', t.configFile, '--bundle', '-o', bundle]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('verifies in a process with no config and no store', async () => {
    const empty = tempDir('mandate-auditor-');
    const r = await cli(['audit', 'verify', '--file', bundle, '--public-key', pub], empty);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: \d+ records, \d+ signed checkpoints/);
  });

  it('one byte changed in a record fails, naming the record', async () => {
    const lines = readFileSync(bundle, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"effect":"allow"'));
    const seq = (JSON.parse(lines[i]!) as { seq: number }).seq;
    lines[i] = lines[i]!.replace('"effect":"allow"', '"effect":"alloW"');
    const bad = join(t.dir, 'bundle-bad.jsonl');
    writeFileSync(bad, lines.join('\n'));
    const r = await cli(['audit', 'verify', '--file', bad, '--public-key', pub], tempDir('mandate-auditor-'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAILED at record ${seq}: hash_mismatch`);
  });

  it('records after the last signed checkpoint fail, unless --allow-unsigned-tail (which counts them)', async () => {
    const lines = readFileSync(bundle, 'utf8').trimEnd().split('\n');
    const records = lines.filter((l) => !l.startsWith('{"checkpoint"')).slice(1);
    const head = (JSON.parse(records.at(-1)!) as { seq: number }).seq;
    // The checkpoints of the head dropped: the last records are then signed by nobody.
    const cut = lines.filter((l) => !(l.startsWith('{"checkpoint"') && l.includes(`"seq":${head},`)));
    expect(cut.length).toBeLessThan(lines.length);
    const file = join(t.dir, 'bundle-unsigned.jsonl');
    writeFileSync(file, cut.join('\n') + '\n');
    const strict = await cli(
      ['audit', 'verify', '--file', file, '--public-key', pub],
      tempDir('mandate-auditor-'),
    );
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/FAILED at record \d+: unsigned_tail/);
    const loose = await cli(
      ['audit', 'verify', '--file', file, '--public-key', pub, '--allow-unsigned-tail'],
      tempDir('mandate-auditor-'),
    );
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stdout).toMatch(/the last \d+ records are signed by no trusted key/);
  });
});

describe('verify against the mirror file and a kept head', () => {
  it('a chain rewritten with recomputed hashes and its checkpoints deleted fails; without the mirror, the cadence and the head catch it', async () => {
    const before = await cli(['audit', 'verify', '--config', t.configFile, '--json']);
    expect(before.code, before.stderr).toBe(0);
    const head = (JSON.parse(before.stdout) as { head: { seq: number; hash: string } }).head;

    const db = new Database(t.dbFile!);
    try {
      const rows = db.prepare('SELECT seq, event_text FROM audit_events ORDER BY seq').all() as {
        seq: number;
        event_text: string;
      }[];
      let prev = GENESIS_HASH;
      const update = db.prepare(
        'UPDATE audit_events SET event_text = ?, prev_hash = ?, hash = ? WHERE seq = ?',
      );
      for (const r of rows) {
        const text = r.event_text.replace('"amount":105', '"amount":9105');
        const hash = recordHash(r.seq, prev, text);
        update.run(text, prev, hash, r.seq);
        prev = hash;
      }
      db.prepare('DELETE FROM audit_checkpoints').run();
    } finally {
      db.close();
    }

    // The config names the mirror, so verify reads it; --checkpoints names it too (read once).
    const withMirror = await cli([
      'audit',
      'verify',
      '--config',
      t.configFile,
      '--checkpoints',
      mirror,
      '--json',
    ]);
    expect(withMirror.code).toBe(1);
    expect(JSON.parse(withMirror.stdout).firstBad.problem).toBe('checkpoint_mismatch');

    // The node's key never vouches for it: the export verifies first (the mirror shows the rewrite),
    // writes the bundle without a checkpoint of its head and says so; the bundle then fails offline.
    // (Found by a probe: the export signed the forged head, and the bundle verified ok.)
    const laundered = join(t.dir, 'laundered.jsonl');
    const exported = await cli(['audit', 'export', '--config', t.configFile, '--bundle', '-o', laundered]);
    expect(exported.code).toBe(1);
    expect(exported.stderr).toMatch(
      /the chain does not verify .*checkpoint_mismatch.*without a checkpoint of its head/s,
    );
    const offline = await cli(
      ['audit', 'verify', '--file', laundered, '--public-key', pub, '--json'],
      tempDir('mandate-auditor-'),
    );
    expect(offline.code).toBe(1);
    // No trusted signature covers the rewritten records (the cadence of the header, 10, says so first).
    expect(JSON.parse(offline.stdout).firstBad.problem).toMatch(/^(checkpoint_missing|unsigned_tail)$/);

    // The same store seen through a config without the mirror.
    const raw = JSON.parse(readFileSync(t.configFile, 'utf8')) as { audit: Record<string, unknown> };
    delete raw.audit.checkpointMirror;
    const bare = join(t.dir, 'bare.config.json');
    writeFileSync(bare, JSON.stringify(raw));
    const cadence = await cli(['audit', 'verify', '--config', bare, '--json']);
    expect(cadence.code).toBe(1);
    expect(JSON.parse(cadence.stdout).firstBad.problem).toBe('checkpoint_missing');
    // With no cadence to hold it to, the writers' seals still show the rewrite (the key directory
    // holds the seal key, ADR 0038): the records after the last checkpoint left are no writer's.
    const loose = ['audit', 'verify', '--config', bare, '--max-gap', '1000000', '--json'];
    const sealed = await cli(loose);
    expect(sealed.code).toBe(1);
    expect(JSON.parse(sealed.stdout).firstBad.problem).toBe('unsealed');
    // The head an auditor kept shows it too, with or without any key (it is checked first).
    const kept = await cli([...loose, '--expect-head', `${head.seq}:${head.hash}`]);
    expect(kept.code).toBe(1);
    expect(JSON.parse(kept.stdout).firstBad).toMatchObject({ seq: head.seq, problem: 'head_mismatch' });
  });
});

describe('audit verify -c reads the default mirror in the key directory', () => {
  // A probe (2026-12-02): with no mirror configured, records cut at a batch boundary with the
  // checkpoints over them verified ok through the CLI; the key directory's mirror holds them now.
  it('signed records cut with their checkpoints: truncated; the same store untouched: ok', async () => {
    const d = await createTestMandate({
      store: 'sqlite',
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 5, maxCheckpointGap: 10 };
      },
    });
    const api = client(d.url);
    for (let i = 0; i < 12; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
    await d.close();
    const ok = await cli(['audit', 'verify', '--config', d.configFile, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const db = new Database(d.dbFile!);
    try {
      const head = (db.prepare('SELECT max(seq) AS s FROM audit_events').get() as { s: number }).s;
      const keep = (
        db
          .prepare('SELECT max(seq) AS s FROM audit_events WHERE seal IS NOT NULL AND seq <= ?')
          .get(head - 6) as {
          s: number;
        }
      ).s;
      db.prepare('DELETE FROM audit_events WHERE seq > ?').run(keep);
      expect(db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(keep).changes).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    const cut = await cli(['audit', 'verify', '--config', d.configFile, '--json']);
    expect(cut.code).toBe(1);
    expect(JSON.parse(cut.stdout).firstBad.problem).toBe('truncated');
  });
});
