/** The HTTP rows' targets (issue 13): against the bare server and Cerbos of the same run. */
import type { HttpRow, HttpScenarioResult, HttpServerKey } from './http-scenario.js';
import { busyShare, cpuPerRequestUs } from './proc-cpu.js';
import { fmtOps, fmtRatio, fmtUs, type Target } from './report.js';

/** Cerbos measured on this machine before it had a row of its own (docs/benchmarks.md). */
const CERBOS_EARLIER = 2650;

export function httpTargets(http: HttpScenarioResult): Target[] {
  const out: Target[] = [];
  const top = Math.max(...http.rows.filter((r) => r.mode === 'closed').map((r) => r.concurrency));
  const rowAt = (server: HttpServerKey): HttpRow | undefined =>
    http.rows.find((r) => r.mode === 'closed' && r.server === server && r.concurrency === top);
  const at = (server: HttpServerKey) => rowAt(server)?.sample;
  const bare = at('bare');
  const bareCpu = rowAt('bare')?.cpu;
  const cerbos = at('cerbos');
  for (const [key, engine] of [
    ['mandate', 'cedar'],
    ['mandate-compiled', 'compiled'],
  ] as const) {
    const m = at(key);
    if (!m || !bare) continue;
    // Whether the baseline was the bare server's capacity or the generator's, and what a decision
    // costs the server in CPU whatever the generator did: said next to the ratio.
    const cpu = rowAt(key)?.cpu;
    const cpuNote =
      cpu && bareCpu
        ? `; bare server core ${Math.round(100 * busyShare(bareCpu))} % busy; server CPU per request ${fmtUs(cpuPerRequestUs(cpu))} vs ${fmtUs(cpuPerRequestUs(bareCpu))}`
        : '';
    out.push(
      {
        name: `HTTP c=${top}, ${engine} engine: decisions/s vs bare Node`,
        measured: `${Math.round((100 * m.opsPerSec) / bare.opsPerSec)}% (${fmtOps(m.opsPerSec)}/s vs ${fmtOps(bare.opsPerSec)}/s${cpuNote})`,
        target: '≥ 50%',
        met: m.opsPerSec >= 0.5 * bare.opsPerSec,
      },
      {
        name: `HTTP c=${top}, ${engine} engine: p99`,
        measured: fmtUs(m.p99Us),
        target: '< 5 ms',
        met: m.p99Us < 5000,
      },
      cerbos
        ? {
            name: `HTTP c=${top}, ${engine} engine: decisions/s ÷ Cerbos (same run)`,
            measured: `${fmtRatio(m.opsPerSec / cerbos.opsPerSec)} (${fmtOps(m.opsPerSec)}/s vs ${fmtOps(cerbos.opsPerSec)}/s)`,
            target: '≥ 3×',
            met: m.opsPerSec >= 3 * cerbos.opsPerSec,
          }
        : {
            name: `HTTP c=${top}, ${engine} engine: decisions/s (Cerbos not run; earlier on this machine: ${fmtOps(CERBOS_EARLIER)}/s)`,
            measured: `${fmtOps(m.opsPerSec)}/s`,
            target: `≥ 3 × ${fmtOps(CERBOS_EARLIER)}/s`,
            met: m.opsPerSec >= 3 * CERBOS_EARLIER,
          },
    );
  }
  for (const a of http.audits) {
    out.push({
      name: `audit, ${a.server}: decision events = 200 answers, chain verifies`,
      measured: `${a.decisionEvents} = ${a.answers200}, verify ${a.verify.ok ? 'ok' : 'FAILED'}`,
      target: 'equal, ok',
      met: a.decisionEvents === a.answers200 && a.verify.ok,
    });
  }
  return out;
}
