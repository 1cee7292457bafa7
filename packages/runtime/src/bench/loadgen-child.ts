/**
 * Child-process entry of the load generator (`loadgen.ts`): runs each job it is sent over IPC
 * (`{ type: 'closed' | 'open', target, load }`) and answers `{ type: 'done', sample, tally }`;
 * exits when the bench disconnects.
 */
import { AnswerTally } from './http.js';
import { runJob, type LoadAnswer, type LoadJob } from './loadgen.js';

const reply = (msg: LoadAnswer) =>
  new Promise<void>((resolve) => {
    if (!process.send) resolve();
    else process.send(msg, () => resolve());
  });

process.on('message', (job: LoadJob) => {
  const tally = new AnswerTally();
  runJob(job, tally).then(
    (sample) => reply({ type: 'done', sample, tally: tally.counts() }),
    (err: unknown) => reply({ type: 'failed', error: (err as Error)?.stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
