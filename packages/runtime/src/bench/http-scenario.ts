/**
 * The HTTP scenario: two real Mandate servers (the example config with the `cedar` engine, and the
 * same with the `compiled` engine), a bare Node server and — in the full bench — a Cerbos server,
 * each in its own child process pinned to the server core, driven by ONE load generator in its own
 * child pinned to the other core: closed loops at each concurrency, then open loops at fixed rates.
 * Afterwards an independent check of the audit trail each Mandate child left on disk: one decision
 * event per 200 answer, and the chain verifies.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AnswerTally,
  effectOf,
  launchServer,
  probe,
  type HttpTarget,
  type LaunchedServer,
  type TallyCounts,
} from './http.js';
import { checkHttpAudit, type HttpAuditCheck } from './http-audit.js';
import { startLoadGenerator, type LoadGenerator } from './loadgen.js';
import type { Sample } from './measure.js';
import type { OpenSample } from './open-loop.js';
import { processCpuMs, type ServerCpu } from './proc-cpu.js';
import {
  CERBOS_PACKAGE,
  CERBOS_VERSION,
  cerbosCheckBody,
  ensureCerbos,
  startCerbos,
  type RunningCerbos,
} from './cerbos.js';
import { EXAMPLE_AGENT_KEY, EXAMPLE_DECISION_BODY, type PolicyEngineKind } from './servers.js';

/** `mandate`: the example config with `policies.engine` cedar; `mandate-compiled`: with the compiled engine (the default). */
export type HttpServerKey = 'bare' | 'mandate' | 'mandate-compiled' | 'cerbos';

export interface HttpRow {
  /** `closed`: `concurrency` loops, each waiting for its answer; `open`: requests started at `rate`/s. */
  mode: 'closed' | 'open';
  /** Closed: requests in flight; open: the most connections the generator may open. */
  concurrency: number;
  server: HttpServerKey;
  sample: Sample | OpenSample;
  /** Mandate rows: audit events and store transactions (fsyncs) during the row, warm-up included. */
  commits?: { events: number; transactions: number };
  /** The server process's CPU over the row, warm-up included (absent in-process or off Linux). */
  cpu?: ServerCpu;
}

export interface HttpScenarioOptions {
  seconds: number;
  warmupSeconds: number;
  concurrencies: number[];
  /** Open-loop rates as fractions of the compiled Mandate's closed-loop decisions/s at the highest concurrency. */
  openFractions: number[];
  /** Connections the open-loop generator may open. */
  openMaxSockets: number;
  /** Run the Cerbos rows (installs the package on first use). */
  cerbos: boolean;
  where: 'child' | 'in-process';
  /** Temp dir for the Mandate children's SQLite files and keys, and Cerbos's policies. */
  dir: string;
  progress: (line: string) => void;
}

export interface HttpScenarioResult {
  rows: HttpRow[];
  /** Size of Mandate's decision answer, which the bare server sends back verbatim. */
  responseBytes: number;
  /** V8 flags the server children ran with. */
  childExecArgv: string[];
  /** How the servers and the load generator were pinned (null: not pinned). */
  pinning: { servers: string | null; generator: string | null; generatorWhere: 'child' | 'in-process' };
  /** The Cerbos rows: the version run, or why there are none. */
  cerbos: {
    package: string;
    version: string;
    ran: boolean;
    note: string;
    /** What Cerbos answered over the run (every answer must be an allow). */
    answers?: TallyCounts;
  };
  /** The cedar-engine Mandate child's group-commit counters at shutdown. */
  mandateAudit?: { appended?: number; batches?: number };
  /** One audit check per Mandate server. */
  audits: HttpAuditCheck[];
}

interface MandateUnderTest {
  key: 'mandate' | 'mandate-compiled';
  engine: PolicyEngineKind;
  dir: string;
  server: LaunchedServer;
  target: HttpTarget;
  tally: AnswerTally;
  stopped?: { audit?: unknown };
}

const LABEL_ENGINE: Record<MandateUnderTest['key'], PolicyEngineKind> = {
  mandate: 'cedar',
  'mandate-compiled': 'compiled',
};

export async function runHttpScenario(o: HttpScenarioOptions): Promise<HttpScenarioResult> {
  const mandates: MandateUnderTest[] = [];
  let bare: LaunchedServer | undefined;
  let cerbos: RunningCerbos | undefined;
  let gen: LoadGenerator | undefined;
  const rows: HttpRow[] = [];
  let responseBytes = 0;
  let bareBody = '';
  const cerbosInfo: HttpScenarioResult['cerbos'] = {
    package: CERBOS_PACKAGE,
    version: CERBOS_VERSION,
    ran: false,
    note: '',
  };
  try {
    for (const key of ['mandate', 'mandate-compiled'] as const) {
      const engine = LABEL_ENGINE[key];
      const dir = join(o.dir, key);
      await mkdir(dir, { recursive: true });
      o.progress(
        `http: starting Mandate, ${engine} engine (${o.where}, example config, SQLite, WAL fsynced per commit)…`,
      );
      const server = await launchServer('mandate', { dir, engine }, o.where);
      const m: MandateUnderTest = {
        key,
        engine,
        dir,
        server,
        tally: new AnswerTally(),
        target: {
          url: server.url,
          path: '/v1/decisions',
          headers: { authorization: `Bearer ${EXAMPLE_AGENT_KEY}` },
          body: EXAMPLE_DECISION_BODY,
        },
      };
      mandates.push(m);
      const first = await probe(m.target, m.tally);
      const effect =
        first.status === 200 ? (JSON.parse(first.body) as { effect?: string }).effect : undefined;
      if (effect !== 'allow')
        throw new Error(
          `bench: the example request must be allowed (${engine}); got ${first.status} ${first.body}`,
        );
      if (key === 'mandate') {
        responseBytes = Buffer.byteLength(first.body);
        bareBody = first.body;
      }
    }
    o.progress(
      `http: starting the bare Node baseline (${o.where}, constant ${responseBytes}-byte JSON answer)…`,
    );
    bare = await launchServer('bare', { body: bareBody }, o.where);
    const bareTarget: HttpTarget = { ...mandates[0]!.target, url: bare.url };
    const bareTally = new AnswerTally();

    let cerbosTarget: HttpTarget | undefined;
    const cerbosTally = new AnswerTally();
    if (o.cerbos) {
      // Cerbos is the comparison, not the subject: when it cannot be installed or started the
      // report says why and the bench goes on without its rows.
      try {
        const got = await ensureCerbos(o.progress);
        if ('error' in got) throw new Error(got.error);
        o.progress(`cerbos: starting cerbos ${CERBOS_VERSION} (disk store, 127.0.0.1)…`);
        cerbos = await startCerbos(got.binary, join(o.dir, 'cerbos'));
        cerbosTarget = await checkCerbos(cerbos.url, cerbosTally);
        cerbosInfo.ran = true;
        cerbosInfo.note = `cerbos ${CERBOS_VERSION}, disk store, POST /api/check/resources`;
      } catch (err) {
        cerbosInfo.note = `not run: ${(err as Error).message}`;
        o.progress(`cerbos: ${cerbosInfo.note}`);
        await cerbos?.stop().catch(() => undefined);
        cerbos = undefined;
      }
    } else {
      cerbosInfo.note = 'not run (quick run; MANDATE_BENCH_CERBOS=1 runs it)';
    }

    gen = startLoadGenerator(o.where);
    const warmupMs = o.warmupSeconds * 1000;
    const durationMs = o.seconds * 1000;
    const top = Math.max(...o.concurrencies);
    const serverOf = (key: HttpServerKey) => {
      const m = mandates.find((x) => x.key === key);
      if (m) return { pid: m.server.pid, tally: m.tally };
      return key === 'bare' ? { pid: bare!.pid, tally: bareTally } : { pid: cerbos?.pid, tally: cerbosTally };
    };
    const measure = async (
      key: HttpServerKey,
      mode: 'closed' | 'open',
      concurrency: number,
      run: () => Promise<Sample | OpenSample>,
    ) => {
      const m = mandates.find((x) => x.key === key);
      const { pid, tally } = serverOf(key);
      const before = await m?.server.stats();
      const cpu0 = processCpuMs(pid);
      const [wall0, answers0] = [performance.now(), tally.answered];
      const sample = await run();
      const cpu1 = processCpuMs(pid);
      const cpu =
        cpu0 !== null && cpu1 !== null
          ? { cpuMs: cpu1 - cpu0, wallMs: performance.now() - wall0, answers: tally.answered - answers0 }
          : undefined;
      const after = await m?.server.stats();
      const commits =
        before && after
          ? { events: after.appended - before.appended, transactions: after.batches - before.batches }
          : undefined;
      rows.push({
        mode,
        concurrency,
        server: key,
        sample,
        ...(commits ? { commits } : {}),
        ...(cpu ? { cpu } : {}),
      });
      return sample;
    };

    for (const c of o.concurrencies) {
      const load = { concurrency: c, warmupMs, durationMs, minRequests: 20 };
      o.progress(`http c=${c}: bare Node baseline…`);
      await measure('bare', 'closed', c, () => gen!.closed(bareTarget, load, bareTally));
      for (const m of mandates) {
        o.progress(`http c=${c}: Mandate (${m.engine} engine) POST /v1/decisions…`);
        await measure(m.key, 'closed', c, () => gen!.closed(m.target, load, m.tally));
      }
      if (cerbosTarget && c === top) {
        o.progress(`http c=${c}: Cerbos POST /api/check/resources…`);
        await measure('cerbos', 'closed', c, () => gen!.closed(cerbosTarget!, load, cerbosTally));
      }
    }

    const fastest = rows.find(
      (r) => r.mode === 'closed' && r.server === 'mandate-compiled' && r.concurrency === top,
    )!;
    for (const f of o.openFractions) {
      const rate = Math.max(10, Math.round(fastest.sample.opsPerSec * f));
      const load = { rate, warmupMs, durationMs, maxSockets: o.openMaxSockets, minRequests: 20 };
      o.progress(
        `http open loop ${rate}/s (${Math.round(f * 100)}% of compiled Mandate's c=${top} max): bare…`,
      );
      await measure('bare', 'open', o.openMaxSockets, () => gen!.open(bareTarget, load, bareTally));
      const compiled = mandates.find((m) => m.key === 'mandate-compiled')!;
      o.progress(`http open loop ${rate}/s: Mandate (compiled engine)…`);
      await measure(compiled.key, 'open', o.openMaxSockets, () =>
        gen!.open(compiled.target, load, compiled.tally),
      );
      if (cerbosTarget) {
        o.progress(`http open loop ${rate}/s: Cerbos…`);
        await measure('cerbos', 'open', o.openMaxSockets, () => gen!.open(cerbosTarget!, load, cerbosTally));
      }
    }
    if (
      cerbosTarget &&
      (cerbosTally.clientErrors > 0 || Object.keys(cerbosTally.effects).some((e) => e !== 'allow'))
    )
      throw new Error(`bench: cerbos answered ${JSON.stringify(cerbosTally.counts())}`);

    o.progress('http: stopping servers (each Mandate flushes its audit and writes a final checkpoint)…');
    for (const m of mandates) m.stopped = await m.server.stop();
  } finally {
    await gen?.stop().catch(() => undefined);
    for (const m of mandates) if (!m.stopped) await m.server.stop().catch(() => undefined);
    await bare?.stop().catch(() => undefined);
    await cerbos?.stop().catch(() => undefined);
  }

  o.progress('http: counting decision events and verifying each chain on disk…');
  const audits: HttpAuditCheck[] = [];
  for (const m of mandates) audits.push(await checkHttpAudit(`Mandate (${m.engine} engine)`, m.dir, m.tally));
  const cedar = mandates.find((m) => m.key === 'mandate')!;
  return {
    rows,
    responseBytes,
    childExecArgv: cedar.server.execArgv,
    pinning: { servers: cedar.server.pinned, generator: gen?.pinned ?? null, generatorWhere: o.where },
    cerbos: cerbosInfo,
    ...(cedar.stopped?.audit
      ? { mandateAudit: cedar.stopped.audit as HttpScenarioResult['mandateAudit'] }
      : {}),
    audits,
  };
}

/** The target for Cerbos, once its policy decides like Mandate's: 120 is allowed, 620 (over refund-small's 500) is not. */
async function checkCerbos(url: string, tally: AnswerTally): Promise<HttpTarget> {
  const target: HttpTarget = {
    url,
    path: '/api/check/resources',
    headers: {},
    body: cerbosCheckBody(),
    answer: 'cerbos',
  };
  const yes = await probe(target, tally);
  const no = await probe({ ...target, body: cerbosCheckBody(620) });
  const [a, b] = [yes, no].map((x) => (x.status === 200 ? effectOf(x, 'cerbos') : `HTTP ${x.status}`));
  if (a !== 'allow' || b !== 'deny')
    throw new Error(`cerbos must allow 120 and deny 620; it answered ${a} and ${b}`);
  return target;
}
