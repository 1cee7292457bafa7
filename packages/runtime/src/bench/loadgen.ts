/**
 * Where the HTTP load generators run: in a child process of their own (`loadgen-child.ts`), pinned
 * with `taskset` to the generator core while the servers are pinned to the server core, or — for
 * the smoke test, which runs from source — in the bench process. Both answer the same two jobs:
 * a closed loop at a concurrency (`runLoad`) and an open loop at a rate (`runOpenLoad`).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AnswerTally,
  nextChildMessage,
  runLoad,
  type HttpTarget,
  type LoadOptions,
  type TallyCounts,
} from './http.js';
import type { Sample } from './measure.js';
import { runOpenLoad, type OpenLoadOptions, type OpenSample } from './open-loop.js';
import { GENERATOR_CORE, pinToCore } from './pin.js';

/** A job for the generator. */
export type LoadJob =
  | { type: 'closed'; target: HttpTarget; load: LoadOptions }
  | { type: 'open'; target: HttpTarget; load: OpenLoadOptions };

/** The generator child's answer to a job. */
export type LoadAnswer =
  { type: 'done'; sample: Sample | OpenSample; tally: TallyCounts } | { type: 'failed'; error: string };

export interface LoadGenerator {
  where: 'child' | 'in-process';
  /** How the generator was pinned (`taskset …`), or null. */
  pinned: string | null;
  closed(target: HttpTarget, load: LoadOptions, tally: AnswerTally): Promise<Sample>;
  open(target: HttpTarget, load: OpenLoadOptions, tally: AnswerTally): Promise<OpenSample>;
  stop(): Promise<void>;
}

/** Runs one job here; the child's entry calls this too. */
export async function runJob(job: LoadJob, tally: AnswerTally): Promise<Sample | OpenSample> {
  return job.type === 'closed'
    ? runLoad(job.target, job.load, tally)
    : runOpenLoad(job.target, job.load, tally);
}

const CHILD_ENTRY = fileURLToPath(new URL('./loadgen-child.js', import.meta.url));

export function startLoadGenerator(where: 'child' | 'in-process'): LoadGenerator {
  if (where === 'in-process') {
    return {
      where,
      pinned: null,
      closed: (target, load, tally) => runLoad(target, load, tally),
      open: (target, load, tally) => runOpenLoad(target, load, tally),
      stop: async () => undefined,
    };
  }
  const child = fork(CHILD_ENTRY, [], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-8000)));
  const pinned = pinToCore(child.pid, GENERATOR_CORE);
  const run = async (job: LoadJob, tally: AnswerTally) => {
    const next = nextChildMessage<LoadAnswer>(child, () => stderr, 'load generator');
    child.send(job);
    const answer = await next;
    if (answer.type === 'failed') throw new Error(`bench: load generator failed: ${answer.error}`);
    tally.add(answer.tally);
    return answer.sample;
  };
  return {
    where,
    pinned,
    closed: (target, load, tally) => run({ type: 'closed', target, load }, tally),
    open: (target, load, tally) => run({ type: 'open', target, load }, tally) as Promise<OpenSample>,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
