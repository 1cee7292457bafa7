import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { z } from 'zod';
import { EntitiesDocumentSchema, ToolsDocumentSchema } from '@mandate/protocol';
import { MandateError, parseJsonStrict } from '../kernel/index.js';
import { parseCasesYaml } from './yaml-cases.js';
import { type LoadedConfig } from '../config/index.js';
import { crossCheck, runPolicyCases } from '../app/index.js';
import { createCedarEngine, loadPolicyDir } from '../policy/index.js';
import { EXIT, out, printJson, load, common, type CommonOpts } from './shared.js';
import { undeclaredTools, type UndeclaredTool } from './tool-coverage.js';
import { activateDir, registerPolicyDiff, registerPolicyLifecycle } from './policy-lifecycle.js';

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new MandateError(
      'bad_request',
      `cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/** A JSON document checked against its schema; bad input names the file and the first wrong field. */
async function readDocument<T>(path: string, what: string, schema: z.ZodType<T>): Promise<T> {
  const text = await readText(path, what);
  let value: unknown;
  try {
    value = parseJsonStrict(text);
  } catch (err) {
    throw new MandateError('bad_request', `${what} file ${path}: ${(err as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new MandateError(
      'bad_request',
      `${what} file ${path}: ${i?.path.join('.') || '(root)'}: ${i?.message}`,
    );
  }
  return r.data;
}

/** `mandate policy validate|test|diff|activate`. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('validate, test and diff policy sets');
  registerPolicyLifecycle(policy);
  common(
    policy
      .command('validate <dir>')
      .description(
        'validate a policy directory (*.cedar + one *.cedarschema) as a whole; warn about tools its schema leaves out',
      ),
  ).action(async (dir: string, opts: { json?: boolean; config?: string; store?: string }) => {
    const source = await loadPolicyDir(resolve(dir));
    const engine = createCedarEngine();
    const r = engine.validate(source);
    let warnings: UndeclaredTool[] = [];
    if (r.ok) {
      let loaded: LoadedConfig | null = null;
      try {
        loaded = load(opts);
      } catch (err) {
        if (opts.config) throw err;
      }
      if (loaded) {
        const compiled = engine.compile(source);
        try {
          warnings = await undeclaredTools(loaded, new Set(compiled.actions));
        } finally {
          compiled.dispose();
        }
      }
    }
    if (opts.json) printJson(r.ok ? { ...r, warnings } : r);
    else if (r.ok) {
      out(`ok: ${Object.keys(source.policies).length} file(s) valid`);
      // Valid, but a tool the schema leaves out is hidden and every call to it denied (unknown_action).
      for (const w of warnings)
        out(
          `warning: ${w.action} (${w.source}) is not declared in the schema: hidden from MCP clients, every call denied`,
        );
    } else
      for (const p of r.problems)
        out(`${p.file ?? '-'}${p.policyId ? ` [${p.policyId}]` : ''}: ${p.message}`);
    process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
  });
  common(
    policy
      .command('test <dir>')
      .description('run YAML decision cases (<dir>/tests/*.yaml) through the real decision path'),
  )
    .option('--cases <path>', 'a YAML file or folder of cases (default <dir>/tests)')
    .option('--tools <file>', 'tools file (default: the config’s)')
    .option('--entities <file>', 'entities file (default: the config’s)')
    .action(async (dir: string, opts) => {
      const root = resolve(dir);
      const source = await loadPolicyDir(root);
      // An invalid set is a failed test with its problems, as `policy validate` prints them (exit 1).
      const validity = createCedarEngine().validate(source);
      if (!validity.ok) {
        if (opts.json) printJson({ ok: false, problems: validity.problems });
        else {
          out(`the policy set in ${root} is invalid:`);
          for (const p of validity.problems)
            out(`  ${p.file ?? '-'}${p.policyId ? ` [${p.policyId}]` : ''}: ${p.message}`);
        }
        process.exitCode = EXIT.failed;
        return;
      }
      let loaded: LoadedConfig | null = null;
      try {
        loaded = load(opts);
      } catch (err) {
        if (opts.config) throw err;
      }
      const toolsFile = opts.tools ? resolve(opts.tools) : loaded?.config.tools;
      const entitiesFile = opts.entities ? resolve(opts.entities) : loaded?.config.entities;
      const tools = toolsFile ? (await readDocument(toolsFile, 'tools', ToolsDocumentSchema)).tools : [];
      const entities = entitiesFile
        ? await readDocument(entitiesFile, 'entities', EntitiesDocumentSchema)
        : { agents: [], users: [], resources: [] };
      const casesPath = opts.cases ? resolve(opts.cases) : join(root, 'tests');
      const casesStat = await stat(casesPath).catch(() => {
        throw new MandateError('bad_request', `no cases at ${casesPath} (give --cases <file|dir>)`);
      });
      const files = casesStat.isDirectory()
        ? (await readdir(casesPath))
            .filter((f) => /\.ya?ml$/.test(f))
            .sort()
            .map((f) => join(casesPath, f))
        : [casesPath];
      const cases: unknown[] = [];
      for (const f of files) {
        const doc = parseCasesYaml(await readText(f, 'cases'), f) as { cases?: unknown[] } | unknown[];
        const list = Array.isArray(doc) ? doc : doc?.cases;
        if (!Array.isArray(list))
          throw new MandateError('bad_request', `${f}: expected a list of cases or { cases: [...] }`);
        cases.push(...list);
      }
      if (cases.length === 0) throw new MandateError('bad_request', `no cases found in ${casesPath}`);
      // Decided by the engine the config runs (the compiled evaluator by default) and by the other
      // one: a case they answer differently fails (a probe found a policy id cedar-wasm never saw).
      const run = (evaluator: 'compiled' | 'cedar') =>
        runPolicyCases({
          engine: createCedarEngine({ evaluator, memoEntries: 0 }),
          source,
          cases,
          seed: { tools, entities, grants: loaded?.config.grants ?? [] },
          timeZone: loaded?.config.policies.timeZone ?? 'UTC',
          usage: loaded?.config.usage ?? [],
        });
      const configured = loaded?.config.policies.engine ?? 'compiled';
      const other = configured === 'compiled' ? 'cedar' : 'compiled';
      const report = crossCheck(
        { name: configured, report: await run(configured) },
        { name: other, report: await run(other) },
      );
      if (opts.json) printJson(report);
      else {
        for (const r of report.results) {
          out(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}`);
          for (const p of r.problems) out(`        ${p}`);
        }
        out(`${report.passed} passed, ${report.failed} failed`);
      }
      process.exitCode = report.failed === 0 ? EXIT.ok : EXIT.failed;
    });
  common(
    policy
      .command('activate <dir>')
      .description("validate a policy directory and make it the store's active set (every node picks it up)"),
  ).action((dir: string, opts: CommonOpts) =>
    activateDir(dir, opts, (m) => m.policies, {
      changed: 'activated',
      unchanged: 'is already active',
    }),
  );
  registerPolicyDiff(policy);
}
