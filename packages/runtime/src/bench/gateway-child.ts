/**
 * Child-process entry of the gateway rows, so the load generator, the gateway and the upstream
 * each have their own event loop (as they would in production):
 *
 *   node --no-turbo-inlining gateway-child.js upstream
 *   node --no-turbo-inlining gateway-child.js gateway <config.json>
 *   node --no-turbo-inlining gateway-child.js floor <upstream url> <dir>
 *
 * Prints `READY <url>` on stdout; exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ConfigSchema } from '../config/index.js';
import { createMandate, openStore } from '../app/index.js';
import { silentLogger, systemClock } from '../kernel/index.js';
import { createAuditLog, createRecordSealer, loadOrCreateKeys } from '../audit/index.js';
import { startEchoUpstream } from '../gateway/index.js';

/**
 * The floor under any gateway with durable audit: a bare `node:http` pass-through that appends one
 * audit event per POST through Mandate's own group-commit log (SQLite, WAL fsynced per commit) before
 * forwarding it unchanged, and pipes the answer back. No MCP parsing, no policy: what is left of
 * the gateway's added latency once the decision itself costs nothing.
 */
async function startFloorProxy(
  upstream: string,
  dir: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const store = openStore(`sqlite:${join(dir, 'floor.db')}`, silentLogger);
  await store.migrate();
  const keys = await loadOrCreateKeys(join(dir, 'floor-keys'));
  const log = createAuditLog({
    store,
    clock: systemClock,
    logger: silentLogger,
    nodeId: 'floor',
    signer: keys.signer,
    sealer: createRecordSealer(keys.sealKey),
    checkpointEvery: 1000,
    checkpointIntervalMs: 60_000,
  });
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const pass = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | null) => {
    const headers: Record<string, string> = {};
    for (const h of pass) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    if (body) headers['content-length'] = String(body.length);
    const up = http.request(target, { method: req.method, agent, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => up.destroy());
    up.end(body ?? undefined);
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') return forward(req, res, null);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      log
        .append({
          type: 'decision',
          time: new Date().toISOString(),
          nodeId: 'floor',
          effect: 'allow',
          data: { request: body.toString('utf8') },
        })
        .then(
          () => forward(req, res, body),
          () => {
            res.writeHead(503);
            res.end();
          },
        );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await log.close();
      await store.close();
      agent.destroy();
    },
  };
}

async function main(): Promise<void> {
  const [kind, arg] = process.argv.slice(2);
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'upstream' || kind === 'upstream-json') {
    const up = await startEchoUpstream({ json: kind === 'upstream-json' });
    url = up.url;
    close = () => up.close();
  } else if (kind === 'floor' && arg && process.argv[4]) {
    const floor = await startFloorProxy(arg, process.argv[4]);
    url = floor.url;
    close = () => floor.close();
  } else if (kind === 'gateway' && arg) {
    const config = ConfigSchema.parse(JSON.parse(readFileSync(arg, 'utf8')));
    const m = await createMandate(
      { config, file: arg, baseDir: process.cwd(), nodeId: 'bench-gateway' },
      { logger: silentLogger },
    );
    url = `${(await m.listen()).url}/mcp`;
    close = () => m.close();
  } else {
    throw new Error(
      'usage: gateway-child.js upstream | upstream-json | gateway <config.json> | floor <url> <dir>',
    );
  }
  process.stdout.write(`READY ${url}\n`);
  // The bench asks for this process's CPU time around each measured segment.
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpuUs: u.user + u.system });
    }
  });
  process.stdin.resume();
  process.stdin.on('end', () => {
    void close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway-child: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
