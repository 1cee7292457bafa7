/**
 * Smoke test of `npm run bench`: the pieces run in quick mode and produce a well-formed result in
 * which the audit invariant holds. Structure and invariants only — never a timing (DESIGN.md:
 * numbers are measured by the bench, never asserted in a test).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultOptions, parseArgs, runBench } from '../../src/bench/main.js';
import { renderMarkdown, type BenchResult } from '../../src/bench/report.js';
import { countPolicies, generateWorkload, HOT_ACTION } from '../../src/bench/workload.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const DIST_MAIN = join(REPO, 'packages/runtime/dist/bench/main.js');

function expectSample(s: unknown): void {
  expect(s).toMatchObject({
    ops: expect.any(Number),
    seconds: expect.any(Number),
    opsPerSec: expect.any(Number),
    p50Us: expect.any(Number),
    p99Us: expect.any(Number),
  });
}

/** The structure every bench result has, and the invariants that must hold in any run. */
function expectWellFormed(r: BenchResult, policyCounts: number[]): void {
  expect(r.schema).toBe('mandate-bench/v1');
  expect(r.machine).toMatchObject({
    node: expect.any(String),
    cpuModel: expect.any(String),
    cores: expect.any(Number),
  });
  expect(r.inProcess.map((x) => x.policies)).toEqual(policyCounts);
  for (const ip of r.inProcess) {
    expect(ip.rows.map((x) => x.key)).toEqual([
      'raw',
      'unsliced',
      'evaluate',
      'compiled',
      'decide-c1',
      'decide-cN',
      'decide-compiled-c1',
      'decide-compiled-cN',
    ]);
    expect(ip.rows.filter((x) => x.baseline).map((x) => x.key)).toEqual(['raw', 'unsliced']);
    for (const row of ip.rows) {
      expectSample(row.sample);
      expect(row.effect).toBe('allow');
    }
    expect(ip.sliceSize).toBeLessThanOrEqual(ip.policies);
    expect(ip.audit.events).toBe(ip.audit.decisions);
  }
  const closed = r.http.rows.filter((x) => x.mode === 'closed');
  expect(closed.map((x) => `${x.concurrency}/${x.server}`)).toEqual([
    '1/bare',
    '1/mandate',
    '1/mandate-compiled',
    '32/bare',
    '32/mandate',
    '32/mandate-compiled',
  ]);
  // Open loop: the bare baseline and the compiled Mandate at 50 % and 80 % of the latter's closed-loop max.
  const open = r.http.rows.filter((x) => x.mode === 'open');
  expect(open.map((x) => x.server)).toEqual(['bare', 'mandate-compiled', 'bare', 'mandate-compiled']);
  const top = closed.find((x) => x.server === 'mandate-compiled' && x.concurrency === 32)!.sample.opsPerSec;
  expect(open.map((x) => (x.sample as { targetRate: number }).targetRate)).toEqual(
    [0.5, 0.5, 0.8, 0.8].map((f) => Math.max(10, Math.round(top * f))),
  );
  for (const row of r.http.rows) expectSample(row.sample);
  // A quick run never installs or starts Cerbos.
  expect(r.http.cerbos.ran).toBe(false);
  expect(r.http.rows.some((x) => x.server === 'cerbos')).toBe(false);
  // The audit invariant, per Mandate server: one decision event per 200 answer, and the chain verifies.
  expect(r.http.audits.map((a) => a.server)).toEqual(['Mandate (cedar engine)', 'Mandate (compiled engine)']);
  for (const a of r.http.audits) {
    expect(a.answers200).toBeGreaterThan(0);
    expect(a.decisionEvents).toBe(a.answers200);
    expect(a.verify.ok).toBe(true);
    expect(a.clientErrors).toBe(0);
    expect(Object.keys(a.effects)).toEqual(['allow']);
  }
  expect(r.survival.evaluations).toBeGreaterThan(0);
  expect(r.targets.length).toBeGreaterThan(0);
  expect(r.problems).toEqual([]);
  expect(r.ok).toBe(true);
}

describe('bench workload', () => {
  it('is deterministic for a seed and has the requested number of policies', () => {
    const a = generateWorkload(200);
    const b = generateWorkload(200);
    expect(a.policies).toEqual(b.policies);
    expect(countPolicies(a.policies)).toBe(200);
    expect(a.actions).toHaveLength(100);
    expect(a.actions).toContain(HOT_ACTION);
    expect(a.tools.map((t) => t.action)).toEqual(a.actions);
  });

  it('parses its flags', () => {
    expect(parseArgs(['--quick', '--out', '/tmp/x'])).toMatchObject({
      quick: true,
      showCrash: false,
      outDir: '/tmp/x',
    });
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument/);
  });
});

describe('bench pieces, quick, in-process', () => {
  it('measures every row and keeps the audit invariant', async () => {
    const o = defaultOptions(true, {});
    o.seconds = 0.15;
    o.outDir = null;
    o.serverWhere = 'in-process';
    o.policyCounts = [10, 100];
    o.survivalEvaluations = 200;
    // The gateway rows start compiled child processes; the dist run below covers them.
    o.gatewayCalls = 0;
    // The memory rows fork the compiled memory-child.js; the dist run below covers them.
    o.memoryPolicies = 0;
    o.progress = () => undefined;
    const r = await runBench(o);
    expectWellFormed(r, [10, 100]);
    const md = renderMarkdown(r);
    expect(md).toContain('### In-process, 10 policies');
    expect(md).toContain('### HTTP POST /v1/decisions, closed loop');
    expect(md).toContain('### HTTP POST /v1/decisions, open loop');
    expect(md).toContain('### Targets');
  }, 120_000);
});

describe.skipIf(!existsSync(DIST_MAIN))('npm run bench --quick (built dist, child processes)', () => {
  it('exits 0, prints the table and writes .md and .json with the audit invariant holding', async () => {
    const out = await mkdtemp(join(tmpdir(), 'mandate-bench-smoke-'));
    try {
      // Short rows, whatever the caller's shell says: the structure and the invariants are what is
      // checked, and they do not depend on how long a row measures.
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', MANDATE_BENCH_SECONDS: '0.1' };
      // A quick run must not install Cerbos, whatever the caller's shell says.
      delete env.MANDATE_BENCH_CERBOS;
      const { code, stdout, stderr } = await new Promise<{
        code: number | null;
        stdout: string;
        stderr: string;
      }>((resolve) => {
        const child = spawn(process.execPath, ['--no-turbo-inlining', DIST_MAIN, '--quick', '--out', out], {
          cwd: REPO,
          env,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        child.on('close', (c) => resolve({ code: c, stdout, stderr }));
      });
      expect(code, stderr).toBe(0);
      expect(stdout).toContain('### In-process, 1,000 policies');
      expect(stdout).toContain('decision events');
      expect(stderr).toContain('[bench');
      const files = (await readdir(out)).sort();
      expect(files).toHaveLength(2);
      expect(files[0]).toMatch(/^bench-.*\.json$/);
      expect(files[1]).toMatch(/^bench-.*\.md$/);
      const r = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as BenchResult;
      expectWellFormed(r, [10, 1000]);
      expect(r.quick).toBe(true);
      expect(r.http.childExecArgv).toContain('--no-turbo-inlining');
      expect(r.http.pinning.generatorWhere).toBe('child');
      expect(r.memory?.rows.map((x) => `${x.engine}/${x.policies}/${x.effect}`)).toEqual([
        'cedar/200/allow',
        'compiled/200/allow',
      ]);
      for (const x of r.memory?.rows ?? []) expect(x.after.rss).toBeGreaterThan(0);
      expect(stdout).toContain('### Memory: 200 generated policies');
      expect(stdout).toContain('open loop');
      expect(stdout).toContain('MCP gateway');
      const paths = ['direct', 'floor', 'gateway', 'gateway-args'];
      expect(r.gateway?.rows.map((x) => `${x.upstream}/${x.path}/${x.concurrency}`)).toEqual(
        ['sse', 'json'].flatMap((u) => [1, 16].flatMap((c) => paths.map((p) => `${u}/${p}/${c}`))),
      );
      for (const row of r.gateway?.rows ?? []) {
        expect(row.calls).toBeGreaterThan(0);
        expect(row.cpuUsPerCall.client).toBeGreaterThan(0);
        expect(row.cpuUsPerCall.upstream).toBeGreaterThan(0);
        expect(row.cpuUsPerCall.middle === null).toBe(row.path === 'direct');
      }
      expect(r.targets.filter((t) => t.name.startsWith('MCP '))).toHaveLength(8);
      expect(r.gateway?.audit.decisionEvents).toBe(r.gateway?.audit.calls);
      expect(r.gateway?.audit.verified).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 240_000);
});
