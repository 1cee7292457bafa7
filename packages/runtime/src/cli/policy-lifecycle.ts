import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { isoTime } from './audit.js';
import { createCedarEngine, loadPolicyDir, type PolicyProblem } from '../policy/index.js';
import { DIFF_DEFAULT_REQUESTS, DIFF_MAX_REQUESTS, semanticDiff } from '../policy/semantic-diff.js';
import { shadowReport } from '../decisions/shadow-report.js';
import { describeGroup } from '../decisions/flips.js';
import { FAIL_ON, describeReplay, replayDecisions, replayFails, type FailOn } from '../decisions/replay.js';
import { EXIT, leftOut, out, printJson, common, withMandate, type CommonOpts } from './shared.js';
import type { Mandate } from '../app/index.js';
import type { ShadowSet } from '../policy/shadow-set.js';

const printProblems = (problems: PolicyProblem[]) => {
  for (const p of problems) out(`${p.file ?? '-'}${p.policyId ? ` [${p.policyId}]` : ''}: ${p.message}`);
};

/**
 * Validates a policy directory and hands it to `target` (the active set, the shadow set): prints
 * the problems (exit 1) or what happened.
 */
export async function activateDir(
  dir: string,
  opts: CommonOpts,
  target: (m: Mandate) => { activate: ShadowSet['activate'] },
  say: { changed: string; unchanged: string },
): Promise<void> {
  const root = resolve(dir);
  const source = await loadPolicyDir(root);
  const r = await withMandate(opts, async (m) => {
    const checked = m.engine.validate(source);
    if (!checked.ok) return checked;
    return { ok: true as const, ...(await target(m).activate(source, `cli:dir:${root}`)) };
  });
  if (opts.json) printJson(r);
  else if (!r.ok) printProblems(r.problems);
  else out(phrase(r.changed ? say.changed : say.unchanged, r.version));
  process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
}

/** `activated` → `activated sha256:…`; `is already active` → `sha256:… is already active`. */
function phrase(words: string, version: string): string {
  return words.startsWith('is ') ? `${version} ${words}` : `${words} ${version}`;
}

/** `mandate policy shadow …` and `mandate policy replay`: changing policies safely (issue 14 §1). */
export function registerPolicyLifecycle(policy: Command): void {
  const shadow = policy
    .command('shadow')
    .description('a candidate set evaluated beside the active one on live traffic (never enforced)');
  common(
    shadow
      .command('activate <dir>')
      .description('validate a policy directory and make it the shadow set (every node picks it up)'),
  ).action((dir: string, opts: CommonOpts) =>
    activateDir(dir, opts, (m) => m.shadow.set, {
      changed: 'is now the shadow set',
      unchanged: 'is already the shadow set',
    }),
  );
  common(shadow.command('clear').description('stop evaluating live decisions against the shadow set')).action(
    async (opts) => {
      const r = await withMandate(opts, (m) => m.shadow.set.clear('cli'));
      if (opts.json) printJson(r);
      else out(r.cleared ? `cleared shadow set ${r.version}` : 'no shadow set was set');
    },
  );
  common(
    shadow
      .command('report')
      .description('which live calls the shadow set would decide otherwise, by action and policy'),
  )
    .option('--since <time>', 'only divergences recorded at or after this time', isoTime('since'))
    .option('--all', 'every shadow set on the record, not only the current one')
    .action(
      async (opts: { since?: string; all?: boolean; json?: boolean; config?: string; store?: string }) => {
        const since = opts.since;
        const r = await withMandate(opts, async (m) => {
          const ref = await m.shadow.set.stored();
          const version = opts.all ? null : (ref?.version ?? null);
          return shadowReport(m.store, {
            shadowVersion: version,
            ...(since ? { since } : {}),
            tampered: leftOut('the report'),
          });
        });
        if (opts.json) printJson(r);
        else {
          out(
            `${r.divergences} divergence(s)${r.shadowVersion ? ` of shadow set ${r.shadowVersion}` : ''}` +
              `${r.since ? ` since ${r.since}` : ''}${r.truncated ? ' (stopped early: narrow --since)' : ''}`,
          );
          for (const g of r.groups) out(`  ${describeGroup(g)}`);
        }
      },
    );

  common(
    policy
      .command('replay <dir>')
      .description(
        'decide the recorded decisions of a time window again against a candidate set and say what would change',
      ),
  )
    .requiredOption('--from <time>', 'first decision time (ISO 8601)', isoTime('from'))
    .option('--to <time>', 'last decision time (ISO 8601; default now)', isoTime('to'))
    .option(
      '--fail-on <change>',
      `exit 1 when a decision would change this way: ${FAIL_ON.join(' | ')}`,
      (v: string): FailOn => {
        if (!(FAIL_ON as readonly string[]).includes(v))
          throw new InvalidArgumentError(`use one of ${FAIL_ON.join(', ')}`);
        return v as FailOn;
      },
    )
    .action(
      async (
        dir: string,
        opts: { from: string; to?: string; failOn?: FailOn; json?: boolean; config?: string; store?: string },
      ) => {
        const from = opts.from;
        const to = opts.to ?? new Date().toISOString();
        const source = await loadPolicyDir(resolve(dir));
        const r = await withMandate(opts, async (m) => {
          const checked = m.engine.validate(source);
          if (!checked.ok) return checked;
          const candidate = m.engine.compile(source);
          try {
            const tampered = leftOut('the replay');
            return {
              ok: true as const,
              ...(await replayDecisions(m.store, candidate, { from, to, tampered })),
            };
          } finally {
            candidate.dispose();
          }
        });
        if (!r.ok) {
          if (opts.json) printJson(r);
          else printProblems(r.problems);
          process.exitCode = EXIT.failed;
          return;
        }
        const failed = replayFails(r, opts.failOn);
        if (opts.json) printJson({ ...r, failOn: opts.failOn ?? null, failed });
        else {
          for (const line of describeReplay(r)) out(line);
          for (const g of r.groups) out(`  ${describeGroup(g)}`);
          if (failed) out(`FAIL: decisions would change ${opts.failOn}`);
        }
        process.exitCode = failed ? EXIT.failed : (process.exitCode ?? EXIT.ok);
      },
    );
}

/** `mandate policy diff <a> <b>`: the policies changed, and which requests the two sets decide otherwise. */
export function registerPolicyDiff(policy: Command): void {
  policy
    .command('diff <from> <to>')
    .description(
      'compare two policy directories: policies added, removed and changed, and per action which requests one set allows and the other denies (bounded search)',
    )
    .option(
      '--requests <n>',
      `requests searched per action (default ${DIFF_DEFAULT_REQUESTS})`,
      (v: string) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > DIFF_MAX_REQUESTS)
          throw new InvalidArgumentError(`a whole number from 1 to ${DIFF_MAX_REQUESTS}`);
        return n;
      },
    )
    .option('--json', 'print JSON')
    .action(async (from: string, to: string, opts: { json?: boolean; requests?: number }) => {
      const engine = createCedarEngine();
      const [sa, sb] = [await loadPolicyDir(resolve(from)), await loadPolicyDir(resolve(to))];
      const [a, b] = [engine.compile(sa), engine.compile(sb)];
      const ma = new Map(a.policies.map((p) => [p.id, p.text]));
      const mb = new Map(b.policies.map((p) => [p.id, p.text]));
      const semantic = await semanticDiff(
        { set: a, source: sa },
        { set: b, source: sb },
        opts.requests ? { requestsPerAction: opts.requests } : {},
      );
      const diff = {
        from: a.version,
        to: b.version,
        added: [...mb.keys()].filter((k) => !ma.has(k)),
        removed: [...ma.keys()].filter((k) => !mb.has(k)),
        changed: [...mb.keys()].filter((k) => ma.has(k) && ma.get(k) !== mb.get(k)),
        bounded: semantic.bounded,
        actions: semantic.actions,
        differences: semantic.differences,
      };
      if (opts.json) printJson(diff);
      else {
        out(`${diff.from} -> ${diff.to}`);
        for (const k of diff.added) out(`+ ${k}`);
        for (const k of diff.removed) out(`- ${k}`);
        for (const k of diff.changed) out(`~ ${k}`);
        for (const a of diff.actions) {
          out(`${a.action}: ${a.searched} requests searched, ${a.differences} decided otherwise`);
          for (const d of diff.differences.filter((x) => x.action === a.action)) {
            const side = (s: { effect: string; policies: string[] }) =>
              `${s.effect} (${s.policies.join(', ') || 'no policy'})`;
            out(`  ${d.principalType}: ${side(d.a)} -> ${side(d.b)} x${d.count}`);
            out(`    e.g. ${JSON.stringify(d.example)}`);
          }
        }
        out(
          'bounded search over requests built from the schema and the constants of both sets: it finds differences, it does not prove there are no others',
        );
      }
      process.exitCode = diff.differences.length === 0 ? EXIT.ok : EXIT.failed;
    });
}
