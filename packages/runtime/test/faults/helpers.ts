import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import pg from 'pg';
import {
  CLI_BIN,
  EXAMPLE_DIR,
  EXAMPLE_POLICIES,
  REPO_ROOT,
  exampleConfig,
  tempDir,
} from '../fixtures/mandate.js';
import { cliEnv } from '../fixtures/cli.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A unique tag for this test's schema and `application_name`: what it kills is its own. */
export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

/**
 * A TCP proxy on 127.0.0.1 in front of the test's PostgreSQL: `cut()` resets every connection and
 * refuses new ones (the database "stopped immediately", as seen from Mandate), `restore()` lets
 * them through again (it "came back"). The real server, which other people use, is never touched.
 */
export interface TcpProxy {
  port: number;
  cut(): void;
  restore(): void;
  /** Stops passing bytes either way without closing anything: a link black-holed, a node paused. */
  freeze(): void;
  close(): Promise<void>;
}

export async function startProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    sockets.add(client);
    sockets.add(upstream);
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    refusing = true;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    cut,
    restore() {
      refusing = false;
    },
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A URL like `base` but through `127.0.0.1:<port>`, with a search_path and an application_name. */
export function postgresUrl(base: string, opts: { port?: number; schema?: string; app?: string }): string {
  const u = new URL(base);
  if (opts.port !== undefined) {
    u.hostname = '127.0.0.1';
    u.port = String(opts.port);
  }
  if (opts.schema) u.searchParams.set('options', `-c search_path=${opts.schema}`);
  if (opts.app) u.searchParams.set('application_name', opts.app);
  return u.toString();
}

/** Runs `fn` with a direct connection to the test server (not through any proxy). */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Terminates every backend whose application_name is `app` (only this test's own); returns how many. */
export async function terminateBackends(c: pg.Client, app: string): Promise<number> {
  const r = await c.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [app],
  );
  return r.rowCount ?? 0;
}

/** The example config with absolute paths, a temp keys dir, port 0, no upstreams; written to `dir`. */
export function writeServeConfig(
  dir: string,
  store: string,
  edit?: (raw: Record<string, unknown>) => void,
): string {
  const raw = exampleConfig();
  raw.store = store;
  raw.keys = { dir: join(dir, 'keys') };
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.log = { level: 'warn' };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  raw.policies = { ...raw.policies, dir: EXAMPLE_POLICIES };
  raw.gateway = { ...(raw.gateway as Record<string, unknown>), upstreams: [] };
  edit?.(raw);
  const file = join(dir, 'mandate.config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return file;
}

/**
 * A node's SQLite file in a fresh temp dir (`prefix`) and its config file: silent, and no idle
 * checkpoints of the chain (a test's own writes are all the chain gets).
 */
export function quietSqliteNode(prefix: string): { dir: string; path: string; configFile: string } {
  const dir = tempDir(prefix);
  const path = join(dir, 'mandate.db');
  const configFile = writeServeConfig(dir, `sqlite:${path}`, (raw) => {
    raw.log = { level: 'silent' };
    raw.audit = { ...(raw.audit as object), checkpointIntervalMs: 3_600_000 };
  });
  return { dir, path, configFile };
}

export interface ServeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** The URL from the banner, or null when the process ended before printing it. */
  url: string | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Every child this file spawned, so a test that fails or times out leaves no process behind. */
const children = new Set<{ kill(signal: NodeJS.Signals): boolean; exitCode: number | null }>();

/** SIGKILLs every child still running (call it in afterAll/afterEach). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.clear();
}

/**
 * Spawns the real `bin/mandate.js serve --config <file>` and waits for its banner (or its exit).
 * Node gets `--no-turbo-inlining` itself, so the binary runs in this one process (it re-spawns
 * itself without the flag) and a kill reaches it.
 */
export function spawnServe(config: string, timeoutMs = 180_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--no-turbo-inlining', CLI_BIN, 'serve', '--config', config], {
    cwd: REPO_ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc = (url: string | null): ServeProcess => ({ child, url, exited, stderr: () => err });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(proc(null));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /Mandate is running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes('docs:')) {
        clearTimeout(timer);
        resolve(proc(m[1]!));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(proc(null));
    });
  });
}

/** Stops a served process with SIGTERM (SIGKILL after `graceMs`) and returns how it ended. */
export async function stopServe(
  p: ServeProcess,
  graceMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A second process holding SQLite's write lock (`BEGIN EXCLUSIVE`) on `path` until told to let
 * go — another node, or an operator's sqlite3 shell, in the middle of a long write.
 */
export interface LockHolder {
  release(): Promise<void>;
}

export function holdSqliteLock(path: string, maxHoldMs = 20_000): Promise<LockHolder> {
  const script = `
    import Database from 'better-sqlite3';
    const db = new Database(${JSON.stringify(path)});
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    const done = () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); process.exit(0); };
    process.stdin.on('data', done);
    setTimeout(done, ${maxHoldMs});
  `;
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    process.execPath,
    ['--input-type=module', '-e', script],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('locked\n'))
        resolve({
          async release() {
            if (child.exitCode === null) child.stdin.write('go\n');
            await exited;
          },
        });
    });
    void exited.then(() => reject(new Error(`the lock holder exited early: ${err}`)));
  });
}
