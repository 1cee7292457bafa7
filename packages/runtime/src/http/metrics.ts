import type { Effect } from '@mandate/protocol';

const BUCKETS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

/** Prometheus metrics kept by hand: a few counters and one histogram do not justify a dependency. */
export interface Metrics {
  observeDecision(effect: Effect, latencyMs: number): void;
  observeHttp(status: number): void;
  render(gauges: Record<string, { help: string; value: number }>): string;
}

export function createMetrics(): Metrics {
  const decisions: Record<Effect, number> = { allow: 0, deny: 0, approval_required: 0 };
  const buckets = new Array<number>(BUCKETS_MS.length).fill(0);
  let sum = 0;
  let count = 0;
  const http = new Map<number, number>();
  return {
    observeDecision(effect, ms) {
      decisions[effect]++;
      count++;
      sum += ms;
      for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= BUCKETS_MS[i]!) buckets[i]!++;
    },
    observeHttp(status) {
      http.set(status, (http.get(status) ?? 0) + 1);
    },
    render(gauges) {
      const out: string[] = [];
      out.push('# HELP mandate_decisions_total Decisions answered, by effect.');
      out.push('# TYPE mandate_decisions_total counter');
      for (const [e, n] of Object.entries(decisions)) out.push(`mandate_decisions_total{effect="${e}"} ${n}`);
      out.push('# HELP mandate_decision_duration_seconds Time from request to committed audit record.');
      out.push('# TYPE mandate_decision_duration_seconds histogram');
      BUCKETS_MS.forEach((b, i) =>
        out.push(`mandate_decision_duration_seconds_bucket{le="${b / 1000}"} ${buckets[i]}`),
      );
      out.push(`mandate_decision_duration_seconds_bucket{le="+Inf"} ${count}`);
      out.push(`mandate_decision_duration_seconds_sum ${sum / 1000}`);
      out.push(`mandate_decision_duration_seconds_count ${count}`);
      out.push('# HELP mandate_http_responses_total HTTP responses, by status.');
      out.push('# TYPE mandate_http_responses_total counter');
      for (const [s, n] of [...http.entries()].sort((a, b) => a[0] - b[0])) {
        out.push(`mandate_http_responses_total{status="${s}"} ${n}`);
      }
      for (const [name, g] of Object.entries(gauges)) {
        out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
      }
      return out.join('\n') + '\n';
    },
  };
}

/** Prometheus label values escape backslash, double quote and newline. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** One counter family in the text format: `rows` are label sets with their values. */
export function renderCounter(
  name: string,
  help: string,
  rows: readonly (readonly [Record<string, string>, number])[],
): string {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} counter`];
  for (const [labels, value] of rows) {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${labelValue(v)}"`)
      .join(',');
    out.push(`${name}${l ? `{${l}}` : ''} ${value}`);
  }
  return out.join('\n') + '\n';
}
