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

export interface GatewayBenchRow {
  path: 'direct' | 'floor' | 'gateway';
  concurrency: number;
  calls: number;
  p50Ms: number;
  p99Ms: number;
  callsPerSecond: number;
}

/**
 * `tools/call` round trip direct to an upstream vs through the gateway (same upstream, same run),
 * with durable audit on (SQLite, synchronous=FULL). Prints a table; returns the rows.
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
  stop(): Promise<void>;
}

/** Starts `gateway-child.js` with `--no-turbo-inlining` and waits for its `READY <url>` line. */
async function startChild(args: string[]): Promise<Child> {
  // MANDATE_BENCH_PROFILE=<dir> writes a V8 CPU profile of each child there (for finding where time goes).
  const prof = process.env.MANDATE_BENCH_PROFILE;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = spawn(process.execPath, ['--no-turbo-inlining', ...flags, CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway bench child ${args[0]} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice('READY '.length));
    });
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

/**
 * `tools/call` round trip direct to an upstream vs through the gateway (same upstream, same run),
 * with durable audit on (SQLite, synchronous=FULL). The upstream and the gateway run in child
 * processes, the load generator here. Returns the rows, the audit invariant and a Markdown table.
 */
export async function runGatewayBench(
  options: { calls?: number; concurrencies?: number[]; progress?: (line: string) => void } = {},
): Promise<GatewayBenchResult> {
  const calls = options.calls ?? 2000;
  const concurrencies = options.concurrencies ?? [1, 16];
  const progress = options.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'mandate-gw-bench-'));
  const children: Child[] = [];
  const rows: GatewayBenchRow[] = [];
  let gatewayCalls = 0;
  try {
    const upstream = await startChild(['upstream']);
    children.push(upstream);
    mkdirSync(join(dir, 'policies'));
    writeFileSync(
      join(dir, 'policies', 'p.cedar'),
      '@id("bench") permit (principal is Agent, action == Action::"echo.echo", resource);\n',
    );
    writeFileSync(
      join(dir, 'policies', 'schema.cedarschema'),
      'entity Agent = { roles: Set<String>, status: String };\nentity Tool;\naction "echo.echo" appliesTo { principal: [Agent], resource: Tool };\n',
    );
    writeFileSync(
      join(dir, 'entities.json'),
      JSON.stringify({
        agents: [{ id: 'bench-bot', roles: [], status: 'active', attributes: {} }],
        users: [],
        resources: [],
      }),
    );
    const store = join(dir, 'm.db');
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        store: `sqlite:${store}`,
        server: { host: '127.0.0.1', port: 0 },
        policies: { dir: join(dir, 'policies') },
        entities: join(dir, 'entities.json'),
        keys: { dir: join(dir, 'keys') },
        apiKeys: [{ name: 'bench', secret: 'bench-agent-key', role: 'agent', subject: 'bench-bot' }],
        gateway: { upstreams: [{ name: 'echo', url: upstream.url, trustOnFirstUse: true }] },
        log: { level: 'silent' },
      }),
    );
    const gateway = await startChild(['gateway', join(dir, 'config.json')]);
    children.push(gateway);
    const floor = await startChild(['floor', upstream.url, dir]);
    children.push(floor);
    const direct = await connectBenchClient(upstream.url);
    const viaFloor = await connectBenchClient(floor.url);
    const viaGateway = await connectBenchClient(gateway.url, { authorization: 'Bearer bench-agent-key' });
    await viaGateway.listTools();
    for (const concurrency of concurrencies) {
      for (const [path, client, name] of [
        ['direct', direct, 'echo'],
        ['floor', viaFloor, 'echo'],
        ['gateway', viaGateway, 'echo.echo'],
      ] as const) {
        progress(`gateway bench: ${path}, concurrency ${concurrency}, ${calls} calls`);
        const warm = Math.min(200, calls);
        await measure(client, name, warm, concurrency);
        rows.push({ path, concurrency, ...(await measure(client, name, calls, concurrency)) });
        if (path === 'gateway') gatewayCalls += warm + calls;
      }
    }
    await direct.close();
    await viaFloor.close();
    await viaGateway.close();
    await floor.stop();
    children.pop();
    await gateway.stop();
    children.pop();
    const audit = await gatewayAudit(store, join(dir, 'keys'));
    return {
      rows,
      audit: { ...audit, calls: gatewayCalls },
      markdown: render(rows, { ...audit, calls: gatewayCalls }),
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
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
  const out = [
    '## MCP gateway: `tools/call` round trip, direct vs through Mandate (durable SQLite audit)',
    '',
    '| path | concurrency | calls | p50 | p99 | calls/s | adds at p50 vs direct | keeps of direct calls/s |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    const d = rows.find((x) => x.path === 'direct' && x.concurrency === r.concurrency)!;
    const extra =
      r.path !== 'direct'
        ? [
            `${(r.p50Ms - d.p50Ms).toFixed(3)} ms`,
            `${((100 * r.callsPerSecond) / d.callsPerSecond).toFixed(0)}%`,
          ]
        : ['', ''];
    out.push(
      `| ${r.path} | ${r.concurrency} | ${r.calls} | ${r.p50Ms.toFixed(3)} ms | ${r.p99Ms.toFixed(3)} ms | ${r.callsPerSecond.toFixed(0)} | ${extra.join(' | ')} |`,
    );
  }
  out.push(
    '',
    `Targets (gateway): adds < 1 ms at p50, keeps ≥ 70% of direct calls/s. The upstream, the gateway and the floor each run in their own process; the load generator is the MCP SDK client in the bench process.`,
    `*floor* is a bare node:http pass-through that appends one audit event per POST through the same durable group-commit log before forwarding: no MCP parsing, no policy. It is the least any gateway with durable audit adds on this machine.`,
    `Audit: ${audit.decisionEvents} decision events for ${audit.calls} gateway calls; chain ${audit.verified ? 'verifies' : 'DOES NOT VERIFY'}.`,
  );
  return out.join('\n');
}

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
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { calls, p50Ms: q(0.5), p99Ms: q(0.99), callsPerSecond: (calls / elapsed) * 1000 };
}
