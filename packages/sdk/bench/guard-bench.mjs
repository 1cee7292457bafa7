/**
 * The SDK's own cost (`npm run bench`, after the runtime's bench): a guarded no-op tool against the
 * bare no-op tool and against the bare decision it makes, remote (HTTP to a node on 127.0.0.1) and
 * embedded (in-process), all in the same run.
 *
 *   node --no-turbo-inlining packages/sdk/bench/guard-bench.mjs [--quick] [--out <dir>]
 *
 * Env: MANDATE_BENCH_SECONDS — measured seconds per row (default 10; `--quick`: 0.3).
 * Prints a Markdown table on stdout and writes bench-results/sdk-bench-<date>.{md,json}. Every
 * call must be allowed (checked: exit 1 otherwise); timings are reported, never asserted.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createMandate, loadConfig } from '@mandate/runtime';
import { createClient, guardTool } from '@mandate/sdk';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = join(REPO_ROOT, 'examples', 'fintech-support');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const outIdx = argv.indexOf('--out');
const outDir = outIdx >= 0 ? argv[outIdx + 1] : join(REPO_ROOT, 'bench-results');
const fromEnv = Number(process.env.MANDATE_BENCH_SECONDS);
const seconds = Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : quick ? 0.3 : 10;
const progress = (line) =>
  process.stderr.write(`[sdk bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** A config of the example on a fresh SQLite file (the durable default), silent, no gateway. */
async function configFile(dir) {
  const raw = JSON.parse(await readFile(join(REPO_ROOT, 'mandate.config.json'), 'utf8'));
  raw.store = `sqlite:${join(dir, 'mandate.db')}`;
  raw.keys = { dir: join(dir, 'keys') };
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.log = { level: 'silent' };
  raw.tools = join(EXAMPLE, 'tools.json');
  raw.entities = join(EXAMPLE, 'entities.json');
  raw.policies = { ...raw.policies, dir: join(EXAMPLE, 'policies') };
  delete raw.gateway;
  const file = join(dir, 'mandate.config.json');
  await writeFile(file, JSON.stringify(raw));
  return file;
}

/** Runs `op` one call at a time for `seconds` after a short warm-up; per-call latencies in µs. */
async function measure(op) {
  const warm = performance.now() + Math.min(1000, seconds * 200);
  while (performance.now() < warm) await op();
  const lat = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    await op();
    lat.push((performance.now() - t) * 1000);
  }
  const elapsed = performance.now() - start;
  lat.sort((a, b) => a - b);
  const rank = (q) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil(q * lat.length) - 1))];
  return { calls: lat.length, opsPerSec: (lat.length / elapsed) * 1000, p50Us: rank(0.5), p99Us: rank(0.99) };
}

const fmtUs = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(us < 10 ? 2 : 1)} µs`);
const fmtRatio = (r) => `${r >= 100 ? r.toFixed(0) : r.toFixed(2)}×`;

async function main() {
  const dirs = [
    await mkdtemp(join(tmpdir(), 'mandate-sdk-bench-')),
    await mkdtemp(join(tmpdir(), 'mandate-sdk-bench-')),
  ];
  const server = await createMandate(loadConfig({ configFile: await configFile(dirs[0]) }, {}));
  const { url } = await server.listen();
  const clients = {
    remote: createClient({ url, apiKey: 'demo-support-bot' }),
    embedded: createClient({
      apiKey: 'demo-support-bot',
      embedded: { configFile: await configFile(dirs[1]), logLevel: 'silent' },
    }),
  };
  const args = { customerId: 'c-42', amount: 120 };
  const request = { agent: 'support-bot', onBehalfOf: 'alice', action: 'payments.refund', args };
  let notAllowed = 0;
  const noop = async (a) => a.amount;
  const rows = [];
  try {
    progress(`bare no-op tool, ${seconds}s`);
    const bare = await measure(() => noop(args));
    rows.push({ mode: '—', row: 'bare no-op tool', ...bare });
    for (const [mode, client] of Object.entries(clients)) {
      progress(`${mode}: decision alone, ${seconds}s`);
      const decide = await measure(async () => {
        if ((await client.decide(request)).effect !== 'allow') notAllowed++;
      });
      rows.push({ mode, row: 'client.decide() alone', ...decide, decide });
      for (const outcome of ['off', 'background', 'await']) {
        const tool = guardTool(noop, {
          client,
          agent: 'support-bot',
          onBehalfOf: 'alice',
          action: 'payments.refund',
          outcome,
        });
        progress(`${mode}: guarded no-op, outcome ${outcome}, ${seconds}s`);
        const guarded = await measure(async () => {
          if ((await tool(args)).status !== 'ok') notAllowed++;
        });
        rows.push({ mode, row: `guarded no-op (outcome: ${outcome})`, ...guarded, decide });
      }
    }
    for (const r of rows) {
      r.vsBare = r.p50Us / bare.p50Us;
      r.addedUs = r.p50Us - bare.p50Us;
      r.vsDecide = r.decide ? r.p50Us / r.decide.p50Us : null;
    }
  } finally {
    await clients.remote.close();
    await clients.embedded.close();
    await server.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }

  const lines = [
    `## SDK: a guarded no-op tool (${seconds}s per row, 1 call in flight, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
    '',
    'Remote: HTTP to a node on 127.0.0.1 in this process; embedded: the decision path in-process. Both on SQLite (`synchronous=FULL`).',
    '',
    '| mode | row | calls | ops/s | p50 | p99 | p50 ÷ bare tool | added over bare (p50) | p50 ÷ decide alone |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.row} | ${r.calls} | ${r.opsPerSec.toFixed(0)} | ${fmtUs(r.p50Us)} | ${fmtUs(r.p99Us)} | ${fmtRatio(r.vsBare)} | ${fmtUs(r.addedUs)} | ${r.vsDecide === null ? '—' : fmtRatio(r.vsDecide)} |`,
    ),
    '',
    notAllowed === 0 ? 'Every call was allowed.' : `INVARIANT FAILED: ${notAllowed} calls were not allowed.`,
  ];
  const md = lines.join('\n');
  process.stdout.write(`${md}\n`);
  if (outDir) {
    await mkdir(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    await writeFile(join(outDir, `sdk-bench-${stamp}.md`), `${md}\n`);
    await writeFile(
      join(outDir, `sdk-bench-${stamp}.json`),
      JSON.stringify({ seconds, rows, notAllowed }, null, 2),
    );
  }
  process.exitCode = notAllowed === 0 ? 0 : 1;
}

await main();
