/**
 * HTTP rows: a closed-loop, keep-alive load generator on `node:http` (one Agent, keepAlive,
 * maxSockets = concurrency), and the servers it drives, started in child processes (pinned to
 * the server core where `taskset` allows). `loadgen.ts` runs the generators in their own child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Latencies, type Sample } from './measure.js';
import type { ChildMessage } from './server-child.js';
import { SERVER_CORE, pinToCore } from './pin.js';
import { startBareServer, startMandateServer, type PolicyEngineKind, type RunningServer } from './servers.js';

/** What the generator sends. */
export interface HttpTarget {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** How to read the effect from a 200 answer: Mandate's `effect` (default) or Cerbos's first result. */
  answer?: 'mandate' | 'cerbos';
}

/** What an AnswerTally counted, as plain data (crosses the generator child's IPC channel). */
export interface TallyCounts {
  statuses: Record<string, number>;
  effects: Record<string, number>;
  clientErrors: number;
}

/** Every answer a server gave, warm-up included (the audit invariant counts all of them). */
export class AnswerTally {
  readonly statuses: Record<string, number> = {};
  readonly effects: Record<string, number> = {};
  /** Requests that failed on the client side (socket errors): their fate on the server is unknown. */
  clientErrors = 0;

  count(status: number, effect: string | undefined): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (effect !== undefined) this.effects[effect] = (this.effects[effect] ?? 0) + 1;
  }

  get ok(): number {
    return this.statuses['200'] ?? 0;
  }

  /** Answers of any status counted so far. */
  get answered(): number {
    let n = 0;
    for (const k in this.statuses) n += this.statuses[k]!;
    return n;
  }

  counts(): TallyCounts {
    return { statuses: this.statuses, effects: this.effects, clientErrors: this.clientErrors };
  }

  /** Adds what another tally (the generator child's) counted. */
  add(c: TallyCounts): void {
    for (const [k, n] of Object.entries(c.statuses)) this.statuses[k] = (this.statuses[k] ?? 0) + n;
    for (const [k, n] of Object.entries(c.effects)) this.effects[k] = (this.effects[k] ?? 0) + n;
    this.clientErrors += c.clientErrors;
  }
}

export interface Answer {
  status: number;
  body: string;
}

export function send(agent: Agent, u: URL, t: HttpTarget, contentLength: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        hostname: u.hostname,
        port: u.port,
        path: t.path,
        method: 'POST',
        headers: { ...t.headers, 'content-type': 'application/json', 'content-length': contentLength },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(t.body);
  });
}

/** Sends one request and returns the answer (used to sample Mandate's real response body). */
export async function probe(t: HttpTarget, tally?: AnswerTally): Promise<Answer> {
  const agent = new Agent({ keepAlive: false });
  try {
    const a = await send(agent, new URL(t.url), t, String(Buffer.byteLength(t.body)));
    tally?.count(a.status, effectOf(a, t.answer));
    return a;
  } finally {
    agent.destroy();
  }
}

export function effectOf(a: Answer, answer: HttpTarget['answer'] = 'mandate'): string | undefined {
  if (a.status !== 200) return undefined;
  try {
    const parsed = JSON.parse(a.body) as {
      effect?: unknown;
      results?: { actions?: Record<string, unknown> }[];
    };
    const e =
      answer === 'cerbos'
        ? cerbosEffect(Object.values(parsed.results?.[0]?.actions ?? {})[0])
        : parsed.effect;
    return typeof e === 'string' ? e : 'none';
  } catch {
    return 'unparsable';
  }
}

/** Cerbos's `EFFECT_ALLOW` / `EFFECT_DENY` in Mandate's words. */
function cerbosEffect(e: unknown): string | undefined {
  return e === 'EFFECT_ALLOW' ? 'allow' : e === 'EFFECT_DENY' ? 'deny' : undefined;
}

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Never measure fewer requests than this (quick mode on a slow machine). */
  minRequests?: number;
}

/**
 * Drives `t` from `concurrency` closed loops over one keep-alive Agent: a warm-up, then the
 * measured window. Latency is request start → last byte of the answer, as the client sees it.
 */
export async function runLoad(t: HttpTarget, o: LoadOptions, tally: AnswerTally): Promise<Sample> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, maxFreeSockets: o.concurrency });
  const u = new URL(t.url);
  const length = String(Buffer.byteLength(t.body));
  const one = async (): Promise<boolean> => {
    try {
      const a = await send(agent, u, t, length);
      tally.count(a.status, effectOf(a, t.answer));
      return true;
    } catch {
      tally.clientErrors++;
      return false;
    }
  };
  try {
    const warmEnd = performance.now() + o.warmupMs;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (performance.now() < warmEnd) await one();
      }),
    );
    const lat = new Latencies();
    const minRequests = o.minRequests ?? 1;
    const start = performance.now();
    const end = start + o.durationMs;
    let issued = 0;
    let last = start;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (performance.now() < end || issued < minRequests) {
          issued++;
          const t0 = performance.now();
          const ok = await one();
          last = performance.now();
          if (ok) lat.push((last - t0) * 1000);
        }
      }),
    );
    return lat.summary((last - start) / 1000);
  } finally {
    agent.destroy();
  }
}

/** A server the bench started, in a child process or (for the smoke test) in this one. */
export interface LaunchedServer {
  url: string;
  kind: 'mandate' | 'bare';
  where: 'child' | 'in-process';
  /** The child's V8 flags (to show `--no-turbo-inlining`). */
  execArgv: string[];
  /** How the child was pinned (`taskset …`), or null. */
  pinned: string | null;
  /** The child's pid, for its CPU time (`proc-cpu.ts`); null in-process, where it would count the generator too. */
  pid: number | null;
  stop(): Promise<{ audit?: unknown }>;
  /** The server's audit counters so far (a Mandate's group commit); undefined for the bare server. */
  stats(): Promise<{ appended: number; batches: number } | undefined>;
}

const CHILD_ENTRY = fileURLToPath(new URL('./server-child.js', import.meta.url));

/**
 * Starts a server. `child` forks `server-child.js` (the compiled entry next to this file) with
 * `--no-turbo-inlining`; `in-process` runs it here (only for the smoke test, which runs from source).
 */
export async function launchServer(
  kind: 'mandate' | 'bare',
  arg: { dir: string; engine?: PolicyEngineKind } | { body: string },
  where: 'child' | 'in-process',
): Promise<LaunchedServer> {
  const engine = (arg as { engine?: PolicyEngineKind }).engine;
  if (where === 'in-process') {
    const s: RunningServer =
      kind === 'mandate'
        ? await startMandateServer({ dir: (arg as { dir: string }).dir, ...(engine ? { engine } : {}) })
        : await startBareServer((arg as { body: string }).body);
    return {
      url: s.url,
      kind,
      where,
      execArgv: process.execArgv,
      pinned: null,
      pid: null,
      stop: () => s.close(),
      stats: async () => s.stats(),
    };
  }
  const childArg =
    kind === 'mandate'
      ? (arg as { dir: string }).dir
      : Buffer.from((arg as { body: string }).body).toString('base64');
  // MANDATE_BENCH_PROFILE=<dir> writes a V8 CPU profile of each server child there (as the gateway rows do).
  const prof = process.env.MANDATE_BENCH_PROFILE;
  const child = fork(CHILD_ENTRY, [kind, childArg, ...(engine ? [engine] : [])], {
    execArgv: ['--no-turbo-inlining', ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [])],
    // NODE_OPTIONS of the caller's shell must not change the child's flags.
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-8000);
  });
  const pinned = pinToCore(child.pid, SERVER_CORE);
  const ready = await nextMessage(child, () => stderr);
  if (ready.type !== 'ready') throw new Error(`bench: ${kind} server failed to start: ${describe(ready)}`);
  return {
    url: ready.url,
    kind,
    where,
    execArgv: ready.execArgv,
    pinned,
    pid: ready.pid,
    async stats() {
      const answer = nextMessage(child, () => stderr);
      child.send({ type: 'stats' });
      const msg = await answer;
      return msg.type === 'stats'
        ? (msg.audit as { appended: number; batches: number } | undefined)
        : undefined;
    },
    async stop() {
      const closed = nextMessage(child, () => stderr);
      child.send({ type: 'stop' });
      const msg = await closed;
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      if (msg.type !== 'closed') throw new Error(`bench: ${kind} server failed to stop: ${describe(msg)}`);
      return msg.audit === undefined ? {} : { audit: msg.audit };
    },
  };
}

function describe(msg: ChildMessage): string {
  return msg.type === 'failed' ? msg.error : JSON.stringify(msg);
}

function nextMessage(child: ChildProcess, stderr: () => string): Promise<ChildMessage> {
  return nextChildMessage<ChildMessage>(child, stderr, 'server child');
}

/** The next IPC message of a bench child; rejects (with its stderr tail) if it exits first. */
export function nextChildMessage<T>(child: ChildProcess, stderr: () => string, who: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: T) => {
      cleanup();
      resolve(msg);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(
        new Error(`bench: ${who} exited (code ${code}, signal ${signal}) before answering\n${stderr()}`),
      );
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
