import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_BIN,
  EXAMPLE_DIR,
  EXAMPLE_POLICIES,
  REPO_ROOT,
  disposeAll,
  exampleConfig,
  tempDir,
} from '../fixtures/mandate.js';
import { cliEnv, ensureBuilt, runCli } from '../fixtures/cli.js';
import { KEYS, client, codes, ok200, refund } from '../fixtures/http.js';

/** A config like the example's, with its store and keys in a temp dir and absolute paths. */
function writeConfig(dir: string, store = `sqlite:${join(dir, 'mandate.db')}`): string {
  const raw = exampleConfig();
  raw.store = store;
  raw.keys = { dir: join(dir, 'keys') };
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.log = { level: 'warn' };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  raw.policies = { ...raw.policies, dir: EXAMPLE_POLICIES };
  const file = join(dir, 'mandate.config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return file;
}

interface Server {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
}

/** Spawns `mandate serve --port 0` and reads the URL from its banner. */
function serve(config: string): Promise<Server> {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', '--config', config, '--port', '0'], {
    cwd: REPO_ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no banner within 20 s; stdout: ${out}; stderr: ${err}`));
    }, 20_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /Mandate is running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      // The banner is complete once its last line is in.
      if (m && out.includes('docs:')) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, exited, stdout: () => out });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before its banner; stderr: ${err}`));
    });
  });
}

beforeAll(() => ensureBuilt());
afterAll(disposeAll);

describe('mandate serve + the approvals CLI: the refund-approval story', () => {
  let server: Server | null = null;
  afterAll(() => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  });

  it('runs the story end to end on the real binary and shuts down cleanly on SIGTERM', async () => {
    const dir = tempDir('mandate-e2e-');
    const config = writeConfig(dir);
    server = await serve(config);
    const s = server;
    expect(s.stdout()).toMatch(/policy:\s+sha256:[0-9a-f]{64} \(\d+ policies\)/);
    // The config's demo keys are announced as demo-only at every start (issue 9 §1).
    expect(s.stdout()).toMatch(/keys:\s+\d+ from the config file \(demo-admin.*DEMO ONLY/);
    const api = client(s.url);
    expect(ok200(await api.get('/readyz')).ready).toBe(true);

    const asked = ok200(await api.decide(KEYS.supportBot, refund(900)));
    expect(asked.effect).toBe('approval_required');
    const id = asked.approval!.id;
    const remote = (key: string) => ['--url', s.url, '--key', key, '--json'];

    const listed = await runCli(['approvals', 'list', ...remote(KEYS.frank)]);
    expect(listed.code, listed.stderr).toBe(0);
    const items = (JSON.parse(listed.stdout) as { items: { id: string; summary: string }[] }).items;
    expect(items.find((a) => a.id === id)?.summary).toBe('Refund 900 to customer c-42');
    const hanaList = await runCli(['approvals', 'list', ...remote(KEYS.hana)]);
    expect(hanaList.code).toBe(0);
    expect((JSON.parse(hanaList.stdout) as { items: { id: string }[] }).items.map((a) => a.id)).not.toContain(
      id,
    );

    // The wrong approver is refused with a non-zero exit and the stable code: the approval is not
    // one they may see, so it is answered as GET answers them.
    const wrong = await runCli(['approvals', 'approve', id, ...remote(KEYS.hana)]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('not_found');

    const approved = await runCli([
      'approvals',
      'approve',
      id,
      '--comment',
      'customer verified',
      ...remote(KEYS.frank),
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ id, status: 'approved' });

    const allowed = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
    expect(allowed.effect).toBe('allow');
    const replay = ok200(await api.decide(KEYS.supportBot, refund(900, { approvalId: id })));
    expect(codes(replay)).toEqual(['approval_consumed']);

    const verify = await runCli(['audit', 'verify', '--config', config, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });

    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });

    // Shutdown flushed the log and signed a final checkpoint; the chain still verifies.
    const after = await runCli(['audit', 'verify', '--config', config, '--json']);
    expect(after.code, after.stderr).toBe(0);
    const report = JSON.parse(after.stdout) as { ok: boolean; records: number; checkpoints: number };
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toBeGreaterThanOrEqual(1);
    expect(report.records).toBeGreaterThanOrEqual((JSON.parse(verify.stdout) as { records: number }).records);
  });
});

describe('mandate policy test', () => {
  it('passes the example’s own cases (exit 0)', async () => {
    const r = await runCli(['policy', 'test', 'examples/fintech-support/policies']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(r.stdout).not.toContain('FAIL');
  });

  it('fails (exit 1) when a case expects the wrong effect, and says which', async () => {
    const dir = tempDir('mandate-e2e-');
    const cases = join(dir, 'wrong.yaml');
    writeFileSync(
      cases,
      [
        'cases:',
        '  - name: a refund of 120 is allowed',
        '    request: { agent: support-bot, onBehalfOf: alice, action: payments.refund, args: { customerId: c-42, amount: 120 } }',
        '    expect: { effect: allow }',
        '  - name: a refund of 900 is wrongly expected to be allowed',
        '    request: { agent: support-bot, onBehalfOf: alice, action: payments.refund, args: { customerId: c-42, amount: 900 } }',
        '    expect: { effect: allow }',
        '',
      ].join('\n'),
    );
    const r = await runCli(['policy', 'test', 'examples/fintech-support/policies', '--cases', cases]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL  a refund of 900 is wrongly expected to be allowed');
    expect(r.stdout).toContain('effect is approval_required, expected allow');
    expect(r.stdout).toContain('1 passed, 1 failed');

    const json = await runCli([
      'policy',
      'test',
      'examples/fintech-support/policies',
      '--cases',
      cases,
      '--json',
    ]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ passed: 1, failed: 1 });
  });

  it('a case whose time is not a date-time with an offset fails, naming it (it passed on a NaN clock)', async () => {
    // A probe: `at: '2026-01-06T23:00:00ZZ'` set the clock to NaN, the decision failed on the audit
    // write (a deny), and a case expecting deny printed ok; one without an offset answered by the
    // machine's time zone.
    const cases = join(tempDir('mandate-e2e-'), 'times.yaml');
    const request =
      '{ agent: support-bot, onBehalfOf: alice, action: payments.refund, args: { customerId: c-42, amount: 120 } }';
    writeFileSync(
      cases,
      [
        'cases:',
        ...["'2026-01-06T23:00:00ZZ'", "'not-a-time'", "'2026-01-06T15:30:00'"].flatMap((at, i) => [
          `  - name: case ${i}`,
          `    at: ${at}`,
          `    request: ${request}`,
          '    expect: { effect: deny }',
        ]),
        '  - name: with an offset',
        "    at: '2026-01-06T15:30:00+01:00'",
        `    request: ${request}`,
        '    expect: { effect: allow }',
        '',
      ].join('\n'),
    );
    const r = await runCli(['policy', 'test', 'examples/fintech-support/policies', '--cases', cases]);
    expect(r.code).toBe(1);
    for (const i of [0, 1, 2])
      expect(r.stdout).toMatch(
        new RegExp(`FAIL  case ${i}\\n.*invalid case: at: must be an ISO 8601 date-time with Z or an offset`),
      );
    expect(r.stdout).toContain('1 passed, 3 failed');
  });
});

describe('mandate check exit codes', () => {
  let config: string;
  beforeAll(() => {
    config = writeConfig(tempDir('mandate-e2e-'), 'memory');
  });
  const check = (user: string, action: string, args: unknown) =>
    runCli([
      'check',
      '--config',
      config,
      '--agent',
      'support-bot',
      '--user',
      user,
      '--action',
      action,
      '--args',
      JSON.stringify(args),
      '--json',
    ]);

  it('exits 0 on allow', async () => {
    const r = await check('alice', 'payments.refund', { customerId: 'c-42', amount: 120 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ effect: 'allow' });
  });

  it('exits 1 on deny', async () => {
    const r = await check('alice', 'crm.read_customer', { customerId: 'c-77' });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ effect: 'deny' });
  });

  it('exits 3 on approval_required (a dry run: it says who would be asked)', async () => {
    const r = await check('alice', 'payments.refund', { customerId: 'c-42', amount: 900 });
    expect(r.code).toBe(3);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({
      effect: 'approval_required',
      dryRun: true,
      wouldRequest: { role: 'finance-manager' },
    });
    expect(d.approval).toBeUndefined();
  });

  it('exits 2 (usage) on --args with a duplicate key, never 0', async () => {
    const r = await runCli([
      'check',
      '--config',
      config,
      '--agent',
      'support-bot',
      '--action',
      'payments.refund',
      '--args',
      '{"amount":1,"amount":2}',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('duplicate_key');
  });
});
