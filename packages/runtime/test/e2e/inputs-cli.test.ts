// Issue 8 §3 through the real binary: `mandate check --args` reads numbers with the same strict
// parser as the HTTP API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_DIR, EXAMPLE_POLICIES, disposeAll, exampleConfig, tempDir } from '../fixtures/mandate.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

let config: string;
beforeAll(() => {
  ensureBuilt();
  const dir = tempDir('mandate-e2e-');
  const raw = exampleConfig();
  raw.store = 'memory';
  raw.keys = { dir: join(dir, 'keys') };
  raw.log = { level: 'warn' };
  raw.tools = join(EXAMPLE_DIR, 'tools.json');
  raw.entities = join(EXAMPLE_DIR, 'entities.json');
  raw.policies = { ...raw.policies, dir: EXAMPLE_POLICIES };
  delete raw.gateway;
  config = join(dir, 'mandate.config.json');
  writeFileSync(config, JSON.stringify(raw, null, 2));
});
afterAll(disposeAll);

const check = (amount: string) =>
  runCli(
    [
      'check',
      '--config',
      config,
      '--agent',
      'support-bot',
      '--user',
      'alice',
      '--action',
      'payments.refund',
      '--args',
      `{"customerId":"c-42","amount":${amount}}`,
      '--json',
    ],
    // The binary compiles the example's policies at start: slow on a loaded machine.
    { timeoutMs: 120_000 },
  );

describe('mandate check --args with an inexact number', () => {
  it('allows 500 (exit 0) and refuses 500.0000000000000001 with invalid_number naming amount (exit 2)', async () => {
    const ok = await check('500');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ effect: 'allow' });
    const bad = await check('500.0000000000000001');
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^mandate: invalid_number: --args: amount: 500\.0000000000000001 /);
  });
});

describe('mandate policy test with an inexact number in a YAML case', () => {
  const caseFile = (amount: string) => {
    const f = join(tempDir('mandate-cases-'), 'case.yaml');
    writeFileSync(
      f,
      [
        'cases:',
        '  - name: a refund of exactly 500 is allowed',
        `    request: { agent: support-bot, onBehalfOf: alice, action: payments.refund, args: { customerId: c-42, amount: ${amount} } }`,
        '    expect: { effect: allow }',
        '',
      ].join('\n'),
    );
    return f;
  };
  const run = (amount: string) =>
    runCli(['policy', 'test', EXAMPLE_POLICIES, '--config', config, '--cases', caseFile(amount)], {
      timeoutMs: 120_000,
    });

  it('runs the case with 500 (exit 0) and refuses 500.0000000000000001 naming file and line (exit 2), never rounding it', async () => {
    const ok = await run('500');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok\s+a refund of exactly 500 is allowed$/m);
    const bad = await run('500.0000000000000001');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^mandate: invalid_number: .*case\.yaml:3:\d+: 500\.0000000000000001 has no exact double value/,
    );
    expect(bad.stdout).not.toMatch(/^ok/m);
  });
});
