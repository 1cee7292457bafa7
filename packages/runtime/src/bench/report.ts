import type { GatewayBenchResult } from './gateway-bench.js';
/** The bench's result document and its Markdown table. */
import type { HttpScenarioResult } from './http-scenario.js';
import type { InProcessResult } from './inprocess.js';
import type { MemoryBenchResult } from './memory-bench.js';
import { fmtOps, fmtRatio, fmtUs, perFsync, row, tableHead } from './format.js';
import { httpTables, memoryTable } from './report-http.js';

export { fmtMiB, fmtOps, fmtRatio, fmtUs } from './format.js';
import type { Sample } from './measure.js';
import type { SinksBenchResult } from './sinks-bench.js';
import type { TelemetryBenchResult } from './telemetry-bench.js';

export interface MachineInfo {
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  /** 1/5/15-minute load averages when the bench started and ended (others may share the machine). */
  loadAvgStart: number[];
  loadAvgEnd: number[];
  execArgv: string[];
  /** The code measured: commit and uncommitted files under packages/ (others may be editing). */
  tree: { commit: string | null; dirtyFiles: number | null };
}

export interface Target {
  name: string;
  measured: string;
  target: string;
  met: boolean;
}

export interface SurvivalResult {
  policies: number;
  evaluations: number;
  seconds: number;
  execArgv: string[];
  /** `--show-crash`: the same loop in a child started without `--no-turbo-inlining`. */
  withoutFlag?: {
    exitCode: number | null;
    signal: string | null;
    evaluations: number | null;
    stderrTail: string;
  };
}

export interface BenchResult {
  schema: 'mandate-bench/v1';
  date: string;
  quick: boolean;
  /** Measured seconds per row (MANDATE_BENCH_SECONDS). */
  seconds: number;
  machine: MachineInfo;
  inProcess: InProcessResult[];
  /** RSS and heap after compiling a large generated set, per engine (null: not run). */
  memory?: MemoryBenchResult | null;
  http: HttpScenarioResult;
  survival: SurvivalResult;
  /** The MCP gateway rows (direct vs through the gateway). */
  gateway: GatewayBenchResult | null;
  /** Decisions/s with two audit sinks delivering vs none, same store, same run. */
  sinks?: SinksBenchResult;
  /** Decisions/s with OpenTelemetry tracing configured vs not, same node, same run. */
  telemetry?: TelemetryBenchResult;
  targets: Target[];
  /** The invariants (audit counts, chain verification, every row's answer): false makes the bench exit non-zero. */
  ok: boolean;
  problems: string[];
  durationSeconds: number;
}

function inProcessTable(r: InProcessResult): string[] {
  const raw = r.rows.find((x) => x.key === 'raw')!.sample;
  const unsliced = r.rows.find((x) => x.key === 'unsliced')!.sample;
  const out = [
    `### In-process, ${r.policies.toLocaleString('en-US')} policies over 100 actions (bench request's slice: ${r.sliceSize} policies)`,
    '',
    ...tableHead(
      [
        'path',
        'ops/s',
        'p50',
        'p99',
        'ops/s vs raw',
        'ops/s vs unsliced',
        'raw p50 ÷ p50',
        'events per fsync',
        'answer',
      ],
      'lrrrrrrrl',
    ),
  ];
  for (const x of r.rows) {
    const s = x.sample;
    out.push(
      row([
        x.baseline ? `${x.label} *(baseline)*` : x.label,
        fmtOps(s.opsPerSec),
        fmtUs(s.p50Us),
        fmtUs(s.p99Us),
        x.key === 'raw' ? '1×' : fmtRatio(s.opsPerSec / raw.opsPerSec),
        x.key === 'raw'
          ? fmtRatio(s.opsPerSec / unsliced.opsPerSec)
          : x.key === 'unsliced'
            ? '1×'
            : fmtRatio(s.opsPerSec / unsliced.opsPerSec),
        x.key === 'raw' ? '1×' : fmtRatio(raw.p50Us / s.p50Us),
        x.commits ? perFsync(x.commits) : '',
        x.effect,
      ]),
    );
  }
  out.push(
    '',
    `Generated set: ${r.shape.forbids} forbids, ${r.shape.approvals} @approval permits, ${r.shape.userPolicies} User-principal policies, ` +
      `${r.shape.multiAction} \`action in [...]\` policies; compiled (strict validation) + Mandate start in ${(r.compiledMs / 1000).toFixed(1)} s. ` +
      `Raw calls: ${r.rows[0]!.sample.ops}. Decisions: ${r.audit.decisions}, decision audit events: ${r.audit.events}; ` +
      `whole run: ${r.groupCommit.appended.toLocaleString('en-US')} events in ${r.groupCommit.batches.toLocaleString('en-US')} transactions ` +
      `(${(r.groupCommit.appended / Math.max(1, r.groupCommit.batches)).toFixed(1)} per fsync).`,
  );
  return out;
}

/** The whole report as Markdown (printed and written to bench-results/). */
export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const lines = [
    `## Mandate bench — ${r.date}${r.quick ? ' (quick smoke run: figures are not meaningful)' : ''}`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, ${m.platform}/${m.arch}; Node ${m.node} (V8 ${m.v8}), flags \`${m.execArgv.join(' ') || '(none)'}\`. ` +
      `Load average at start ${m.loadAvgStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${m.loadAvgEnd.map((x) => x.toFixed(2)).join(' / ')}. ` +
      `${r.seconds} s per row; whole run ${r.durationSeconds.toFixed(0)} s. ` +
      `Code: commit ${m.tree.commit?.slice(0, 10) ?? 'unknown'}${m.tree.dirtyFiles ? ` + ${m.tree.dirtyFiles} uncommitted files under packages/` : ''}.`,
    '',
  ];
  for (const ip of r.inProcess) lines.push(...inProcessTable(ip), '');
  if (r.memory) lines.push(...memoryTable(r.memory), '');
  lines.push(...httpTables(r.http), '');
  const s = r.survival;
  lines.push(
    '### Crash survival',
    '',
    `${s.evaluations.toLocaleString('en-US')} hot \`evaluate\` calls on the ${s.policies.toLocaleString('en-US')}-policy set in this process ` +
      `(flags \`${s.execArgv.join(' ') || '(none)'}\`) in ${s.seconds.toFixed(1)} s, after the rows above: the process survived.`,
  );
  if (s.withoutFlag) {
    const w = s.withoutFlag;
    lines.push(
      '',
      `Without \`--no-turbo-inlining\` on the command line (\`--show-crash\`): child ` +
        (w.signal || (w.exitCode !== 0 && w.exitCode !== null)
          ? `**died** (exit code ${w.exitCode}, signal ${w.signal}) after ${w.evaluations ?? 'an unknown number of'} evaluations.`
          : `survived ${w.evaluations?.toLocaleString('en-US')} evaluations — the runtime sets the flag itself when it loads cedar-wasm (policy/cedar/v8-flags.ts).`),
    );
  }
  if (r.gateway) lines.push('', r.gateway.markdown.replace(/^## /, '### '));
  if (r.telemetry) {
    const k = r.telemetry;
    lines.push(
      ...onOffTable(
        'OpenTelemetry on the decision path',
        `In-process decisions with durable SQLite audit, ${k.concurrency} in flight, 10 policies: tracing not configured (the API's no-op spans), then every decision traced (4 spans) and exported over OTLP/HTTP in batches.`,
        ['not configured', 'tracing to OTLP, sampling all'],
        k,
      ),
      `Spans received by the collector: ${k.spansExported.toLocaleString('en-US')}.`,
    );
  }
  if (r.sinks) {
    const k = r.sinks;
    lines.push(
      ...onOffTable(
        'Audit sinks on the decision path',
        `In-process decisions with durable SQLite audit, ${k.concurrency} in flight, 10 policies: no sinks, then two sinks (a fsynced JSONL file and a webhook) delivering the same chain.`,
        ['no sinks', 'file + webhook sinks'],
        k,
      ),
      `Delivered after the run: ${Object.entries(k.delivered)
        .map(([n, d]) => `${n} ${d}`)
        .join(', ')} of ${k.head} records.`,
    );
  }
  lines.push(
    '',
    '### Targets',
    '',
    row(['target', 'measured', 'wanted', 'met']),
    row(['---', '---:', '---', '---']),
  );
  for (const t of r.targets)
    lines.push(row([t.name, t.measured, t.target, r.quick ? '– (quick run)' : t.met ? 'yes' : '**no**']));
  lines.push('', r.ok ? 'Invariants: all hold.' : `Invariants FAILED: ${r.problems.join('; ')}`, '');
  return lines.join('\n');
}

/** A feature's cost as two rows of one run: without it (the baseline) and with it. */
function onOffTable(
  title: string,
  intro: string,
  [offLabel, onLabel]: [string, string],
  k: { off: Sample; on: Sample },
): string[] {
  const line = (label: string, x: Sample, ratio: string) =>
    row([label, fmtOps(x.opsPerSec), fmtUs(x.p50Us), fmtUs(x.p99Us), ratio]);
  return [
    '',
    `### ${title}`,
    '',
    intro,
    '',
    row(['row', 'decisions/s', 'p50', 'p99', `vs ${offLabel}`]),
    row(['---', '---:', '---:', '---:', '---:']),
    line(`${offLabel} (baseline)`, k.off, '1.00×'),
    line(onLabel, k.on, fmtRatio(k.on.opsPerSec / k.off.opsPerSec)),
    '',
  ];
}

/** Throughput ratio of two samples. */
export function speedup(a: Sample, b: Sample): number {
  return a.opsPerSec / b.opsPerSec;
}
