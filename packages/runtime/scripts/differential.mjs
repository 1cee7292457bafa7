// Differential run of the compiled Cedar evaluator against cedar-wasm (ADR 0012, docs/policies.md).
// Build first (`npm run build`), then:
//   node --no-turbo-inlining packages/runtime/scripts/differential.mjs --cases 1000000
// Options: --cases N (default 100000), --per-set N requests per generated policy set (default 200),
// --seed S first seed (default 1), --chunk N cases per child process (default 20000; 0 runs
// everything in this process). Exit 0 when both engines agree on every case, 1 otherwise; the
// divergences (seed, request index, both answers, cedar-wasm's messages and a fresh set's answer,
// the policies) are printed as JSON lines.
//
// Why chunks: in one long process cedar-wasm (the reference) can trap ("memory access out of
// bounds", seen after ~50,000 cases of `--per-set 500 --seed 100000`); from then on every cedar-wasm
// call fails, which shows up as divergences that are faults of the reference, not of the compiled
// evaluator. Short child processes keep the reference healthy; `--chunk 0` reproduces the fault.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { newStats, runSeed } from '../dist/bench/differential.js';

function parse(argv) {
  const o = { cases: 100_000, perSet: 200, seed: 1, chunk: 20_000, child: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--child') {
      o.child = true;
      continue;
    }
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
    if (a === '--cases') o.cases = v;
    else if (a === '--per-set') o.perSet = v;
    else if (a === '--seed') o.seed = v;
    else if (a === '--chunk') o.chunk = v;
    else throw new Error(`unknown argument ${a} (use --cases, --per-set, --seed, --chunk)`);
  }
  if (o.perSet < 1) throw new Error('--per-set must be at least 1');
  return o;
}

/** Runs `cases` cases from `seed` in this process; returns the stats and the next seed. */
function runHere(o, progress) {
  const stats = newStats();
  const started = performance.now();
  let seed = o.seed;
  let reported = 0;
  while (stats.cases < o.cases) {
    runSeed(seed++, Math.min(o.perSet, o.cases - stats.cases), stats);
    for (const d of stats.divergences.slice(reported))
      process.stdout.write(`divergence ${JSON.stringify(d)}\n`);
    reported = stats.divergences.length;
    if (progress && seed % 50 === 0) {
      const s = (performance.now() - started) / 1000;
      process.stderr.write(
        `… ${stats.cases} cases, ${stats.divergences.length} divergences, ${s.toFixed(0)} s\n`,
      );
    }
  }
  return { stats, nextSeed: seed };
}

function summaryOf(stats, firstSeed, nextSeed, seconds) {
  return {
    cases: stats.cases,
    compiledAnswered: stats.compiled,
    policySets: stats.policySets,
    seeds: [firstSeed, nextSeed - 1],
    invalidPoliciesDropped: stats.invalidPolicies,
    effects: stats.effects,
    withErrors: stats.withErrors,
    divergences: stats.divergences.length,
    seconds: Math.round(seconds),
  };
}

const o = parse(process.argv.slice(2));
const started = performance.now();
if (o.child || o.chunk === 0) {
  const { stats, nextSeed } = runHere(o, !o.child);
  const summary = summaryOf(stats, o.seed, nextSeed, (performance.now() - started) / 1000);
  process.stdout.write(`${o.child ? 'chunk ' : ''}${JSON.stringify(summary)}\n`);
  process.exitCode = stats.divergences.length === 0 ? 0 : 1;
} else {
  // Chunks in child processes, one after the other; each reports its summary as its last line.
  const total = {
    cases: 0,
    compiledAnswered: 0,
    policySets: 0,
    invalidPoliciesDropped: 0,
    effects: {},
    withErrors: 0,
    divergences: 0,
  };
  let seed = o.seed;
  while (total.cases < o.cases) {
    const cases = Math.min(o.chunk, o.cases - total.cases);
    const args = [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      '--child',
      '--cases',
      String(cases),
      '--per-set',
      String(o.perSet),
      '--seed',
      String(seed),
    ];
    const out = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (c) => (text += c));
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    for (const line of out.split('\n')) if (line.startsWith('divergence ')) process.stdout.write(`${line}\n`);
    const last = out.split('\n').find((l) => l.startsWith('chunk '));
    if (!last) throw new Error(`chunk from seed ${seed} ended without a summary`);
    const chunk = JSON.parse(last.slice('chunk '.length));
    for (const k of [
      'cases',
      'compiledAnswered',
      'policySets',
      'invalidPoliciesDropped',
      'withErrors',
      'divergences',
    ])
      total[k] += chunk[k];
    for (const [e, n] of Object.entries(chunk.effects)) total.effects[e] = (total.effects[e] ?? 0) + n;
    seed = chunk.seeds[1] + 1;
    const s = (performance.now() - started) / 1000;
    process.stderr.write(`… ${total.cases} cases, ${total.divergences} divergences, ${s.toFixed(0)} s\n`);
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  process.stdout.write(`${JSON.stringify({ ...total, seeds: [o.seed, seed - 1], seconds })}\n`);
  process.exitCode = total.divergences === 0 ? 0 : 1;
}
