// Issue 9 §1 and §4 on the real binary: keys lifecycle commands, `check` as a dry run, and bad
// input answered with a message naming what is wrong and the documented exit code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXAMPLE_DIR, EXAMPLE_POLICIES, disposeAll, exampleConfig, tempDir } from '../fixtures/mandate.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';

// Each case runs the binary several times; a loaded machine needs more than the default timeout.
vi.setConfig({ testTimeout: 180_000 });
beforeAll(() => ensureBuilt());
afterAll(disposeAll);

function setup(): { dir: string; config: string; db: string } {
  const dir = tempDir('mandate-cli-input-');
  const raw = exampleConfig();
  const db = join(dir, 'mandate.db');
  raw.store = `sqlite:${db}`;
  raw.keys = { dir: join(dir, 'keys') };
  raw.log = { level: 'warn' };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  raw.policies = { ...raw.policies, dir: EXAMPLE_POLICIES };
  const config = join(dir, 'mandate.config.json');
  writeFileSync(config, JSON.stringify(raw, null, 2));
  return { dir, config, db };
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at |node:internal|ZodError/);

function pendingApprovals(db: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return Number((d.prepare(`SELECT COUNT(*) AS n FROM approvals`).get() as { n: number }).n);
  } finally {
    d.close();
  }
}

describe('mandate check is a dry run unless --request', () => {
  it('creates no pending approval by default; --request creates the one approvers see', async () => {
    const { config, db } = setup();
    const args = [
      'check',
      '-c',
      config,
      '--agent',
      'support-bot',
      '--user',
      'alice',
      '--action',
      'payments.refund',
    ];
    const refund = ['--args', JSON.stringify({ customerId: 'c-42', amount: 900 })];
    const dry = await runCli([...args, ...refund]);
    expect(dry.code, dry.stderr).toBe(3);
    expect(dry.stdout).toContain('would be routed to finance-manager');
    expect(pendingApprovals(db)).toBe(0);
    const real = await runCli([...args, ...refund, '--request', '--json']);
    expect(real.code, real.stderr).toBe(3);
    expect(JSON.parse(real.stdout).approval).toMatchObject({ role: 'finance-manager', status: 'pending' });
    expect(pendingApprovals(db)).toBe(1);
    const misuse = await runCli([...args, ...refund, '--approval', 'apr_x']);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--request');
  });
});

describe('mandate keys', () => {
  it('creates with --expires, lists, rotates and revokes; refuses a subject that does not exist', async () => {
    const { config } = setup();
    const created = await runCli([
      'keys',
      'create',
      '-c',
      config,
      '--role',
      'agent',
      '--subject',
      'support-bot',
      '--expires',
      '30d',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { key, secret } = JSON.parse(created.stdout) as {
      key: { id: string; expiresAt: string };
      secret: string;
    };
    expect(Date.parse(key.expiresAt)).toBeGreaterThan(Date.now() + 29 * 86400e3);

    const listed = await runCli(['keys', 'list', '-c', config]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).toMatch(/key_demo-admin\s+active\s+admin/);
    expect(listed.stdout).not.toContain(secret);

    const rotated = await runCli(['keys', 'rotate', key.id, '-c', config, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const next = (JSON.parse(rotated.stdout) as { key: { id: string } }).key.id;
    const revoked = await runCli(['keys', 'revoke', next, '-c', config]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const all = JSON.parse((await runCli(['keys', 'list', '-c', config, '--all', '--json'])).stdout) as {
      items: { id: string; status: string }[];
    };
    expect(all.items.filter((k) => [key.id, next].includes(k.id)).map((k) => k.status)).toEqual([
      'revoked',
      'revoked',
    ]);
    const again = await runCli(['keys', 'revoke', next, '-c', config]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already revoked');

    const ghost = await runCli(['keys', 'create', '-c', config, '--role', 'agent', '--subject', 'ghost-bot']);
    expect(ghost.code).toBe(2);
    expect(ghost.stderr).toContain('unknown_agent: no agent ghost-bot');
    const badExpiry = await runCli([
      'keys',
      'create',
      '-c',
      config,
      '--role',
      'agent',
      '--subject',
      'support-bot',
      '--expires',
      'tomorrow',
    ]);
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain('--expires tomorrow');
  });
});

describe('bad input to policy test and tools approve', () => {
  it('policy test on an invalid set prints the problems and exits 1', async () => {
    const dir = tempDir('mandate-cli-input-');
    const policies = join(dir, 'bad');
    mkdirSync(join(policies, 'tests'), { recursive: true });
    writeFileSync(join(policies, 'a.cedar'), 'permit (principal, action, resource) when { nope };\n');
    writeFileSync(join(policies, 'schema.cedarschema'), 'entity Agent;\n');
    writeFileSync(
      join(policies, 'tests', 'a.yaml'),
      '- name: x\n  request: {agent: a, action: b.c}\n  expect: {effect: deny}\n',
    );
    const r = await runCli(['policy', 'test', policies]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('is invalid');
    expect(r.stdout).toMatch(/a\.cedar.*:/);
    noStack(r.stderr);
  });

  it('policy test with an unreadable or malformed tools file or missing cases exits 2 naming it', async () => {
    const dir = tempDir('mandate-cli-input-');
    const tools = join(dir, 'tools.json');
    writeFileSync(tools, '{"tools": 5}');
    const bad = await runCli(['policy', 'test', EXAMPLE_POLICIES, '--tools', tools]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`tools file ${tools}: tools:`);
    noStack(bad.stderr);
    const missing = await runCli(['policy', 'test', EXAMPLE_POLICIES, '--tools', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read tools file');
    noStack(missing.stderr);
    const noCases = await runCli(['policy', 'test', EXAMPLE_POLICIES, '--cases', join(dir, 'nope.yaml')]);
    expect(noCases.code).toBe(2);
    expect(noCases.stderr).toContain('no cases at');
    noStack(noCases.stderr);
  });

  it('tools approve takes the server.tool name that tools list prints', async () => {
    const { config, db } = setup();
    const store = createSqliteStore(db);
    await store.migrate();
    const t = new Date().toISOString();
    await store.putToolPin({
      server: 'fintech',
      tool: 'payments.refund',
      hash: 'sha256:abc',
      definition: { name: 'payments.refund' },
      status: 'quarantined',
      firstSeenAt: t,
      updatedAt: t,
      approvedBy: null,
      approvedHash: null,
      approvedDefinition: null,
    });
    await store.close();
    const listed = await runCli(['tools', 'list', '-c', config]);
    expect(listed.stdout).toContain('payments.refund  upstream fintech');
    const r = await runCli(['tools', 'approve', 'fintech.payments.refund', '-c', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('approved payments.refund (upstream fintech)');
    const unknown = await runCli(['tools', 'approve', 'fintech.nope', '-c', config]);
    expect(unknown.code).toBe(2);
    noStack(unknown.stderr);
  });
});

describe('commands that talk to a server', () => {
  it('name a --url that is not a URL or not a Mandate server, exit 2, no stack trace', async () => {
    const notUrl = await runCli(['approvals', 'list', '--url', 'notaurl', '--key', 'k']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--url notaurl is not a URL');
    const html = createServer((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>'),
    );
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', () => r()));
    try {
      const base = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
      const r = await runCli(['approvals', 'list', '--url', base, '--key', 'k']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('is not JSON');
      noStack(r.stderr);
    } finally {
      html.close();
    }
  });
});

describe('mandate serve where it cannot listen', () => {
  it('a port in use: a message naming the address and how to choose another, exit 2, no stack trace', async () => {
    // A probe: Node's EADDRINUSE stack trace, exit 5 ("internal error").
    const { config } = setup();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const r = await runCli(['serve', '--config', config, '--port', port]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `cannot listen on 127.0.0.1:${port}: the address is already in use (another process listens there); choose another with --port, MANDATE_PORT or server.port`,
      );
      noStack(r.stderr);
    } finally {
      taken.close();
    }
  });

  it('an address not of this machine: the message names --host, exit 2', async () => {
    const r = await runCli(['serve', '--config', setup().config, '--host', '192.0.2.1', '--port', '0']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      'cannot listen on 192.0.2.1:0: the address is not one of this machine’s; choose another with --host',
    );
    noStack(r.stderr);
  });
});
