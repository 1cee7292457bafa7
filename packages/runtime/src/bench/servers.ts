/**
 * The two HTTP servers the bench drives: the real Mandate (`createMandate` + `listen()` on port 0,
 * the example's config, durable SQLite in a temp dir) and a bare Node server answering a constant
 * JSON body (the baseline). `server-child.ts` runs either in a child process; the smoke test runs
 * them in-process.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import { createMandate } from '../app/index.js';
import { silentLogger } from '../kernel/index.js';
import type { AuditLogStats } from '../audit/index.js';

/** The repository root (this file is `packages/runtime/{src,dist}/bench/servers.{ts,js}`). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The example's allow request: support-bot for alice, a refund of 120 on c-42 (grant, both principals, audit). */
export const EXAMPLE_DECISION_BODY = JSON.stringify({
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount: 120 },
  intent: 'customer asked for a refund',
});
/** The API key the root mandate.config.json seeds for support-bot. */
export const EXAMPLE_AGENT_KEY = 'demo-support-bot';

export interface RunningServer {
  url: string;
  /** Stops the server; a Mandate flushes its audit and writes its final checkpoint first. */
  close(): Promise<{ audit?: AuditLogStats }>;
  /** A Mandate's group-commit counters so far (undefined for the bare server). */
  stats(): AuditLogStats | undefined;
}

export interface MandateServerOptions {
  /** Temp dir holding the SQLite file (`mandate.db`) and the audit keys (`keys/`). */
  dir: string;
  /** The config file to start from; default: the repository's mandate.config.json (the fintech-support example). */
  configFile?: string;
  /** `policies.engine` to run with; default: the config's. */
  engine?: PolicyEngineKind;
}

/** The policy engines a node can run (`policies.engine`). */
export type PolicyEngineKind = 'cedar' | 'compiled';

/** Paths of the durable state a bench Mandate writes into its temp dir. */
export function mandateStatePaths(dir: string): { db: string; keys: string } {
  return { db: join(dir, 'mandate.db'), keys: join(dir, 'keys') };
}

/** Starts the real Mandate HTTP server on 127.0.0.1, port 0, with the example config and a fresh SQLite file. */
export async function startMandateServer(o: MandateServerOptions): Promise<RunningServer> {
  const paths = mandateStatePaths(o.dir);
  // The environment is not read (MANDATE_* of the caller's shell must not change what is measured).
  const loaded = loadConfig(
    {
      configFile: o.configFile ?? join(REPO_ROOT, 'mandate.config.json'),
      store: `sqlite:${paths.db}`,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
    },
    {},
    REPO_ROOT,
  );
  loaded.config.keys.dir = paths.keys;
  // Every request here is the same call: with the memo on, Cedar would run once. The HTTP rows
  // measure the path with Cedar evaluating every decision (the gateway rows show the memo).
  loaded.config.policies.memoEntries = 0;
  if (o.engine) loaded.config.policies.engine = o.engine;
  const m = await createMandate(loaded, { logger: silentLogger });
  try {
    const { url } = await m.listen();
    return {
      url,
      stats: () => m.audit.stats(),
      async close() {
        await m.audit.flush();
        const audit = m.audit.stats();
        await m.close();
        return { audit };
      },
    };
  } catch (err) {
    await m.close();
    throw err;
  }
}

/** Starts a bare Node server that reads the request body and answers `body` as JSON, keep-alive like Mandate's. */
export async function startBareServer(body: string): Promise<RunningServer> {
  const bytes = Buffer.from(body, 'utf8');
  const server: Server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
      res.end(bytes);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    stats: () => undefined,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve({}));
        server.closeIdleConnections();
      }),
  };
}
