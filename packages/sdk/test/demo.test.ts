import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_DIR, REPO_ROOT } from './fixtures.js';

const CLI_BIN = join(REPO_ROOT, 'packages', 'runtime', 'bin', 'mandate.js');
const DEMO = join(EXAMPLE_DIR, 'agent', 'demo.mjs');
const dirs: string[] = [];
const children: { kill(): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The environment of a child process, without the test machine's MANDATE_* variables. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MANDATE_')) out[k] = v;
  return { ...out, ...extra };
}

/**
 * A time zone in which it is 03:xx now: the example's trade policy (09–17) is certainly closed
 * there for the few seconds the demo runs, whatever the hour of the machine running CI.
 */
function zoneWhereMarketIsClosed(): string {
  let offset = (3 - new Date().getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

/** `mandate serve` (the real binary) on a fresh SQLite store and a free port; resolves to its URL. */
async function serve(opts: { timeZone: string; withoutGuardrails?: boolean }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-demo-'));
  dirs.push(dir);
  let policies = join(EXAMPLE_DIR, 'policies');
  if (opts.withoutGuardrails) {
    cpSync(policies, join(dir, 'policies'), { recursive: true });
    rmSync(join(dir, 'policies', 'guardrails.cedar'));
    rmSync(join(dir, 'policies', 'tests'), { recursive: true, force: true });
    policies = join(dir, 'policies');
  }
  const raw = JSON.parse(readFileSync(join(REPO_ROOT, 'mandate.config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  raw.store = `sqlite:${join(dir, 'mandate.db')}`;
  raw.keys = { dir: join(dir, 'keys') };
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.log = { level: 'warn' };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  raw.policies = { dir: policies, timeZone: opts.timeZone };
  delete raw.gateway;
  writeFileSync(join(dir, 'mandate.config.json'), JSON.stringify(raw));
  const child = spawn(
    process.execPath,
    [CLI_BIN, 'serve', '--config', join(dir, 'mandate.config.json'), '--port', '0'],
    {
      cwd: REPO_ROOT,
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s: ${out} ${err}`)), 30_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /Mandate is running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mandate serve exited with ${code}: ${err}`));
    });
  });
}

/** Runs `npm run demo`'s script against `url`. */
function demo(url: string, timeZone: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEMO], {
      cwd: REPO_ROOT,
      env: env({ MANDATE_URL: url, MANDATE_DEMO_TIME_ZONE: timeZone }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Issue #10 "Done when": `npm run demo` passes against a real `mandate serve` on SQLite, in CI. */
describe('npm run demo against a real mandate serve', () => {
  it('plays every step of the story and exits 0', { timeout: 120_000 }, async () => {
    const zone = zoneWhereMarketIsClosed();
    const r = await demo(await serve({ timeZone: zone }), zone);
    expect(r.code, r.out).toBe(0);
    for (const step of [
      /✓ 1\. support-bot reads c-42.*allow/,
      /✓ 2\. support-bot reads c-77.*deny \(mandate\.default_deny\)/,
      /✓ 3\. refund of 120 to c-42 .*allow \(refund-small/,
      /✓ 4\. refund of 900 to c-42 .*approval_required \(refund-large-needs-finance/,
      /✓ 5\. frank \(finance-manager\) approves apr_/,
      /✓ 6\. the agent resumes the approved call: it runs, once .*allow/,
      /✓ 7\. the same approved call replayed .*deny .*approval_consumed/,
      /✓ 8\. trade-bot buys 10 ACME outside market hours .*deny/,
      /✓ 9\. refund of 50 to c-13 \(under legal hold\) .*deny \(legal-hold\)/,
      /✓ 10\. the audit trail verifies/,
      /The story holds\./,
    ]) {
      expect(r.out).toMatch(step);
    }
  });

  it(
    'plays the story after the README tour left the 900 refund pending (the demo gets that approval)',
    { timeout: 120_000 },
    async () => {
      // A probe: the tour's curl asks for the same refund, and the demo looked for the approval by
      // its own decision id, not the approval its decision named: steps 5–7 and 9 failed.
      const zone = zoneWhereMarketIsClosed();
      const url = await serve({ timeZone: zone });
      const asked = await fetch(`${url}/v1/decisions`, {
        method: 'POST',
        headers: { authorization: 'Bearer demo-support-bot', 'content-type': 'application/json' },
        body: JSON.stringify({
          agent: 'support-bot',
          onBehalfOf: 'alice',
          action: 'payments.refund',
          args: { customerId: 'c-42', amount: 900 },
        }),
      });
      expect(((await asked.json()) as { effect: string }).effect).toBe('approval_required');
      const r = await demo(url, zone);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/✓ 5\. frank \(finance-manager\) approves apr_/);
    },
  );

  it(
    'exits 1 when a step differs from the story (a server without the legal-hold guardrail)',
    { timeout: 120_000 },
    async () => {
      const zone = zoneWhereMarketIsClosed();
      const r = await demo(await serve({ timeZone: zone, withoutGuardrails: true }), zone);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(
        /✗ 9\. refund of 50 to c-13 \(under legal hold\) .*allow .*expected deny \(legal-hold\)/,
      );
      expect(r.out).toMatch(/1 step\(s\) differ from the story\./);
    },
  );
});
