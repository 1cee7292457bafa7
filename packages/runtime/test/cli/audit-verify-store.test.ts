// `mandate audit verify --store … --public-key …` as an auditor runs it: a copy of the store and the
// pinned public key, no key directory, no config (from source; e2e/audit-*-cli.test.ts run the built
// binary). A probe: a record a database admin appended after the signed head verified as plain ok,
// with nothing saying that no signature covered it and that its seal could not be checked.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, exitCodeFor } from '../../src/cli/program.js';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { insertAtHead } from '../fixtures/audit-db.js';

let t: TestMandate;
let pub: string;

/** Runs `mandate …` in this process from an empty directory (no config, no key directory there). */
async function mandate(args: string[]): Promise<{ code: number; stdout: string; error: string }> {
  const cwd = process.cwd();
  const exitCode = process.exitCode;
  const env = { config: process.env.MANDATE_CONFIG, store: process.env.MANDATE_STORE };
  delete process.env.MANDATE_CONFIG;
  delete process.env.MANDATE_STORE;
  let stdout = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  process.chdir(tempDir('mandate-auditor-'));
  process.exitCode = 0;
  let code: number;
  let error = '';
  try {
    await buildProgram().parseAsync(['node', 'mandate', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (err) {
    ({ code, message: error = '' } = exitCodeFor(err) as { code: number; message: string });
  } finally {
    write.mockRestore();
    process.chdir(cwd);
    process.exitCode = exitCode;
    if (env.config !== undefined) process.env.MANDATE_CONFIG = env.config;
    if (env.store !== undefined) process.env.MANDATE_STORE = env.store;
  }
  return { code, stdout, error };
}

/** The auditor's copy of the node's database, as it is now. */
function copyOfStore(): string {
  const file = join(tempDir('mandate-copy-'), 'audit-copy.db');
  copyFileSync(t.dbFile!, file);
  return file;
}

beforeAll(async () => {
  t = await createTestMandate({ store: 'sqlite' });
  const api = client(t.url);
  for (let i = 0; i < 3; i++) ok200(await api.decide(KEYS.supportBot, refund(100 + i)));
  await t.close(); // a clean stop signs the head
  pub = join(t.dir, 'keys', 'audit-signing.pub.pem');
});
afterEach(() => vi.restoreAllMocks());
afterAll(disposeAll);

describe('audit verify of a store without the key directory: the records after the newest checkpoint', () => {
  it('a signed head: ok, no unsigned records, no warning; --require-signed-head passes', async () => {
    const store = `sqlite:${copyOfStore()}`;
    const json = await mandate(['audit', 'verify', '--store', store, '--public-key', pub, '--json']);
    expect(json.code, json.stdout).toBe(0);
    const r = JSON.parse(json.stdout) as { ok: boolean; head: { seq: number }; unsignedRecords?: number };
    expect(r.ok).toBe(true);
    expect(r.unsignedRecords).toBeUndefined();
    const human = await mandate(['audit', 'verify', '--store', store, '--public-key', pub]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ok: /);
    expect(human.stdout).not.toContain('warning');
    const strict = await mandate([
      'audit',
      'verify',
      '--store',
      store,
      '--public-key',
      pub,
      '--require-signed-head',
    ]);
    expect(strict.code, strict.stdout).toBe(0);
  });

  it('a record appended after the signed head: counted and said to be unverified; --require-signed-head fails (unsigned_tail)', async () => {
    const file = copyOfStore();
    const db = new Database(file);
    let seq: number;
    try {
      seq = insertAtHead(db);
    } finally {
      db.close();
    }
    const store = `sqlite:${file}`;
    const json = await mandate(['audit', 'verify', '--store', store, '--public-key', pub, '--json']);
    expect(json.code, json.stdout).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: true,
      head: { seq },
      unsignedRecords: 1,
      newestCheckpoint: { seq: seq - 1 },
    });
    const human = await mandate(['audit', 'verify', '--store', store, '--public-key', pub]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(
      `warning: 1 record after checkpoint #${seq - 1} (#${seq}–#${seq}) is not covered by any signature and was not verified`,
    );
    const strict = await mandate([
      'audit',
      'verify',
      '--store',
      store,
      '--public-key',
      pub,
      '--require-signed-head',
      '--json',
    ]);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toMatchObject({
      ok: false,
      firstBad: { seq, problem: 'unsigned_tail' },
    });
  });

  it('--require-signed-head with --allow-unsigned-tail is a usage error', async () => {
    const r = await mandate([
      'audit',
      'verify',
      '--file',
      'bundle.jsonl',
      '--public-key',
      pub,
      '--require-signed-head',
      '--allow-unsigned-tail',
    ]);
    expect(r.code).toBe(2);
    expect(r.error).toMatch(/--require-signed-head and --allow-unsigned-tail contradict each other/);
  });
});
