/** The HTTP and memory sections of the bench report. */
import type { HttpRow, HttpScenarioResult, HttpServerKey } from './http-scenario.js';
import type { MemoryBenchResult } from './memory-bench.js';
import type { OpenSample } from './open-loop.js';
import { fmtMiB, fmtOps, fmtRatio, fmtUs, perFsync, row, tableHead } from './format.js';
import { busyShare, cpuPerRequestUs } from './proc-cpu.js';

const SERVER_LABEL: Record<HttpServerKey, string> = {
  bare: 'bare Node http *(baseline)*',
  mandate: 'Mandate, cedar engine',
  'mandate-compiled': 'Mandate, compiled engine',
  cerbos: 'Cerbos',
};

export function httpTables(h: HttpScenarioResult): string[] {
  const p = h.pinning;
  const pinning =
    p.generatorWhere === 'in-process'
      ? 'load generator in the bench process (smoke run)'
      : p.servers && p.generator
        ? `servers pinned to core 0 (\`${p.servers}\`), load generator in its own child pinned to core 1 (\`${p.generator}\`)`
        : 'load generator in its own child; not pinned (no `taskset` or one core)';
  const out = [
    `### HTTP POST /v1/decisions, closed loop (child processes, keep-alive, durable SQLite audit; answer ${h.responseBytes} bytes)`,
    '',
    `${pinning}. Cerbos: ${h.cerbos.note}.`,
    '',
    ...httpTableHead('concurrency', 'req/s'),
  ];
  const closed = h.rows.filter((r) => r.mode === 'closed');
  for (const c of [...new Set(closed.map((r) => r.concurrency))]) {
    const at = closed.filter((r) => r.concurrency === c);
    const bare = at.find((r) => r.server === 'bare')!;
    const cerbos = at.find((r) => r.server === 'cerbos')?.sample;
    for (const r of at) out.push(rowOf(String(c), r, bare, cerbos));
  }
  const open = h.rows.filter((r) => r.mode === 'open');
  if (open.length > 0) {
    out.push(
      '',
      `### HTTP POST /v1/decisions, open loop (fixed arrival rate; latency from each request's scheduled start; up to ${open[0]!.concurrency} connections)`,
      '',
      ...httpTableHead('rate asked', 'achieved'),
    );
    const rates = [...new Set(open.map((r) => (r.sample as OpenSample).targetRate))];
    for (const rate of rates) {
      const at = open.filter((r) => (r.sample as OpenSample).targetRate === rate);
      const bare = at.find((r) => r.server === 'bare')!;
      const cerbos = at.find((r) => r.server === 'cerbos')?.sample;
      for (const r of at) out.push(rowOf(`${fmtOps(rate)}/s`, r, bare, cerbos));
    }
  }
  if (h.rows.some((r) => r.cpu))
    out.push(
      '',
      "Server core busy: the server process's CPU time (every thread, user + system, from " +
        '`/proc/<pid>/stat`) over the row, warm-up included, as a share of one core. A closed-loop row ' +
        'whose server is well below 100 % busy was held back by the load generator or by waiting, not by ' +
        "the server's CPU: its req/s is not that server's capacity. Server CPU per request is that CPU time " +
        'divided by the answers over the same window, a cost that does not depend on the generator.',
    );
  out.push('');
  for (const a of h.audits) {
    out.push(
      `Audit, ${a.server}: **${a.answers200.toLocaleString('en-US')} decision answers (200)**, ` +
        `**${a.decisionEvents.toLocaleString('en-US')} decision events** in the chain — ${a.decisionEvents === a.answers200 ? 'equal' : 'NOT EQUAL'}; ` +
        `chain verify: **${a.verify.ok ? 'ok' : `FAILED (${a.verify.firstBad?.problem ?? '?'} at ${a.verify.firstBad?.seq ?? '?'})`}** ` +
        `(${a.verify.records.toLocaleString('en-US')} records, ${a.verify.checkpoints} signed checkpoints). ` +
        `Statuses: ${JSON.stringify(a.statuses)}, effects: ${JSON.stringify(a.effects)}, client errors: ${a.clientErrors}.`,
      '',
    );
  }
  return out;
}

/** The head of an HTTP table: `first` names the row, `rate` the throughput column (req/s, achieved). */
function httpTableHead(first: string, rate: string): string[] {
  return tableHead(
    [
      first,
      'server',
      rate === 'req/s' ? 'req/s' : 'achieved/s',
      'p50',
      'p99',
      `${rate} ÷ bare`,
      'p50 ÷ bare',
      'p99 ÷ bare',
      `${rate} ÷ Cerbos`,
      'events per fsync',
      'server core busy',
      'server CPU per request',
      'CPU per request ÷ bare',
    ],
    'rlrrrrrrrrrrr',
  );
}

function rowOf(first: string, r: HttpRow, bareRow: HttpRow, cerbos: HttpRow['sample'] | undefined): string {
  const s = r.sample;
  const bare = bareRow.sample;
  const isBare = r.server === 'bare';
  return row([
    first,
    SERVER_LABEL[r.server],
    fmtOps(s.opsPerSec),
    fmtUs(s.p50Us),
    fmtUs(s.p99Us),
    isBare ? '1×' : fmtRatio(s.opsPerSec / bare.opsPerSec),
    isBare ? '1×' : fmtRatio(s.p50Us / bare.p50Us),
    isBare ? '1×' : fmtRatio(s.p99Us / bare.p99Us),
    cerbos && !isBare ? fmtRatio(s.opsPerSec / cerbos.opsPerSec) : '',
    r.commits ? perFsync(r.commits) : '',
    r.cpu ? `${Math.round(100 * busyShare(r.cpu))} %` : '–',
    r.cpu ? fmtUs(cpuPerRequestUs(r.cpu)) : '–',
    isBare
      ? r.cpu
        ? '1×'
        : '–'
      : r.cpu && bareRow.cpu
        ? fmtRatio(cpuPerRequestUs(r.cpu) / cpuPerRequestUs(bareRow.cpu))
        : '–',
  ]);
}

export function memoryTable(m: MemoryBenchResult): string[] {
  const cedar = m.rows.find((r) => r.engine === 'cedar');
  const out = [
    `### Memory: ${m.policies.toLocaleString('en-US')} generated policies compiled in a fresh process (after a full GC)`,
    '',
    ...tableHead(
      [
        'engine',
        'RSS before',
        'RSS after',
        'RSS added',
        'heap used before',
        'heap used after',
        'external after',
        'RSS added ÷ cedar',
        'compile',
        'answer',
      ],
      'lrrrrrrrrl',
    ),
  ];
  for (const r of m.rows) {
    const added = r.after.rss - r.before.rss;
    out.push(
      row([
        r.engine === 'cedar' ? 'cedar *(baseline)*' : r.engine,
        fmtMiB(r.before.rss),
        fmtMiB(r.after.rss),
        fmtMiB(added),
        fmtMiB(r.before.heapUsed),
        fmtMiB(r.after.heapUsed),
        fmtMiB(r.after.external),
        cedar ? fmtRatio(added / (cedar.after.rss - cedar.before.rss)) : '',
        `${(r.compileMs / 1000).toFixed(1)} s`,
        `${r.effect}${r.fallbacks > 0 ? ` (${r.fallbacks} fallbacks)` : ''}`,
      ]),
    );
  }
  return out;
}
