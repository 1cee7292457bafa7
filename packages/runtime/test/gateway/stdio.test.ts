import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI_MAIN, REPO_ROOT } from '../fixtures/mandate.js';
import { cliEnv, ensureBuilt, runCli } from '../fixtures/cli.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { BOT_ENTITIES, eventually, fixtureConfig, livePids, readLog, toolServerUpstream } from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool };
action "tools.refund" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { customerId: String, amount: Long } } };
`;
const POLICIES = `
@id("echo") permit (principal is Agent, action == Action::"tools.echo", resource);
@id("refund-small") permit (principal is Agent, action == Action::"tools.refund", resource) when { context.args.amount <= 500 };
`;

interface Gateway {
  child: ChildProcessWithoutNullStreams;
  dir: string;
  callLog: string;
  pidLog: string;
  initLog: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(message: unknown): void;
  sendRaw(line: string): void;
  /** The next message from the gateway with this id (null for parse errors). */
  answer(id: number | null): Promise<Record<string, unknown>>;
  stderr(): string;
}

const running: Gateway[] = [];

/** Spawns the real `mandate gateway --stdio` on a SQLite store, with the tool-server fixture as upstream. */
function startGateway(): Gateway {
  const { config, dir } = fixtureConfig(
    {
      policies: POLICIES,
      schema: SCHEMA,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [] },
    },
    'sqlite:mandate.db',
  );
  const callLog = join(dir, 'calls.jsonl');
  const pidLog = join(dir, 'pids.txt');
  const initLog = join(dir, 'init.jsonl');
  const file = join(dir, 'mandate.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      ...config,
      keys: { dir: join(dir, 'keys') },
      // Only the shutdown checkpoint can cover the head in these tests.
      audit: { checkpointEvery: 100_000, checkpointIntervalMs: 3_600_000 },
      gateway: {
        upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog, PID_LOG: pidLog, INIT_LOG: initLog })],
      },
    }),
  );
  const child = spawn(
    process.execPath,
    ['--no-turbo-inlining', CLI_MAIN, 'gateway', '--stdio', '--config', file, '--key', 'secret-bot-key'],
    { cwd: REPO_ROOT, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const inbox: Record<string, unknown>[] = [];
  const waiters: { id: number | null; resolve: (m: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as Record<string, unknown>;
    const w = waiters.findIndex((x) => x.id === m.id);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  const gw: Gateway = {
    child,
    dir,
    callLog,
    pidLog,
    initLog,
    exited,
    send: (message) => child.stdin.write(JSON.stringify(message) + '\n'),
    sendRaw: (line) => child.stdin.write(line + '\n'),
    answer(id) {
      const i = inbox.findIndex((m) => m.id === id);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        waiters.push({ id, resolve });
        setTimeout(() => reject(new Error(`no answer to ${id}; stderr: ${err}`)), 30_000).unref();
      });
    },
    stderr: () => err,
  };
  running.push(gw);
  return gw;
}

async function initialize(gw: Gateway, capabilities: Record<string, unknown>): Promise<void> {
  gw.send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities, clientInfo: { name: 'stdio-test', version: '1' } },
  });
  const init = await gw.answer(1);
  expect(init.result).toBeDefined();
  gw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
}

/** Closes the gateway's stdin: it must exit 0 within 20 s, its upstream processes ended with it. */
async function expectExitOnEndOfInput(gw: Gateway): Promise<void> {
  gw.child.stdin.end();
  const exit = await Promise.race([
    gw.exited,
    new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000)),
  ]);
  expect(exit, gw.stderr()).toEqual({ code: 0, signal: null });
  expect(
    await eventually(
      () => livePids(gw.pidLog),
      (p) => p.length === 0,
    ),
  ).toEqual([]);
}

describe('mandate gateway --stdio (the real CLI)', () => {
  beforeAll(() => ensureBuilt(), 120_000);
  afterEach(() => {
    for (const gw of running.splice(0)) gw.child.kill('SIGKILL');
  });

  it('exits when its client closes stdin, and its upstream processes end with it', async () => {
    const gw = startGateway();
    await initialize(gw, {});
    gw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const list = (await gw.answer(2)).result as { tools: { name: string }[] };
    expect(list.tools.map((t) => t.name)).toContain('tools.echo');
    expect(livePids(gw.pidLog).length).toBeGreaterThan(0);

    await expectExitOnEndOfInput(gw);
  }, 60_000);

  it('exits when its client closes stdin while its upstreams are still opening', async () => {
    // A probe: stdin closed before the upstream session was open; the gateway then waited for
    // ever, and ignored SIGINT and SIGTERM.
    const gw = startGateway();
    gw.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    await expectExitOnEndOfInput(gw);
  }, 60_000);

  it('on SIGTERM stops its upstreams and checkpoints the audit head before it exits', async () => {
    const gw = startGateway();
    await initialize(gw, {});
    gw.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'tools.echo', arguments: { text: 'before shutdown' } },
    });
    const r = (await gw.answer(2)).result as { isError?: boolean };
    expect(r.isError).toBeFalsy();

    gw.child.kill('SIGTERM');
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    expect(
      await eventually(
        () => livePids(gw.pidLog),
        (p) => p.length === 0,
      ),
    ).toEqual([]);
    const store = createSqliteStore(join(gw.dir, 'mandate.db'), { logger: silentLogger });
    try {
      const head = await store.auditHead();
      const checkpoints = await store.listCheckpoints();
      expect(head.seq).toBeGreaterThan(0);
      expect(checkpoints.at(-1)).toMatchObject({ seq: head.seq, hash: head.hash });
    } finally {
      await store.close();
    }
  }, 60_000);

  it('declares to upstreams only the capabilities its client declared', async () => {
    const bare = startGateway();
    await initialize(bare, {});
    const roots = startGateway();
    await initialize(roots, { roots: { listChanged: true } });
    // The upstream's record of its client (the gateway) is written once it is initialised.
    const seen = (gw: Gateway) =>
      eventually(
        () => readLog(gw.initLog),
        (l) => l.length > 0,
      );
    for (const entry of await seen(bare)) expect(entry.capabilities).toEqual({});
    const withRoots = await seen(roots);
    expect(withRoots.at(-1)!.capabilities).toEqual({ roots: { listChanged: true } });
  }, 60_000);

  it('parses client messages strictly: a duplicate key or an inexact number is refused, nothing runs', async () => {
    const gw = startGateway();
    await initialize(gw, {});
    gw.sendRaw(
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tools.echo","arguments":{"text":"a","text":"b"}}}',
    );
    const dup = await gw.answer(null);
    expect(dup.error).toMatchObject({ code: -32700 });
    expect(String((dup.error as { message: string }).message)).toContain('duplicate_key');
    gw.sendRaw(
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"tools.refund","arguments":{"customerId":"c-1","amount":500.0000000000000001}}}',
    );
    const inexact = await gw.answer(null);
    expect(inexact.error).toMatchObject({ code: -32700 });
    expect(String((inexact.error as { message: string }).message)).toContain('invalid_number');
    // A member JSON-RPC does not have: answered Invalid Request (it was dropped unanswered).
    gw.sendRaw(
      '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"tools.echo","arguments":{"text":"a"}},"extra":1}',
    );
    const extra = await gw.answer(null);
    expect(extra.error).toMatchObject({ code: -32600 });
    // The process stays healthy, and a well-formed call is decided and runs.
    gw.send({
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'tools.refund', arguments: { customerId: 'c-1', amount: 500 } },
    });
    const ok = (await gw.answer(5)).result as { isError?: boolean };
    expect(ok.isError).toBeFalsy();
    const calls = readLog(gw.callLog);
    expect(calls.map((c) => c.args)).toEqual([{ customerId: 'c-1', amount: 500 }]);
  }, 60_000);

  it('a key revoked while the gateway runs decides nothing more: it is checked again after a pause', async () => {
    // It was checked once, at start: a probe's revoked key kept deciding and running calls.
    const gw = startGateway();
    await initialize(gw, {});
    const refund = (id: number) =>
      gw.send({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: 'tools.refund', arguments: { customerId: 'c-1', amount: 100 + id } },
      });
    refund(5);
    expect(((await gw.answer(5)).result as { isError?: boolean }).isError).toBeFalsy();
    const revoked = await runCli([
      'keys',
      'revoke',
      'key_bot',
      '--config',
      join(gw.dir, 'mandate.config.json'),
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    refund(6);
    const after = (await gw.answer(6)).result as { isError?: boolean; content: unknown };
    expect(after.isError).toBe(true);
    expect(JSON.stringify(after.content)).toMatch(/could not decide this call.*(revoked|unauthenticated)/i);
    expect(readLog(gw.callLog).map((c) => c.args)).toEqual([{ customerId: 'c-1', amount: 105 }]);
  }, 60_000);

  it('refuses a request whose id is already in flight; the first is answered, the second never runs', async () => {
    const gw = startGateway();
    await initialize(gw, {});
    const refund = (amount: number) => ({
      jsonrpc: '2.0',
      id: 6,
      method: 'tools/call',
      params: { name: 'tools.refund', arguments: { customerId: 'c-1', amount } },
    });
    // One write: the second line is read while the first is still being decided.
    gw.sendRaw(`${JSON.stringify(refund(100))}\n${JSON.stringify(refund(200))}`);
    const dup = await gw.answer(null);
    expect(dup.error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/request id 6 is already in use/),
    });
    expect(((await gw.answer(6)).result as { isError?: boolean }).isError).toBeFalsy();
    // Answered, the id is free again.
    gw.send(refund(300));
    expect(((await gw.answer(6)).result as { isError?: boolean }).isError).toBeFalsy();
    expect(readLog(gw.callLog).map((c) => c.args)).toEqual([
      { customerId: 'c-1', amount: 100 },
      { customerId: 'c-1', amount: 300 },
    ]);
  }, 60_000);
});
