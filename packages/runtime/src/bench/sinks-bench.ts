/**
 * The cost of audit streaming on the decision path: in-process decisions with durable SQLite audit,
 * `concurrency` in flight, with no sinks and then with two sinks delivering (a fsynced JSONL file
 * and a webhook to a receiver in this process), on the same store in the same run.
 */
import { join } from 'node:path';
import { createSinkRunner } from '../sinks/index.js';
import { createFileSink } from '../sinks/file.js';
import { createWebhookSink } from '../sinks/http.js';
import { silentLogger, systemClock } from '../kernel/index.js';
import { withDecidingNode } from './feature-cost.js';
import type { Sample } from './measure.js';

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
  let received = 0;
  const onRequest = (_path: string, body: string) => {
    received += (JSON.parse(body) as { records: unknown[] }).records.length;
  };
  return withDecidingNode({ ...o, onRequest }, async ({ m, receiverUrl, measure }) => {
    o.progress(`sinks: decide, ${o.concurrency} in flight, no sinks…`);
    const off = await measure();
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
          transport: createWebhookSink({
            name: 'webhook',
            url: `${receiverUrl}/hook`,
            headers: {},
            timeoutMs: 10_000,
          }),
        },
      ],
    });
    try {
      o.progress(`sinks: decide, ${o.concurrency} in flight, two sinks delivering (file + webhook)…`);
      const on = await measure();
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
  });
}
