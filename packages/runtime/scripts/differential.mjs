// Differential run of the compiled Cedar evaluator against cedar-wasm (ADR 0012, docs/policies.md).
// Build first (`npm run build`), then:
//   node --no-turbo-inlining packages/runtime/scripts/differential.mjs --cases 1000000
// Options: --cases N (default 100000), --per-set N requests per generated policy set (default 200),
// --seed S first seed (default 1). Exit 0 when both engines agree on every case, 1 otherwise; the
// divergences (seed, request index, both answers, the policies) are printed as JSON lines.
import { performance } from 'node:perf_hooks';
import { newStats, runSeed } from '../dist/bench/differential.js';

function parse(argv) {
  const o = { cases: 100_000, perSet: 200, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
    if (a === '--cases') o.cases = v;
    else if (a === '--per-set') o.perSet = v;
    else if (a === '--seed') o.seed = v;
    else throw new Error(`unknown argument ${a} (use --cases, --per-set, --seed)`);
  }
  return o;
}

const o = parse(process.argv.slice(2));
const stats = newStats();
const started = performance.now();
let seed = o.seed;
let reported = 0;
while (stats.cases < o.cases) {
  runSeed(seed++, Math.min(o.perSet, o.cases - stats.cases), stats);
  for (const d of stats.divergences.slice(reported))
    process.stdout.write(`divergence ${JSON.stringify(d)}\n`);
  reported = stats.divergences.length;
  if (seed % 50 === 0) {
    const s = (performance.now() - started) / 1000;
    process.stderr.write(
      `… ${stats.cases} cases, ${stats.divergences.length} divergences, ${s.toFixed(0)} s\n`,
    );
  }
}
const seconds = (performance.now() - started) / 1000;
const summary = {
  cases: stats.cases,
  compiledAnswered: stats.compiled,
  policySets: stats.policySets,
  seeds: [o.seed, seed - 1],
  invalidPoliciesDropped: stats.invalidPolicies,
  effects: stats.effects,
  withErrors: stats.withErrors,
  divergences: stats.divergences.length,
  seconds: Math.round(seconds),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = stats.divergences.length === 0 ? 0 : 1;
