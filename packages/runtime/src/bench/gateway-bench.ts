import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../config/index.js';
import { createMandate } from '../app/index.js';
import { silentLogger } from '../kernel/index.js';
import { connectBenchClient, startEchoUpstream, type BenchClient } from '../gateway/index.js';

export interface GatewayBenchRow {
  path: 'direct' | 'gateway';
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
export async function runGatewayBench(
  options: { calls?: number; write?: (line: string) => void } = {},
): Promise<GatewayBenchRow[]> {
  const calls = options.calls ?? 2000;
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const dir = mkdtempSync(join(tmpdir(), 'mandate-gw-bench-'));
  const upstream = await startEchoUpstream();
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
  const config = ConfigSchema.parse({
    store: `sqlite:${join(dir, 'm.db')}`,
    server: { host: '127.0.0.1', port: 0 },
    policies: { dir: join(dir, 'policies') },
    entities: join(dir, 'entities.json'),
    keys: { dir: join(dir, 'keys') },
    apiKeys: [{ name: 'bench', secret: 'bench-agent-key', role: 'agent', subject: 'bench-bot' }],
    gateway: { upstreams: [{ name: 'echo', url: upstream.url, trustOnFirstUse: true }] },
    log: { level: 'silent' },
  });
  const m = await createMandate(
    { config, file: null, baseDir: dir, nodeId: 'bench' },
    { logger: silentLogger },
  );
  const rows: GatewayBenchRow[] = [];
  try {
    const { url } = await m.listen();
    const direct = await connectBenchClient(upstream.url);
    const viaGateway = await connectBenchClient(`${url}/mcp`, { authorization: 'Bearer bench-agent-key' });
    await viaGateway.listTools();
    for (const concurrency of [1, 16]) {
      for (const [path, client, name] of [
        ['direct', direct, 'echo'],
        ['gateway', viaGateway, 'echo.echo'],
      ] as const) {
        await measure(client, name, Math.min(200, calls), concurrency); // warm-up
        rows.push({ path, concurrency, ...(await measure(client, name, calls, concurrency)) });
      }
    }
    await direct.close();
    await viaGateway.close();
  } finally {
    await m.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
  write('tools/call round trip (durable audit: SQLite synchronous=FULL)');
  write('path      conc   calls    p50 ms   p99 ms   calls/s');
  for (const r of rows) {
    write(
      `${r.path.padEnd(9)} ${String(r.concurrency).padStart(4)} ${String(r.calls).padStart(7)} ${r.p50Ms.toFixed(3).padStart(9)} ${r.p99Ms.toFixed(3).padStart(8)} ${r.callsPerSecond.toFixed(0).padStart(9)}`,
    );
  }
  for (const c of [1, 16]) {
    const d = rows.find((r) => r.path === 'direct' && r.concurrency === c)!;
    const g = rows.find((r) => r.path === 'gateway' && r.concurrency === c)!;
    write(
      `concurrency ${c}: gateway adds ${(g.p50Ms - d.p50Ms).toFixed(3)} ms at p50, keeps ${((100 * g.callsPerSecond) / d.callsPerSecond).toFixed(0)}% of direct calls/s`,
    );
  }
  return rows;
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
