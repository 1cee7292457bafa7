import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, disposeAll, startMandate } from './fixtures.js';

const run = promisify(execFile);
const SDK_DIR = join(REPO_ROOT, 'packages', 'sdk');
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const dirs: string[] = [];
afterAll(async () => {
  await disposeAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * Issue #10 "Done when": `npm pack` of the SDK gives a package that a separate project installs
 * offline, imports with types (tsc, strict, no skipLibCheck) and runs on Node 20 — and whose
 * installed tree holds nothing it does not use (no dependencies at all: the frameworks and the
 * runtime are optional peers).
 */
describe('the packed @mandate/sdk in a separate project', () => {
  it('installs offline, typechecks, runs, and brings no dependency', { timeout: 180_000 }, async () => {
    // This machine (and CI) runs Node 20, the lowest the SDK supports (`engines: >=20.19`).
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
    const out = mkdtempSync(join(tmpdir(), 'mandate-pack-'));
    dirs.push(out);
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: SDK_DIR });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = packed!.files.map((f) => f.path).sort();
    // Exactly what a user imports: the built JS and its declarations, the manifest, the readme.
    for (const f of files) expect(f).toMatch(/^(package\.json|README\.md|dist\/.+\.(js|d\.ts))$/);
    const manifest = JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
      dependencies?: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional: boolean }>;
    };
    for (const target of Object.values(manifest.exports)) {
      for (const p of typeof target === 'string' ? [target] : [target.types, target.default]) {
        expect(files).toContain(p.replace(/^\.\//, ''));
      }
    }
    expect(manifest.dependencies ?? {}).toEqual({});
    for (const meta of Object.values(manifest.peerDependenciesMeta)) expect(meta.optional).toBe(true);

    const project = mkdtempSync(join(tmpdir(), 'mandate-consumer-'));
    dirs.push(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: { '@mandate/sdk': `file:${join(out, packed!.filename)}` },
      }),
    );
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: project,
    });
    // Nothing but the SDK itself was installed.
    expect(readdirSync(join(project, 'node_modules')).filter((d) => !d.startsWith('.'))).toEqual([
      '@mandate',
    ]);
    expect(readdirSync(join(project, 'node_modules', '@mandate'))).toEqual(['sdk']);
    const installed = (await run('npm', ['ls', '--all', '--parseable'], { cwd: project })).stdout
      .split('\n')
      .filter(Boolean)
      .map((p) => p.slice(project.length));
    expect(installed).toEqual(['', '/node_modules/@mandate/sdk']);

    // Types: a strict project (no skipLibCheck) that uses them, and a misuse that must not compile.
    writeFileSync(
      join(project, 'main.ts'),
      `import { createClient, guardTool, MandateApiError, type Decision, type GuardResult } from '@mandate/sdk';
import { createToolRunner, type ToolResultMessage } from '@mandate/sdk/openai';

const client = createClient({ url: process.argv[2]!, apiKey: 'demo-support-bot' });
const refund = guardTool(async (args: { customerId: string; amount: number }) => \`refunded \${args.amount}\`, {
  client, agent: 'support-bot', onBehalfOf: 'alice', action: 'payments.refund', outcome: 'await',
});
const allowed: GuardResult<string> = await refund({ customerId: 'c-42', amount: 120 });
const denied = await refund({ customerId: 'c-77', amount: 120 });
const decision: Decision = await client.decide({ agent: 'support-bot', onBehalfOf: 'alice', action: 'crm.read_customer', args: { customerId: 'c-42' } });
// @ts-expect-error an effect is allow, deny or approval_required
const wrong: Decision['effect'] = 'maybe';
const runner = createToolRunner({}, { client, agent: 'support-bot' });
const none: ToolResultMessage[] = await runner.run([]);
let embeddedError = '';
try {
  await createClient({ apiKey: 'k', embedded: { configFile: 'missing.json' } }).decide({ agent: 'a', action: 'a.b' });
} catch (err) {
  embeddedError = err instanceof MandateApiError ? err.code + ': ' + err.message : String(err);
}
const adapters = await Promise.all(['ai', 'openai-agents', 'mcp'].map((p) => import('@mandate/sdk/' + p).then((m) => Object.keys(m))));
await client.close();
console.log(JSON.stringify({ allowed: allowed.status, denied: denied.status, read: decision.effect, wrong, none, embeddedError, adapters }));
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          outDir: 'out',
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
        },
        files: ['main.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', project], { cwd: project });

    // Run it on this Node 20 against a real Mandate.
    const { url } = await startMandate();
    const ran = await run(process.execPath, [join(project, 'out', 'main.js'), url], { cwd: project });
    expect(JSON.parse(ran.stdout)).toEqual({
      allowed: 'ok',
      denied: 'denied',
      read: 'allow',
      wrong: 'maybe',
      none: [],
      embeddedError: 'internal: embedded mode needs @mandate/runtime: npm install @mandate/runtime',
      adapters: [['guardAiTool', 'guardAiTools'], ['guardAgent', 'guardAgentTools'], ['guardMcpClient']],
    });
  });
});
