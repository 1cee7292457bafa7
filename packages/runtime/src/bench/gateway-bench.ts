import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openStore } from '../app/index.js';
import { silentLogger } from '../kernel/index.js';
import { loadOrCreateKeys, verifyAudit } from '../audit/index.js';
import { connectBenchClient, type BenchClient } from '../gateway/index.js';
import { percentile } from './measure.js';

/** How the upstream answers: SSE (the MCP SDK's default) or JSON (the cheapest for clients). */
export type UpstreamMode = 'sse' | 'json';

export interface GatewayBenchRow {
  upstream: UpstreamMode;
  path: 'direct' | 'floor' | 'gateway' | 'gateway-args';
  concurrency: number;
  calls: number;
  p50Ms: number;
  p99Ms: number;
  callsPerSecond: number;
  /** CPU time per call in each process on the path (µs): the load generator, the upstream, and the gateway or floor in between. */
  cpuUsPerCall: { client: number; upstream: number; middle: number | null };
}

/**
 * `tools/call` round trip direct to an upstream vs through the gateway (same upstream, same run),
 * with durable audit on (SQLite, WAL fsynced per commit). Prints a table; returns the rows.
 */
export interface GatewayBenchResult {
  rows: GatewayBenchRow[];
  /** Decision audit events for the bench tool, and the gateway calls made (warm-up included). */
  audit: { decisionEvents: number; calls: number; verified: boolean };
  markdown: string;
}

const CHILD = fileURLToPath(new URL('./gateway-child.js', import.meta.url));

interface Child {
  url: string;
  /** User + system CPU time the child has used so far, in µs. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `gateway-child.js` with `--no-turbo-inlining` and waits for its `READY <url>` line. */
async function startChild(args: string[]): Promise<Child> {
  // MANDATE_BENCH_PROFILE=<dir> writes a V8 CPU profile of each child there (for finding where time goes).
  const prof = process.env.MANDATE_BENCH_PROFILE;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = spawn(process.execPath, ['--no-turbo-inlining', ...flags, CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway bench child ${args[0]} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice('READY '.length));
    });
  });
  return {
    url,
    cpu: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: { cpuUs: number }) => resolve(m.cpuUs));
        child.send('cpu');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

/**
 * Starts several children at once; each one that started joins `into` (so the caller stops it),
 * even when another failed to start.
 */
async function startChildren<A extends string[][]>(
  into: Child[],
  argsOf: [...A],
): Promise<{ [K in keyof A]: Child }> {
  const started = await Promise.allSettled(argsOf.map((args) => startChild(args)));
  for (const r of started) if (r.status === 'fulfilled') into.push(r.value);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return started.map((r) => (r as PromiseFulfilledResult<Child>).value) as { [K in keyof A]: Child };
}

/**
 * `tools/call` round trip direct to an upstream vs through the gateway (same upstream, same run),
 * with durable audit on (SQLite, WAL fsynced per commit). The upstream and the gateway run in child
 * processes, the load generator here. Returns the rows, the audit invariant and a Markdown table.
 */
export async function runGatewayBench(
  options: {
    calls?: number;
    concurrencies?: number[];
    upstreams?: UpstreamMode[];
    progress?: (line: string) => void;
  } = {},
): Promise<GatewayBenchResult> {
  const rows: GatewayBenchRow[] = [];
  const audit = { decisionEvents: 0, calls: 0, verified: true };
  for (const mode of options.upstreams ?? ['sse', 'json']) {
    const r = await runOneUpstream(mode, options);
    rows.push(...r.rows);
    audit.decisionEvents += r.audit.decisionEvents;
    audit.calls += r.audit.calls;
    audit.verified &&= r.audit.verified;
  }
  return { rows, audit, markdown: render(rows, audit) };
}

async function runOneUpstream(
  mode: UpstreamMode,
  options: { calls?: number; concurrencies?: number[]; progress?: (line: string) => void },
): Promise<Omit<GatewayBenchResult, 'markdown'>> {
  const calls = options.calls ?? 2000;
  const concurrencies = options.concurrencies ?? [1, 16];
  const progress = options.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'mandate-gw-bench-'));
  const children: Child[] = [];
  const rows: GatewayBenchRow[] = [];
  let gatewayCalls = 0;
  try {
    const upstream = await startChild([mode === 'json' ? 'upstream-json' : 'upstream']);
    children.push(upstream);
    // Two gateways over the same upstream: one whose policy reads nothing that changes between
    // calls (Cedar's answer is remembered after the first call), one whose policy reads the
    // argument every call carries anew (Cedar evaluates every call).
    const setups = {
      gateway: writeGatewaySetup(join(dir, 'gateway'), upstream.url, {
        policy: '@id("bench") permit (principal is Agent, action == Action::"echo.echo", resource);',
        context: '',
      }),
      'gateway-args': writeGatewaySetup(join(dir, 'gateway-args'), upstream.url, {
        policy:
          '@id("bench-args") permit (principal is Agent, action == Action::"echo.echo", resource) when { context.args has text && context.args.text like "call *" };',
        context: ', context: { args: { text?: String } }',
      }),
    };
    // The three middles start side by side (each loads cedar-wasm or opens its store on its own).
    const [gateway, gatewayArgs, floor] = await startChildren(children, [
      ['gateway', setups.gateway.config],
      ['gateway', setups['gateway-args'].config],
      ['floor', upstream.url, dir],
    ]);
    const auth = { authorization: 'Bearer bench-agent-key' };
    const clients = {
      direct: await connectBenchClient(upstream.url),
      floor: await connectBenchClient(floor.url),
      gateway: await connectBenchClient(gateway.url, auth),
      'gateway-args': await connectBenchClient(gatewayArgs.url, auth),
    };
    await clients.gateway.listTools();
    await clients['gateway-args'].listTools();
    const calledPerGateway = { gateway: 0, 'gateway-args': 0 };
    const paths = ['direct', 'floor', 'gateway', 'gateway-args'] as const;
    const nameOf = (path: (typeof paths)[number]) =>
      path === 'direct' || path === 'floor' ? 'echo' : 'echo.echo';
    for (const concurrency of concurrencies) {
      // The paths take turns in rounds (the order rotating each round), so a drift in the state of
      // the machine during the run weighs on every path alike instead of on whichever ran last.
      const rounds = Math.max(1, Math.min(ROUNDS, Math.floor(calls / 100)));
      const perRound = Math.ceil(calls / rounds);
      const samples = new Map(
        paths.map((p) => [p, { latencies: [] as number[], elapsedMs: 0, client: 0, upstream: 0, middle: 0 }]),
      );
      const middleOf = { direct: null, floor, gateway, 'gateway-args': gatewayArgs } as const;
      const ownCpu = () => {
        const u = process.cpuUsage();
        return u.user + u.system;
      };
      for (const path of paths) {
        const warm = Math.min(200, calls);
        await measure(clients[path], nameOf(path), warm, concurrency);
        if (path === 'gateway' || path === 'gateway-args') calledPerGateway[path] += warm;
      }
      for (let round = 0; round < rounds; round++) {
        progress(
          `gateway bench (${mode} upstream): concurrency ${concurrency}, round ${round + 1} of ${rounds}`,
        );
        for (let k = 0; k < paths.length; k++) {
          const path = paths[(round + k) % paths.length]!;
          const middle = middleOf[path];
          const before = [ownCpu(), await upstream.cpu(), middle ? await middle.cpu() : 0];
          const r = await measure(clients[path], nameOf(path), perRound, concurrency);
          const after = [ownCpu(), await upstream.cpu(), middle ? await middle.cpu() : 0];
          const sample = samples.get(path)!;
          sample.client += after[0]! - before[0]!;
          sample.upstream += after[1]! - before[1]!;
          sample.middle += after[2]! - before[2]!;
          sample.latencies.push(...r.latencies);
          sample.elapsedMs += r.elapsedMs;
          if (path === 'gateway' || path === 'gateway-args') calledPerGateway[path] += perRound;
        }
      }
      for (const path of paths) {
        const { latencies, elapsedMs, client, upstream: up, middle } = samples.get(path)!;
        latencies.sort((a, b) => a - b);
        rows.push({
          upstream: mode,
          path,
          concurrency,
          calls: latencies.length,
          p50Ms: percentile(latencies, 0.5),
          p99Ms: percentile(latencies, 0.99),
          callsPerSecond: (latencies.length / elapsedMs) * 1000,
          cpuUsPerCall: {
            client: client / latencies.length,
            upstream: up / latencies.length,
            middle: middleOf[path] ? middle / latencies.length : null,
          },
        });
      }
    }
    for (const c of Object.values(clients)) await c.close();
    for (const c of children.splice(1).reverse()) await c.stop();
    const audits = [
      await gatewayAudit(setups.gateway.store, setups.gateway.keys),
      await gatewayAudit(setups['gateway-args'].store, setups['gateway-args'].keys),
    ];
    gatewayCalls = calledPerGateway.gateway + calledPerGateway['gateway-args'];
    const audit = {
      decisionEvents: audits[0]!.decisionEvents + audits[1]!.decisionEvents,
      calls: gatewayCalls,
      // Each gateway's own count must match too, not just the sum.
      verified:
        audits.every((a) => a.verified) &&
        audits[0]!.decisionEvents === calledPerGateway.gateway &&
        audits[1]!.decisionEvents === calledPerGateway['gateway-args'],
    };
    return { rows, audit };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes one gateway's policy, schema, entities and config under `dir`; returns their paths. */
function writeGatewaySetup(
  dir: string,
  upstreamUrl: string,
  o: { policy: string; context: string },
): { config: string; store: string; keys: string } {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies', 'p.cedar'), `${o.policy}\n`);
  writeFileSync(
    join(dir, 'policies', 'schema.cedarschema'),
    `entity Agent = { roles: Set<String>, status: String };\nentity Tool;\naction "echo.echo" appliesTo { principal: [Agent], resource: Tool${o.context} };\n`,
  );
  writeFileSync(
    join(dir, 'entities.json'),
    JSON.stringify({
      agents: [{ id: 'bench-bot', roles: [], status: 'active', attributes: {} }],
      users: [],
      resources: [],
    }),
  );
  const paths = { config: join(dir, 'config.json'), store: join(dir, 'm.db'), keys: join(dir, 'keys') };
  writeFileSync(
    paths.config,
    JSON.stringify({
      store: `sqlite:${paths.store}`,
      server: { host: '127.0.0.1', port: 0 },
      policies: { dir: join(dir, 'policies') },
      entities: join(dir, 'entities.json'),
      keys: { dir: paths.keys },
      apiKeys: [{ name: 'bench', secret: 'bench-agent-key', role: 'agent', subject: 'bench-bot' }],
      gateway: { upstreams: [{ name: 'echo', url: upstreamUrl, trustOnFirstUse: true }] },
      log: { level: 'silent' },
    }),
  );
  return paths;
}

async function gatewayAudit(
  storePath: string,
  keysDir: string,
): Promise<{ decisionEvents: number; verified: boolean }> {
  const store = openStore(`sqlite:${storePath}`, silentLogger);
  try {
    const keys = await loadOrCreateKeys(keysDir);
    let decisionEvents = 0;
    let after = 0;
    for (;;) {
      const page = await store.queryAudit({
        type: 'decision',
        action: 'echo.echo',
        afterSeq: after,
        limit: 5000,
      });
      if (page.length === 0) break;
      decisionEvents += page.length;
      after = page.at(-1)!.seq;
    }
    const v = await verifyAudit(store, { publicKeys: { [keys.signer.keyId]: keys.publicKeyPem } });
    return { decisionEvents, verified: v.ok };
  } finally {
    await store.close();
  }
}

function render(rows: GatewayBenchRow[], audit: GatewayBenchResult['audit']): string {
  const out = ['## MCP gateway: `tools/call` round trip, direct vs through Mandate (durable SQLite audit)'];
  for (const mode of [...new Set(rows.map((r) => r.upstream))]) {
    out.push(
      '',
      mode === 'sse'
        ? '**Upstream answering in SSE** (the MCP SDK server default; the gateway answers its client in JSON):'
        : '**Upstream answering in JSON** (the client does the same work on every path, so this isolates the gateway):',
      '',
      '| path | concurrency | calls | p50 | p99 | calls/s | adds at p50 vs direct | keeps of direct calls/s | CPU per call: client / upstream / gateway or floor |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    const mine = rows.filter((r) => r.upstream === mode);
    for (const r of mine) {
      const d = mine.find((x) => x.path === 'direct' && x.concurrency === r.concurrency)!;
      const extra =
        r.path !== 'direct'
          ? [
              `${(r.p50Ms - d.p50Ms).toFixed(3)} ms`,
              `${((100 * r.callsPerSecond) / d.callsPerSecond).toFixed(0)}%`,
            ]
          : ['', ''];
      out.push(
        `| ${r.path} | ${r.concurrency} | ${r.calls} | ${r.p50Ms.toFixed(3)} ms | ${r.p99Ms.toFixed(3)} ms | ${r.callsPerSecond.toFixed(0)} | ${extra.join(' | ')} | ${cpuText(r.cpuUsPerCall)} |`,
      );
    }
  }
  out.push(
    '',
    'Targets (issue #4, for both gateway rows): adds < 1 ms at p50 with one call in flight, and keeps ≥ 70% of direct calls/s with 16 in flight. The paths take turns in rounds; the upstream, each gateway and the floor run in their own processes; the load generator is the MCP SDK client in the bench process.',
    '',
    "- *gateway*: the policy permits `echo.echo` for the agent and reads nothing a call changes, so after the first call Cedar's answer comes from the memo (keyed by the exact input Cedar reads).",
    '- *gateway-args*: the policy also checks `context.args.text`, which differs on every call, so Cedar evaluates every call.',
    '- *floor*: a bare node:http pass-through that appends one audit event per POST through the same durable group-commit log before forwarding: no MCP parsing, no policy. It is the least any gateway with durable audit adds on this machine.',
    '',
    `Audit: ${audit.decisionEvents} decision events for ${audit.calls} gateway calls (each gateway's count matching its own calls); chains ${audit.verified ? 'verify' : 'DO NOT VERIFY OR COUNTS DIFFER'}.`,
  );
  return out.join('\n');
}

function cpuText(c: GatewayBenchRow['cpuUsPerCall']): string {
  const us = (v: number) => `${Math.round(v)} µs`;
  return `${us(c.client)} / ${us(c.upstream)} / ${c.middle === null ? '–' : us(c.middle)}`;
}

/** Rounds per concurrency level (fewer when there are fewer than 100 calls per path per round). */
const ROUNDS = 6;

async function measure(client: BenchClient, name: string, calls: number, concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        const i = next++;
        const t0 = performance.now();
        const r = await client.callTool(name, { text: `call ${i}` });
        latencies.push(performance.now() - t0);
        if (r.isError) throw new Error(`bench call failed: ${JSON.stringify(r)}`);
      }
    }),
  );
  return { latencies, elapsedMs: performance.now() - started };
}
