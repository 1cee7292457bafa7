import { Worker } from 'node:worker_threads';
import type { Logger } from '../../kernel/index.js';
import type { PolicyProblem, PolicySetSource } from '../port.js';
import { CEDAR_WASM_PATH } from './wasm.js';

/**
 * The worker: its own cedar-wasm instance, fed the same parse and validate calls the engine makes
 * (engine.ts `analyse`). It answers whether Cedar got through the text and whether its instance
 * still works after; the problems themselves are reported by the engine on the main thread.
 * Plain CommonJS passed as source (`eval`), so it runs the same from `src/` under test and from `dist/`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
require('node:v8').setFlagsFromString('--no-turbo-inlining');
const cedar = require(workerData.wasmPath);
const CANARY = 'permit (principal, action, resource);';
function run(source) {
  if (cedar.checkParseSchema(source.schema).type === 'success') cedar.schemaToJson(source.schema);
  const staticPolicies = {};
  let n = 0;
  let parsed = true;
  for (const file of Object.keys(source.policies)) {
    const parts = cedar.policySetTextToParts(source.policies[file]);
    if (parts.type !== 'success') { parsed = false; continue; }
    for (const p of parts.policies) { cedar.policyToJson(p); staticPolicies['p' + n++] = p; }
  }
  if (parsed) cedar.validate({ schema: source.schema, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
}
parentPort.postMessage({ ready: true });
parentPort.on('message', ({ id, source }) => {
  let failure = null;
  try { run(source); } catch (err) { failure = String((err && err.message) || err); }
  let broken = false;
  try { broken = cedar.policySetTextToParts(CANARY).type !== 'success'; } catch { broken = true; }
  parentPort.postMessage({ id, failure, broken });
});
`;

/** Options of {@link createIsolatedScreen}. */
export interface IsolatedScreenOptions {
  logger: Logger;
  /** A screening that takes longer is abandoned (the worker is replaced) and the text refused. */
  timeoutMs?: number;
  /** Starting a worker (loading its own wasm instance) may take this long; default 60 s. */
  startTimeoutMs?: number;
}

/** Runs candidate policy text through Cedar in a worker thread before the live engine sees it. */
export interface IsolatedScreen {
  /** Problems when Cedar failed on the text or its instance broke (then the worker is replaced); [] when it got through. */
  screen(source: PolicySetSource): Promise<PolicyProblem[]>;
  close(): Promise<void>;
}

interface Reply {
  id?: number;
  ready?: boolean;
  failure?: string | null;
  broken?: boolean;
}

interface Running {
  worker: Worker;
  /** Resolves once the worker loaded its instance; rejects if it dies or takes too long first. */
  ready: Promise<void>;
}

/**
 * Issue 8 §6: a wasm trap inside Cedar can leave its instance broken for every later call. Text
 * from outside (the API, a policy directory) is first run in a separate instance in a worker
 * thread; a worker that traps, breaks, dies or hangs is thrown away and a fresh one started for
 * the next request, while the live engine never saw the text. One screening at a time.
 */
export function createIsolatedScreen(opts: IsolatedScreenOptions): IsolatedScreen {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  let running: Running | null = null;
  let nextId = 1;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const stop = (w: Worker) => {
    if (running?.worker === w) running = null;
    void w.terminate().catch(() => undefined);
  };

  const start = (): Running => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { wasmPath: CEDAR_WASM_PATH },
      // No larger a stack than the main thread's (~1 MB): what gets through here gets through there.
      resourceLimits: { stackSizeMb: 1, maxOldGenerationSizeMb: 256 },
    });
    worker.unref();
    // A worker that dies is replaced on the next request; its pending one is answered below.
    worker.on('error', (err) => opts.logger.warn('policy screening worker failed', { error: err.message }));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not started within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      timer.unref();
      const onMessage = (m: Reply) => {
        if (!m.ready) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', () => {
        clearTimeout(timer);
        reject(new Error('stopped while starting'));
      });
    });
    ready.catch(() => stop(worker));
    return { worker, ready };
  };

  const once = async (source: PolicySetSource): Promise<PolicyProblem[]> => {
    if (closed) return [{ message: 'the policy engine is shutting down' }];
    const r = (running ??= start());
    try {
      // The screening's own time limit starts once the worker is up, not while it loads.
      await r.ready;
    } catch (err) {
      return [{ message: `the isolated policy engine could not start: ${(err as Error).message}` }];
    }
    const w = r.worker;
    const id = nextId++;
    return new Promise<PolicyProblem[]>((resolve) => {
      const finish = (problems: PolicyProblem[], replace: boolean) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        w.off('error', onError);
        if (replace) stop(w);
        resolve(problems);
      };
      const onMessage = (m: Reply) => {
        if (m.id !== id) return;
        const problems: PolicyProblem[] =
          m.failure == null ? [] : [{ message: `the policy engine failed on this text: ${m.failure}` }];
        if (m.broken && problems.length === 0)
          problems.push({ message: 'the policy engine was left broken by this text' });
        finish(problems, m.broken === true);
      };
      const onExit = () => finish([{ message: 'the policy engine stopped on this text' }], true);
      const onError = (err: Error) =>
        finish([{ message: `the policy engine failed on this text: ${err.message}` }], true);
      const timer = setTimeout(
        () =>
          finish(
            [{ message: `the policy engine did not finish with this text within ${timeoutMs} ms` }],
            true,
          ),
        timeoutMs,
      );
      timer.unref();
      w.on('message', onMessage);
      w.once('exit', onExit);
      w.once('error', onError);
      w.postMessage({ id, source: { policies: { ...source.policies }, schema: source.schema } });
    });
  };

  return {
    screen(source) {
      const run = queue.then(() => once(source));
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      closed = true;
      const r = running;
      running = null;
      if (r) await r.worker.terminate().catch(() => undefined);
    },
  };
}
