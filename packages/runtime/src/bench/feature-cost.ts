/**
 * The frame the "feature on the decision path" rows share (audit sinks, OpenTelemetry): a 10-policy
 * node deciding in process with durable SQLite audit, a local HTTP receiver for what the feature
 * sends, and one closed-loop measurement of the bench decision.
 */
import { createServer } from 'node:http';
import type { Mandate } from '../app/index.js';
import { BENCH_CALLER, benchDecisionRequest, createWorkloadMandate } from './inprocess.js';
import { loopAsync, type Sample } from './measure.js';
import { generateWorkload } from './workload.js';

export interface DecidingNode {
  m: Mandate;
  /** Base URL of the receiver (`http://127.0.0.1:<port>`). */
  receiverUrl: string;
  /** Decisions of the bench request, `concurrency` in flight, for `seconds`; each must be an allow. */
  measure(): Promise<Sample>;
}

export async function withDecidingNode<T>(
  o: { dir: string; seconds: number; concurrency: number; onRequest: (path: string, body: string) => void },
  fn: (node: DecidingNode) => Promise<T>,
): Promise<T> {
  // The product's default engine: a feature's cost is weighed against the decision as shipped.
  const m = await createWorkloadMandate(generateWorkload(10), o.dir, 'compiled');
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      o.onRequest(req.url ?? '/', body);
      res.end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const req = benchDecisionRequest();
    const decide = async () => {
      const out = await m.decisions.decide(req, BENCH_CALLER);
      if (out.decision.effect !== 'allow')
        throw new Error(`bench: expected allow, got ${out.decision.effect}`);
    };
    return await fn({
      m,
      receiverUrl: `http://127.0.0.1:${(receiver.address() as { port: number }).port}`,
      measure: () =>
        loopAsync(decide, o.concurrency, { durationMs: o.seconds * 1000, minOps: 100, warmupOps: 100 }),
    });
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
    await m.close();
  }
}
