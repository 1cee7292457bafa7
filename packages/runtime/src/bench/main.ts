/**
 * `npm run bench` (DESIGN.md "Performance budget"): in-process decisions and the policy engine at
 * 10 and 1,000 policies against raw cedar-wasm and the unsliced set; HTTP decisions at concurrency
 * 1 and 32 against a bare Node server; the audit invariant after the HTTP run; a crash-survival loop.
 *
 *   node --no-turbo-inlining packages/runtime/dist/bench/main.js [--quick] [--show-crash] [--out <dir>]
 *
 * Env: MANDATE_BENCH_SECONDS — measured seconds per row (default 10; `--quick`: 0.3);
 * MANDATE_BENCH_CERBOS — `0` skips the Cerbos rows of a full run, `1` runs them in a quick one
 * (they install the Cerbos binary from npm on first use).
 * Prints a Markdown table on stdout (progress on stderr), writes bench-results/bench-<date>.{md,json},
 * and exits 1 when an invariant fails (audit events ≠ 200 answers, chain does not verify, a row
 * answered something else than allow). Timings are reported, never asserted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCedarEngine } from '../policy/index.js';
import { runHttpScenario } from './http-scenario.js';
import { runGatewayBench, type GatewayBenchResult } from './gateway-bench.js';
import { runSinksBench } from './sinks-bench.js';
import { runTelemetryBench } from './telemetry-bench.js';
import { benchPolicyRequest, runInProcess, runSurvivalLoop, type InProcessResult } from './inprocess.js';
import {
  fmtMiB,
  fmtOps,
  fmtRatio,
  fmtUs,
  renderMarkdown,
  type BenchResult,
  type SurvivalResult,
  type Target,
} from './report.js';
import { httpTargets } from './http-targets.js';
import { runMemoryBench, type MemoryBenchResult } from './memory-bench.js';
import { REPO_ROOT } from './servers.js';
import { generateWorkload } from './workload.js';

export interface BenchOptions {
  quick: boolean;
  showCrash: boolean;
  /** Measured seconds per row. */
  seconds: number;
  /** Where the .md and .json go; null: do not write. */
  outDir: string | null;
  /** `child` for real runs; `in-process` lets the smoke test run from source. */
  serverWhere: 'child' | 'in-process';
  /** Policy counts of the in-process rows. */
  policyCounts: number[];
  httpConcurrencies: number[];
  decideConcurrency: number;
  survivalEvaluations: number;
  /** Calls per gateway row (0: skip the gateway rows). */
  gatewayCalls: number;
  /** Policies of the memory rows (0: skip them; they need the built dist). */
  memoryPolicies: number;
  /** Open-loop HTTP rates, as fractions of the compiled Mandate's closed-loop max. */
  openFractions: number[];
  /** Run the Cerbos rows (installs `@cerbos/cerbos-linux-x64` on first use). */
  cerbos: boolean;
  progress: (line: string) => void;
}

const MAIN = fileURLToPath(import.meta.url);

export function defaultOptions(quick: boolean, env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const fromEnv = env.MANDATE_BENCH_SECONDS ? Number(env.MANDATE_BENCH_SECONDS) : NaN;
  const seconds = Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : quick ? 0.3 : 10;
  return {
    quick,
    showCrash: false,
    seconds,
    outDir: join(REPO_ROOT, 'bench-results'),
    serverWhere: 'child',
    policyCounts: [10, 1000],
    httpConcurrencies: [1, 32],
    decideConcurrency: 32,
    survivalEvaluations: quick ? 1000 : 20_000,
    // Quick: enough calls per row for every path and concurrency to answer and be audited.
    gatewayCalls: quick ? 20 : Math.max(500, Math.round(seconds * 300)),
    memoryPolicies: quick ? 200 : 10_000,
    openFractions: [0.5, 0.8],
    cerbos: env.MANDATE_BENCH_CERBOS === '1' || (!quick && env.MANDATE_BENCH_CERBOS !== '0'),
    progress: (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`),
  };
}

function machine(): BenchResult['machine'] {
  const c = cpus();
  return {
    node: process.versions.node,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: totalmem() / 2 ** 30,
    loadAvgStart: loadavg(),
    loadAvgEnd: [],
    execArgv: process.execArgv,
    tree: tree(),
  };
}

function tree(): BenchResult['machine']['tree'] {
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  try {
    const commit = git('rev-parse', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'packages');
    return { commit, dirtyFiles: dirty === '' ? 0 : dirty.split('\n').length };
  } catch {
    return { commit: null, dirtyFiles: null };
  }
}

/** Runs every row and returns the result document (does not print or exit). */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const info = machine();
  if (!process.execArgv.includes('--no-turbo-inlining')) {
    o.progress(
      'warning: started without --no-turbo-inlining (the runtime sets it when it loads cedar-wasm; `npm run bench` passes it)',
    );
  }
  const tmp = await mkdtemp(join(tmpdir(), 'mandate-bench-'));
  const problems: string[] = [];
  try {
    const inProcess: InProcessResult[] = [];
    const largest = Math.max(...o.policyCounts);
    for (const n of o.policyCounts) {
      const dir = join(tmp, `inprocess-${n}`);
      const r = await runInProcess(n, {
        seconds: o.seconds,
        rawMinOps: o.quick ? 2 : 10,
        decideConcurrency: o.decideConcurrency,
        progress: o.progress,
        dir,
        ...(n === largest ? { survivalEvaluations: o.survivalEvaluations } : {}),
      });
      inProcess.push(r);
      for (const row of r.rows)
        if (row.effect !== 'allow')
          problems.push(`in-process ${n} ${row.key} answered ${row.effect}, not allow`);
      if (r.audit.events !== r.audit.decisions) {
        problems.push(
          `in-process ${n}: ${r.audit.decisions} decisions but ${r.audit.events} decision audit events`,
        );
      }
    }

    const memory =
      o.memoryPolicies > 0
        ? await runMemoryBench({ policies: o.memoryPolicies, progress: o.progress })
        : null;
    for (const row of memory?.rows ?? [])
      if (row.effect !== 'allow')
        problems.push(`memory ${row.engine}: the bench request answered ${row.effect}`);

    const http = await runHttpScenario({
      seconds: o.seconds,
      warmupSeconds: o.quick ? 0.1 : Math.min(2, Math.max(0.5, o.seconds / 5)),
      concurrencies: o.httpConcurrencies,
      openFractions: o.openFractions,
      openMaxSockets: 64,
      cerbos: o.cerbos,
      where: o.serverWhere,
      dir: join(tmp, 'http'),
      progress: o.progress,
    });
    for (const a of http.audits) {
      if (a.decisionEvents !== a.answers200) {
        problems.push(
          `http ${a.server}: ${a.answers200} decision answers (200) but ${a.decisionEvents} decision audit events`,
        );
      }
      if (!a.verify.ok)
        problems.push(`http ${a.server}: audit chain does not verify: ${JSON.stringify(a.verify.firstBad)}`);
      if (a.clientErrors > 0)
        problems.push(`http ${a.server}: ${a.clientErrors} requests failed on the client side`);
      const nonAllow = Object.keys(a.effects).filter((e) => e !== 'allow');
      if (nonAllow.length > 0)
        problems.push(`http ${a.server}: answers other than allow: ${JSON.stringify(a.effects)}`);
    }

    const cerbosAnswers = http.cerbos.answers;
    if (
      cerbosAnswers &&
      (cerbosAnswers.clientErrors > 0 || Object.keys(cerbosAnswers.effects).some((e) => e !== 'allow'))
    )
      problems.push(`http: Cerbos answered other than allow: ${JSON.stringify(cerbosAnswers)}`);

    const gateway =
      o.gatewayCalls > 0 ? await runGatewayBench({ calls: o.gatewayCalls, progress: o.progress }) : null;
    if (gateway && (gateway.audit.decisionEvents !== gateway.audit.calls || !gateway.audit.verified)) {
      problems.push(
        `gateway: ${gateway.audit.calls} calls but ${gateway.audit.decisionEvents} decision audit events (verify ${gateway.audit.verified ? 'ok' : 'FAILED'})`,
      );
    }

    const sinks = await runSinksBench({
      seconds: o.seconds,
      concurrency: o.decideConcurrency,
      dir: await mkdtemp(join(tmp, 'sinks-')),
      progress: o.progress,
    });
    for (const [name, n] of Object.entries(sinks.delivered))
      if (n < sinks.head - 1)
        problems.push(`sinks: ${name} delivered ${n} of ${sinks.head} records after the run`);

    const telemetry = await runTelemetryBench({
      seconds: o.seconds,
      concurrency: o.decideConcurrency,
      dir: await mkdtemp(join(tmp, 'telemetry-')),
      progress: o.progress,
    });
    if (telemetry.spansExported === 0) problems.push('telemetry: no span reached the OTLP receiver');

    const big = inProcess.find((r) => r.policies === largest)!;
    const survival: SurvivalResult = {
      policies: big.policies,
      evaluations: big.survival?.evaluations ?? 0,
      seconds: big.survival?.seconds ?? 0,
      execArgv: process.execArgv,
    };
    if (big.survival && big.survival.allow !== big.survival.evaluations) {
      problems.push(
        `crash survival: ${big.survival.evaluations - big.survival.allow} evaluations were not allow`,
      );
    }
    if (o.showCrash) survival.withoutFlag = await showCrash(o);

    const result: BenchResult = {
      schema: 'mandate-bench/v1',
      date: new Date().toISOString(),
      quick: o.quick,
      seconds: o.seconds,
      machine: info,
      inProcess,
      memory,
      http,
      survival,
      gateway,
      sinks,
      telemetry,
      targets: targets(inProcess, http, survival, gateway, memory),
      ok: problems.length === 0,
      problems,
      durationSeconds: 0,
    };
    result.machine.loadAvgEnd = loadavg();
    result.durationSeconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function targets(
  inProcess: InProcessResult[],
  http: BenchResult['http'],
  survival: SurvivalResult,
  gateway: GatewayBenchResult | null,
  memory: MemoryBenchResult | null,
): Target[] {
  const out: Target[] = [];
  // Latency is judged with one call in flight (with more, p50 is mostly queueing) and throughput
  // with the most in flight (with one, calls/s is just 1/latency); see docs/benchmarks.md.
  const rows = gateway?.rows ?? [];
  const levels = [...new Set(rows.map((r) => r.concurrency))];
  const low = Math.min(...levels);
  const high = Math.max(...levels);
  for (const mode of [...new Set(rows.map((r) => r.upstream))]) {
    for (const path of ['gateway', 'gateway-args'] as const) {
      const at = (p: string, c: number) =>
        rows.find((r) => r.upstream === mode && r.path === p && r.concurrency === c);
      const [d1, g1, dN, gN] = [at('direct', low), at(path, low), at('direct', high), at(path, high)];
      if (d1 && g1) {
        out.push({
          name: `MCP ${path} (${mode} upstream) c=${low}: added p50 latency`,
          measured: `${(g1.p50Ms - d1.p50Ms).toFixed(3)} ms`,
          target: '< 1 ms',
          met: g1.p50Ms - d1.p50Ms < 1,
        });
      }
      if (dN && gN && high > low) {
        out.push({
          name: `MCP ${path} (${mode} upstream) c=${high}: calls/s kept vs direct`,
          measured: `${((100 * gN.callsPerSecond) / dN.callsPerSecond).toFixed(0)}%`,
          target: '≥ 70%',
          met: gN.callsPerSecond / dN.callsPerSecond >= 0.7,
        });
      }
    }
  }
  const big = inProcess.reduce((a, b) => (b.policies > a.policies ? b : a));
  const get = (key: string) => big.rows.find((r) => r.key === key)!.sample;
  const raw = get('raw');
  for (const key of ['decide-c1', 'decide-cN', 'evaluate']) {
    const s = get(key);
    const label =
      key === 'evaluate'
        ? 'evaluate (engine alone)'
        : key === 'decide-c1'
          ? 'decide, 1 in flight'
          : 'decide, 32 in flight';
    const ratio = s.opsPerSec / raw.opsPerSec;
    out.push({
      name: `in-process ${big.policies} policies: ${label} vs raw cedar-wasm (ops/s)`,
      measured: `${fmtRatio(ratio)} (${fmtOps(s.opsPerSec)}/s vs ${fmtOps(raw.opsPerSec)}/s; p50 ${fmtUs(s.p50Us)} vs ${fmtUs(raw.p50Us)})`,
      target: '≥ 10×',
      met: ratio >= 10,
    });
  }
  const decideCompiled = big.rows.find((r) => r.key === 'decide-compiled-cN')?.sample;
  if (decideCompiled) {
    // Issue 13: the full in-process decision, 32 in flight, against the cedar-wasm path of the
    // same run (what the decision path was before the compiled engine).
    const before = get('decide-cN');
    const ratio = decideCompiled.opsPerSec / before.opsPerSec;
    out.push({
      name: `in-process ${big.policies} policies: decide, 32 in flight, compiled engine vs cedar engine (ops/s)`,
      measured: `${fmtRatio(ratio)} (${fmtOps(decideCompiled.opsPerSec)}/s vs ${fmtOps(before.opsPerSec)}/s; p50 ${fmtUs(decideCompiled.p50Us)} vs ${fmtUs(before.p50Us)})`,
      target: '≥ 10×',
      met: ratio >= 10,
    });
  }
  const compiled = big.rows.find((r) => r.key === 'compiled')?.sample;
  if (compiled) {
    const sliced = get('evaluate');
    out.push(
      {
        name: `in-process ${big.policies} policies: compiled evaluator p50`,
        measured: fmtUs(compiled.p50Us),
        target: '< 5 µs',
        met: compiled.p50Us < 5,
      },
      {
        name: `in-process ${big.policies} policies: compiled evaluator vs raw cedar-wasm (ops/s)`,
        measured: `${fmtRatio(compiled.opsPerSec / raw.opsPerSec)} (p99 ${fmtUs(compiled.p99Us)} vs ${fmtUs(raw.p99Us)})`,
        target: '≥ 1,000×',
        met: compiled.opsPerSec / raw.opsPerSec >= 1000,
      },
      {
        name: `in-process ${big.policies} policies: compiled evaluator vs sliced cedar-wasm (ops/s)`,
        measured: `${fmtRatio(compiled.opsPerSec / sliced.opsPerSec)} (p50 ${fmtUs(compiled.p50Us)} vs ${fmtUs(sliced.p50Us)}; p99 ${fmtUs(compiled.p99Us)} vs ${fmtUs(sliced.p99Us)})`,
        target: '≥ 20×',
        met: compiled.opsPerSec / sliced.opsPerSec >= 20,
      },
    );
  }
  out.push(...httpTargets(http));
  const compiledMemory = memory?.rows.find((r) => r.engine === 'compiled');
  if (memory && compiledMemory) {
    out.push({
      name: `memory: ${memory.policies.toLocaleString('en-US')} policies, compiled engine, RSS after compiling`,
      measured: `${fmtMiB(compiledMemory.after.rss)} (+${fmtMiB(compiledMemory.after.rss - compiledMemory.before.rss)} over the fresh process)`,
      target: '< 200 MB',
      met: compiledMemory.after.rss < 200 * 2 ** 20,
    });
  }
  out.push({
    name: `crash survival (${survival.policies}-policy loop, --no-turbo-inlining)`,
    measured: `${survival.evaluations.toLocaleString('en-US')} evaluations, survived`,
    target: '≥ 20,000',
    met: survival.evaluations >= 20_000,
  });
  return out;
}

/** `--show-crash`: the survival loop in a child started WITHOUT `--no-turbo-inlining`. */
async function showCrash(o: BenchOptions): Promise<NonNullable<SurvivalResult['withoutFlag']>> {
  const n = o.quick ? 5000 : 100_000;
  o.progress(`show-crash: ${n} evaluations in a child started without --no-turbo-inlining…`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, '--crash-child', String(n)], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
    child.on('close', (exitCode, signal) => {
      const done = /evaluations=(\d+)/g;
      let last: number | null = null;
      for (const m of stdout.matchAll(done)) last = Number(m[1]);
      resolve({ exitCode, signal, evaluations: last, stderrTail: stderr.split('\n').slice(-12).join('\n') });
    });
  });
}

/** The child side of `--show-crash`: compile the largest set, loop, print progress so a crash point is visible. */
function crashChild(n: number): void {
  const w = generateWorkload(1000);
  // Memo off: the loop must run Cedar every time to show whether the process survives it.
  const set = createCedarEngine({ memoEntries: 0 }).compile({ policies: w.policies, schema: w.schema });
  const chunk = 5000;
  for (let done = 0; done < n; done += chunk) {
    const r = runSurvivalLoop(set, benchPolicyRequest(w), Math.min(chunk, n - done));
    process.stdout.write(`evaluations=${done + r.evaluations}\n`);
  }
  set.dispose();
}

export function parseArgs(argv: string[]): {
  quick: boolean;
  showCrash: boolean;
  outDir?: string;
  crashChild?: number;
  help: boolean;
} {
  const out: ReturnType<typeof parseArgs> = { quick: false, showCrash: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') out.quick = true;
    else if (a === '--show-crash') out.showCrash = true;
    else if (a === '--out') out.outDir = argv[++i];
    else if (a === '--crash-child') out.crashChild = Number(argv[++i]);
    else if (a === '--help' || a === '-h') out.help = true;
    else throw new Error(`unknown argument ${a} (use --quick, --show-crash, --out <dir>)`);
  }
  return out;
}

/** Writes `bench-<ISO date>.md` and `.json`; returns their paths. */
export async function writeResults(r: BenchResult, markdown: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stem = join(dir, `bench-${r.date.replace(/[:.]/g, '-')}`);
  await writeFile(`${stem}.md`, markdown);
  await writeFile(`${stem}.json`, JSON.stringify(r, null, 2) + '\n');
  return [`${stem}.md`, `${stem}.json`];
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(
      'usage: node --no-turbo-inlining packages/runtime/dist/bench/main.js [--quick] [--show-crash] [--out <dir>]\n' +
        'env: MANDATE_BENCH_SECONDS (measured seconds per row; default 10, --quick 0.3)\n',
    );
    return 0;
  }
  if (args.crashChild !== undefined) {
    crashChild(args.crashChild);
    return 0;
  }
  const o = defaultOptions(args.quick);
  o.showCrash = args.showCrash;
  if (args.outDir) o.outDir = args.outDir;
  const result = await runBench(o);
  const markdown = renderMarkdown(result);
  process.stdout.write(markdown + '\n');
  if (o.outDir) {
    const files = await writeResults(result, markdown, o.outDir);
    o.progress(`wrote ${files.join(' and ')}`);
  }
  if (!result.ok) {
    process.stderr.write(`bench: invariants failed:\n  ${result.problems.join('\n  ')}\n`);
    return 1;
  }
  return 0;
}

// Run only as the entry point, so the smoke test can import runBench.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
