/**
 * The Cerbos row's server: the `cerbos` binary from the `@cerbos/cerbos-linux-x64` npm package,
 * installed ON DEMAND into a git-ignored cache (`bench-results/.cerbos/<version>`) the first time
 * the full bench needs it — never a dependency of the project — and started with a disk policy
 * store holding a policy equivalent to the example's allow request, on 127.0.0.1 ports picked
 * free just before, pinned to the server core like Mandate.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { canPin, SERVER_CORE } from './pin.js';
import { REPO_ROOT } from './servers.js';

export const CERBOS_PACKAGE = '@cerbos/cerbos-linux-x64';
export const CERBOS_VERSION = '0.55.0';

/**
 * The example's decision in Cerbos's terms: `refund-small` (support agent, same tenant, amount ≤
 * 500), alice's grant to support-bot (payments.refund, amount ≤ 10,000) and alice's own policy
 * (`user-support-customers`: support, same tenant) — all as conditions on the request's attributes,
 * since Cerbos keeps no entities or grants of its own.
 */
export const CERBOS_POLICY = `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: customer
  rules:
    - actions: ["payments.refund"]
      effect: EFFECT_ALLOW
      roles: ["support"]
      condition:
        match:
          all:
            of:
              - expr: request.principal.attr.tenant == request.resource.attr.tenant
              - expr: request.resource.attr.amount <= 500
              - expr: request.principal.attr.onBehalfOf == "alice"
              - expr: request.resource.attr.amount <= 10000
              - expr: '"support" in request.principal.attr.userRoles'
              - expr: request.principal.attr.userTenant == request.resource.attr.tenant
`;

/** The example's allow request (support-bot for alice, refund 120 on c-42) to `/api/check/resources`. */
export function cerbosCheckBody(amount = 120): string {
  return JSON.stringify({
    requestId: 'bench',
    principal: {
      id: 'support-bot',
      roles: ['support'],
      attr: { tenant: 'acme', onBehalfOf: 'alice', userRoles: ['support'], userTenant: 'acme' },
    },
    resources: [
      {
        actions: ['payments.refund'],
        resource: { kind: 'customer', id: 'c-42', attr: { tenant: 'acme', amount } },
      },
    ],
  });
}

/** The binary's path, installing the package first if needed; or why it is not available. */
export async function ensureCerbos(
  progress: (line: string) => void,
): Promise<{ binary: string } | { error: string }> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return {
      error: `${CERBOS_PACKAGE} ships a linux/x64 binary; this is ${process.platform}/${process.arch}`,
    };
  const prefix = join(REPO_ROOT, 'bench-results', '.cerbos', CERBOS_VERSION);
  const binary = join(prefix, 'node_modules', ...CERBOS_PACKAGE.split('/'), 'cerbos-linux-x64');
  if (existsSync(binary)) return { binary };
  progress(`cerbos: installing ${CERBOS_PACKAGE}@${CERBOS_VERSION} into ${prefix} (once; git-ignored)…`);
  await mkdir(prefix, { recursive: true });
  const failed = await new Promise<string | null>((resolve) => {
    execFile(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        `${CERBOS_PACKAGE}@${CERBOS_VERSION}`,
      ],
      { timeout: 300_000 },
      (err, _stdout, stderr) =>
        resolve(
          err ? `${err.message.split('\n')[0]}; ${stderr.trim().split('\n').slice(-2).join(' ')}` : null,
        ),
    );
  });
  if (failed) return { error: `npm install ${CERBOS_PACKAGE}@${CERBOS_VERSION} failed: ${failed}` };
  return existsSync(binary) ? { binary } : { error: `npm install did not produce ${binary}` };
}

export interface RunningCerbos {
  url: string;
  pinned: string | null;
  /** Cerbos's own pid (`taskset` execs it), for its CPU time. */
  pid: number | null;
  stop(): Promise<void>;
}

/** Starts `cerbos server` on a disk store in `dir`; resolves once `/_cerbos/health` answers. */
export async function startCerbos(binary: string, dir: string): Promise<RunningCerbos> {
  const policies = join(dir, 'policies');
  await mkdir(policies, { recursive: true });
  await writeFile(join(policies, 'customer.yaml'), CERBOS_POLICY);
  // The HTTP gateway dials the gRPC port it was configured with, so both need real ports.
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const args = [
    'server',
    '--log-level=error',
    `--set=server.httpListenAddr=127.0.0.1:${httpPort}`,
    `--set=server.grpcListenAddr=127.0.0.1:${grpcPort}`,
    '--set=storage.driver=disk',
    `--set=storage.disk.directory=${policies}`,
    '--set=storage.disk.watchForChanges=false',
  ];
  // Pinned from its start, so the Go runtime sizes itself to the one core it has.
  const pin = canPin();
  const child = pin
    ? spawn('taskset', ['-c', String(SERVER_CORE), binary, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: cerbosEnv(),
      })
    : spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cerbosEnv() });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bench: cerbos exited (code ${child.exitCode}): ${stderr}`);
    const ok = await fetch(`${url}/_cerbos/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, pinned: pin ? `taskset -c ${SERVER_CORE}` : null, pid: child.pid ?? null, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bench: cerbos did not become healthy in 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** No telemetry, and no config file of the caller's shell. */
function cerbosEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CERBOS_NO_TELEMETRY: '1' };
  delete env.CERBOS_CONFIG;
  return env;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
