/**
 * The cost of OpenTelemetry tracing on the decision path: in-process decisions, `concurrency` in
 * flight, with tracing not configured (the API's no-op spans) and then configured (SDK, sampling
 * every trace, batched OTLP/HTTP export to a receiver in this process), on the same node.
 */
import { silentLogger } from '../kernel/index.js';
import { startTracing } from '../telemetry/index.js';
import { withDecidingNode } from './feature-cost.js';
import type { Sample } from './measure.js';

export interface TelemetryBenchResult {
  concurrency: number;
  off: Sample;
  on: Sample;
  /** Spans the receiver got during the `on` row (4 per decision: the decision and three children). */
  spansExported: number;
}

export async function runTelemetryBench(o: {
  seconds: number;
  concurrency: number;
  dir: string;
  progress: (line: string) => void;
}): Promise<TelemetryBenchResult> {
  let spans = 0;
  const onRequest = (path: string, body: string) => {
    if (path !== '/v1/traces') return;
    const doc = JSON.parse(body) as { resourceSpans?: { scopeSpans: { spans: unknown[] }[] }[] };
    for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans) spans += ss.spans.length;
  };
  return withDecidingNode({ ...o, onRequest }, async ({ receiverUrl, measure }) => {
    o.progress(`telemetry: decide, ${o.concurrency} in flight, OpenTelemetry not configured…`);
    const off = await measure();
    const stop = await startTracing(
      {
        otlp: {
          url: receiverUrl,
          headers: {},
          serviceName: 'mandate-bench',
          sampleRatio: 1,
          exportIntervalMs: 200,
        },
      },
      silentLogger,
    );
    let on: Sample;
    try {
      o.progress(`telemetry: decide, ${o.concurrency} in flight, tracing every decision to OTLP…`);
      on = await measure();
    } finally {
      await stop();
    }
    return { concurrency: o.concurrency, off, on, spansExported: spans };
  });
}
