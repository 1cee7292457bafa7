/**
 * The cost of OpenTelemetry tracing on the decision path: in-process decisions, `concurrency` in
 * flight, with tracing not configured (the API's no-op spans) and then configured (SDK, sampling
 * every trace, batched OTLP/HTTP export to a receiver in this process), on the same node.
 */
import { createServer } from 'node:http';
import { silentLogger } from '../kernel/index.js';
import { startTracing } from '../telemetry/index.js';
import { BENCH_CALLER, benchDecisionRequest, createWorkloadMandate } from './inprocess.js';
import { loopAsync, type Sample } from './measure.js';
import { generateWorkload } from './workload.js';

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
  const m = await createWorkloadMandate(generateWorkload(10), o.dir);
  let spans = 0;
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans?: { scopeSpans: { spans: unknown[] }[] }[] };
      for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  try {
    const req = benchDecisionRequest();
    const decide = async () => {
      const out = await m.decisions.decide(req, BENCH_CALLER);
      if (out.decision.effect !== 'allow')
        throw new Error(`bench: expected allow, got ${out.decision.effect}`);
    };
    const ms = o.seconds * 1000;
    o.progress(`telemetry: decide, ${o.concurrency} in flight, OpenTelemetry not configured…`);
    const off = await loopAsync(decide, o.concurrency, { durationMs: ms, minOps: 100, warmupOps: 100 });
    const stop = await startTracing(
      { otlp: { url, headers: {}, serviceName: 'mandate-bench', sampleRatio: 1, exportIntervalMs: 200 } },
      silentLogger,
    );
    let on: Sample;
    try {
      o.progress(`telemetry: decide, ${o.concurrency} in flight, tracing every decision to OTLP…`);
      on = await loopAsync(decide, o.concurrency, { durationMs: ms, minOps: 100, warmupOps: 100 });
    } finally {
      await stop();
    }
    return { concurrency: o.concurrency, off, on, spansExported: spans };
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
    await m.close();
  }
}
