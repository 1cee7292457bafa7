/**
 * The cost of audit streaming on the decision path: in-process decisions with durable SQLite audit,
 * `concurrency` in flight, with no sinks and then with two sinks delivering (a fsynced JSONL file
 * and a webhook to a receiver in this process), on the same store in the same run.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createSinkRunner } from '../sinks/index.js';
import { createFileSink } from '../sinks/file.js';
import { createWebhookSink } from '../sinks/http.js';
import { silentLogger, systemClock } from '../kernel/index.js';
import { BENCH_CALLER, benchDecisionRequest, createWorkloadMandate } from './inprocess.js';
import { loopAsync, type Sample } from './measure.js';
import { generateWorkload } from './workload.js';

export interface SinksBenchResult {
  concurrency: number;
  off: Sample;
  on: Sample;
  /** Records the sinks delivered during and after the `on` row (each sink). */
  delivered: Record<string, number>;
  /** Chain head when the sinks caught up. */
  head: number;
}

export async function runSinksBench(o: {
  seconds: number;
  concurrency: number;
  dir: string;
  progress: (line: string) => void;
}): Promise<SinksBenchResult> {
  const m = await createWorkloadMandate(generateWorkload(10), o.dir);
  let received = 0;
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received += (JSON.parse(body) as { records: unknown[] }).records.length;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  try {
    const req = benchDecisionRequest();
    const decide = async () => {
      const out = await m.decisions.decide(req, BENCH_CALLER);
      if (out.decision.effect !== 'allow')
        throw new Error(`bench: expected allow, got ${out.decision.effect}`);
    };
    const ms = o.seconds * 1000;
    o.progress(`sinks: decide, ${o.concurrency} in flight, no sinks…`);
    const off = await loopAsync(decide, o.concurrency, { durationMs: ms, minOps: 100, warmupOps: 100 });
    await m.audit.flush();
    const runner = createSinkRunner({
      store: m.store,
      clock: systemClock,
      logger: silentLogger,
      pollMs: 50,
      maxBackoffMs: 1000,
      sinks: [
        {
          name: 'file',
          type: 'file',
          batchSize: 500,
          transport: createFileSink({
            path: join(o.dir, 'bench-audit.jsonl'),
            maxBytes: 1 << 30,
            maxFiles: 1,
          }),
        },
        {
          name: 'webhook',
          type: 'webhook',
          batchSize: 500,
          transport: createWebhookSink({ name: 'webhook', url, headers: {}, timeoutMs: 10_000 }),
        },
      ],
    });
    try {
      o.progress(`sinks: decide, ${o.concurrency} in flight, two sinks delivering (file + webhook)…`);
      const on = await loopAsync(decide, o.concurrency, { durationMs: ms, minOps: 100, warmupOps: 100 });
      await m.audit.flush();
      const head = (await m.store.auditHead()).seq;
      // Let the sinks catch up, so the row is known to have streamed what it decided.
      for (let i = 0; i < 600; i++) {
        if (runner.status().every((s) => s.cursor >= head)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const delivered = Object.fromEntries(runner.status().map((s) => [s.name, s.delivered]));
      delivered.webhookReceived = received;
      return { concurrency: o.concurrency, off, on, delivered, head };
    } finally {
      await runner.close();
    }
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
    await m.close();
  }
}
