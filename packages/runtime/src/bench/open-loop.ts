/**
 * The open-loop load generator: requests start on a fixed schedule (one every 1/rate s) whatever
 * the server does, and each latency is measured from the request's SCHEDULED start, so time spent
 * queued — in the server or in the client waiting for a free connection — counts (the
 * "coordinated omission" correction of wrk2 / HdrHistogram). A closed loop instead waits for an
 * answer before the next request and so hides exactly that queueing.
 */
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { AnswerTally, effectOf, send, type HttpTarget } from './http.js';
import { Latencies, type Sample } from './measure.js';

export interface OpenLoadOptions {
  /** Scheduled request starts per second. */
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Connections the client may open (requests beyond wait for one, and that wait is counted). */
  maxSockets: number;
  /** Never schedule fewer measured requests than this. */
  minRequests?: number;
}

/** An open-loop row: the latency sample (ops/s = achieved rate) and the rate asked for. */
export interface OpenSample extends Sample {
  /** Scheduled starts per second. */
  targetRate: number;
  /** Requests that failed on the client side during the measured window. */
  errors: number;
}

/**
 * Drives `t` at `o.rate` requests/s: an unmeasured warm-up at the same rate, then the measured
 * window. The achieved rate is completed requests over first scheduled start → last answer.
 */
export async function runOpenLoad(
  t: HttpTarget,
  o: OpenLoadOptions,
  tally: AnswerTally,
): Promise<OpenSample> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets });
  const u = new URL(t.url);
  const length = String(Buffer.byteLength(t.body));
  try {
    await schedule(Math.max(1, Math.floor((o.warmupMs * o.rate) / 1000)), o.rate, async () => {
      await send(agent, u, t, length).then(
        (a) => tally.count(a.status, effectOf(a, t.answer)),
        () => tally.clientErrors++,
      );
    });
    const lat = new Latencies();
    let errors = 0;
    let last = 0;
    const n = Math.max(o.minRequests ?? 1, Math.floor((o.durationMs * o.rate) / 1000));
    const start = await schedule(n, o.rate, async (scheduledAt) => {
      try {
        const a = await send(agent, u, t, length);
        tally.count(a.status, effectOf(a, t.answer));
        last = performance.now();
        lat.push((last - scheduledAt) * 1000);
      } catch {
        tally.clientErrors++;
        errors++;
      }
    });
    return { ...lat.summary(Math.max(0, last - start) / 1000), targetRate: o.rate, errors };
  } finally {
    agent.destroy();
  }
}

/**
 * Starts `n` calls of `fire` at `start + i / rate` (timer ticks start every call already due, so a
 * late tick never thins the schedule) and resolves, with `start`, when all of them settled.
 */
async function schedule(
  n: number,
  rate: number,
  fire: (scheduledAt: number) => Promise<void>,
): Promise<number> {
  const interval = 1000 / rate;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; i < n && start + i * interval <= now; i++) inFlight.push(fire(start + i * interval));
      if (i < n) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
      else resolve();
    };
    tick();
  });
  await Promise.all(inFlight);
  return start;
}
