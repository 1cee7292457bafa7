/**
 * In-process rows: the full decision path (`m.decisions.decide`, durable SQLite audit) and the
 * policy engine alone (`compiled.evaluate`), against two baselines over the same policy set:
 * raw cedar-wasm (the whole set passed as text on every call) and the preparsed whole set
 * (`evaluateUnsliced`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionRequest } from '@mandate/protocol';
import { ConfigSchema, type LoadedConfig } from '../config/index.js';
import { createMandate, type Mandate } from '../app/index.js';
import { silentLogger } from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';
import { createCedarEngine, type CompiledPolicySet, type PolicyRequest } from '../policy/index.js';
import * as cedarWasm from '../policy/cedar/wasm.js';
import { loopAsync, loopSync, type Sample } from './measure.js';
import {
  BENCH_AGENT,
  BENCH_ARGS,
  BENCH_CUSTOMER,
  BENCH_USER,
  HOT_ACTION,
  generateWorkload,
  type Workload,
} from './workload.js';

/** Writes the workload as a policy directory, tools and entities files, and opens a Mandate on a SQLite file in `dir`. */
export async function createWorkloadMandate(
  workload: Workload,
  dir: string,
  engine: 'cedar' | 'compiled' = 'cedar',
): Promise<Mandate> {
  const policyDir = join(dir, 'policies');
  await mkdir(policyDir, { recursive: true });
  for (const [name, text] of Object.entries(workload.policies)) await writeFile(join(policyDir, name), text);
  await writeFile(join(policyDir, 'schema.cedarschema'), workload.schema);
  await writeFile(join(dir, 'tools.json'), JSON.stringify({ tools: workload.tools }));
  await writeFile(join(dir, 'entities.json'), JSON.stringify(workload.entities));
  const config = ConfigSchema.parse({
    nodeId: 'bench-inprocess',
    store: `sqlite:${join(dir, 'mandate.db')}`,
    // The bench repeats one request: the memo is off so every row measures Cedar evaluating it.
    // The engine is named: the engine rows below read this set as the cedar-wasm path, whatever
    // the default is (compiled since ADR 0012's addendum).
    policies: { dir: policyDir, timeZone: 'UTC', memoEntries: 0, engine },
    tools: join(dir, 'tools.json'),
    entities: join(dir, 'entities.json'),
    keys: { dir: join(dir, 'keys') },
    grants: workload.grants,
    log: { level: 'silent' },
  });
  const loaded: LoadedConfig = { config, file: null, baseDir: dir, nodeId: 'bench-inprocess' };
  return createMandate(loaded, { logger: silentLogger });
}

/** The bench decision: the bench agent, acting for the bench user, on the hot action. */
export function benchDecisionRequest(): DecisionRequest {
  return {
    agent: BENCH_AGENT,
    onBehalfOf: BENCH_USER,
    action: HOT_ACTION,
    args: { ...BENCH_ARGS },
    intent: 'customer asked for a refund',
  };
}

export const BENCH_CALLER: Caller = { role: 'agent', subject: BENCH_AGENT, keyId: 'key_bench' };

/**
 * The policy request `decide` builds for the agent principal of the bench decision (entities from
 * the workload, a fixed `context.time`), so the engine rows evaluate what the decision path evaluates.
 */
export function benchPolicyRequest(workload: Workload): PolicyRequest {
  const agent = workload.entities.agents.find((a) => a.id === BENCH_AGENT)!;
  const user = workload.entities.users.find((u) => u.id === BENCH_USER)!;
  const customer = workload.entities.resources.find((r) => r.id === BENCH_CUSTOMER)!;
  return {
    principal: { type: 'Agent', id: agent.id },
    action: HOT_ACTION,
    resource: { type: 'Customer', id: customer.id },
    context: {
      args: { ...BENCH_ARGS },
      time: { hour: 10, minute: 30, weekday: 'tue', date: '2025-06-03', epochSeconds: 1748946600 },
      intent: 'customer asked for a refund',
      onBehalfOf: { __entity: { type: 'User', id: user.id } },
      grant: { id: 'grant_bench', ageSeconds: 60, expiresInSeconds: 86400 },
    },
    entities: [
      {
        uid: { type: 'Agent', id: agent.id },
        attrs: { ...agent.attributes, roles: agent.roles, status: agent.status, owner: agent.owner },
        parents: [],
      },
      {
        uid: { type: 'User', id: user.id },
        attrs: { ...user.attributes, roles: user.roles, status: user.status },
        parents: [],
      },
      {
        uid: { type: 'Customer', id: customer.id },
        attrs: { ...customer.attributes, tags: customer.tags },
        parents: [],
      },
    ],
  };
}

/** How the raw baseline calls cedar-wasm. */
export type RawMode = 'isAuthorized' | 'preparse+statefulIsAuthorized';

/**
 * The raw cedar-wasm baseline: the whole policy set handed to Cedar as text on every call, so
 * Cedar parses every policy on every call (what an integration without a preparsed, sliced set pays).
 *
 * `isAuthorized` is used when the owning module (`policy/cedar/wasm.ts`) exports it; until then the
 * same work is done through the calls it does export: `preparsePolicySet` of the whole text
 * (overwriting one id, so nothing accumulates) then `statefulIsAuthorized`. Measured once on this
 * machine, that pair costs within ~10% of `isAuthorized` (it also stores the parsed set).
 */
export function createRawEvaluator(
  compiled: CompiledPolicySet,
  request: PolicyRequest,
): { mode: RawMode; evaluate: () => string } {
  const text = compiled.policies.map((p) => p.text).join('\n');
  const call = {
    principal: request.principal,
    action: { type: 'Action', id: request.action },
    resource: request.resource,
    context: request.context,
    // Plain JSON entities are already Cedar's entity JSON (no decimals in the bench request).
    entities: [...request.entities, { uid: { type: 'Action', id: request.action }, attrs: {}, parents: [] }],
  };
  const isAuthorized = (cedarWasm as unknown as Record<string, unknown>)['isAuthorized'] as
    ((c: unknown) => { type: string; response?: { decision: string } }) | undefined;
  const decisionOf = (a: { type: string; response?: { decision: string } }) =>
    a.type === 'success' ? a.response!.decision : 'failure';
  if (typeof isAuthorized === 'function') {
    return {
      mode: 'isAuthorized',
      evaluate: () => decisionOf(isAuthorized({ ...call, policies: { staticPolicies: text } })),
    };
  }
  const id = `mandate-bench-raw:${process.pid}`;
  return {
    mode: 'preparse+statefulIsAuthorized',
    evaluate: () => {
      const parsed = cedarWasm.preparsePolicySet(id, { staticPolicies: text });
      if (parsed.type === 'failure') return 'failure';
      return decisionOf(
        cedarWasm.statefulIsAuthorized({
          ...(call as Parameters<typeof cedarWasm.statefulIsAuthorized>[0]),
          preparsedPolicySetId: id,
        }),
      );
    },
  };
}

export interface InProcessOptions {
  /** Measured time per row. */
  seconds: number;
  /** The raw baseline is slow at 1,000 policies: it gets this share of `seconds` and at least `rawMinOps` calls. */
  rawMinOps: number;
  /** Concurrency of the second decide row (group commit shares one fsync among the decisions in flight). */
  decideConcurrency: number;
  progress: (line: string) => void;
  /** Temporary directory for this policy count's SQLite file and keys. */
  dir: string;
  /** When set, run the crash-survival loop (this many evaluations) on the compiled set before closing. */
  survivalEvaluations?: number;
}

export interface InProcessRow {
  /** Stable key: raw | unsliced | evaluate | compiled | decide-c1 | decide-cN | decide-compiled-c1 | decide-compiled-cN. */
  key: string;
  label: string;
  baseline: boolean;
  sample: Sample;
  /** The answer the row produced (sanity: every row decides the same request the same way). */
  effect: string;
  /** Decide rows: audit events and store transactions (fsyncs) during the row, warm-up included. */
  commits?: { events: number; transactions: number };
}

export interface InProcessResult {
  policies: number;
  /** Policies in the slice `evaluate` hands to Cedar for the bench request (agent principal). */
  sliceSize: number;
  rawMode: RawMode;
  shape: Workload['shape'];
  rows: InProcessRow[];
  /** Decision audit events committed during the decide rows vs decisions returned (must be equal). */
  audit: { decisions: number; events: number };
  /** Cedar evaluations this process ran for these rows (engine rows + 2 per decision). */
  evaluations: number;
  compiledMs: number;
  /** The audit log's counters at the end (seed events included): events per transaction = per fsync. */
  groupCommit: { appended: number; batches: number };
  survival?: { evaluations: number; seconds: number; allow: number };
}

/** Builds a Mandate on a generated set of `policyCount` policies and measures every in-process row. */
export async function runInProcess(policyCount: number, o: InProcessOptions): Promise<InProcessResult> {
  const workload = generateWorkload(policyCount);
  o.progress(`in-process ${policyCount} policies: generating + compiling (strict validation)…`);
  const t0 = performance.now();
  const m = await createWorkloadMandate(workload, o.dir);
  const compiledMs = performance.now() - t0;
  try {
    const compiled = m.policies.active();
    if (!compiled) throw new Error('bench: no active policy set');
    const preq = benchPolicyRequest(workload);
    const ms = o.seconds * 1000;
    const rows: InProcessRow[] = [];
    let evaluations = 0;

    const sliced = compiled.evaluate(preq);
    const unsliced = compiled.evaluateUnsliced(preq);
    if (sliced.effect !== 'allow' || unsliced.effect !== 'allow') {
      throw new Error(
        `bench: the bench request must be an allow (evaluate: ${sliced.effect}, unsliced: ${unsliced.effect})`,
      );
    }

    const raw = createRawEvaluator(compiled, preq);
    o.progress(`in-process ${policyCount}: raw cedar-wasm (${raw.mode}, whole set as text per call)…`);
    const rawEffect = raw.evaluate();
    const rawSample = loopSync(raw.evaluate, {
      durationMs: Math.max(250, ms * (policyCount >= 500 ? 0.6 : 1)),
      minOps: o.rawMinOps,
      warmupOps: 2,
    });
    evaluations += rawSample.ops + 3;
    rows.push({
      key: 'raw',
      label: `raw cedar-wasm ${raw.mode === 'isAuthorized' ? 'isAuthorized' : 'parse+authorize'} (text per call)`,
      baseline: true,
      sample: rawSample,
      effect: rawEffect,
    });

    o.progress(`in-process ${policyCount}: evaluateUnsliced (preparsed whole set)…`);
    const unslicedSample = loopSync(() => compiled.evaluateUnsliced(preq), {
      durationMs: ms,
      minOps: 20,
      warmupOps: 20,
    });
    evaluations += unslicedSample.ops + 21;
    rows.push({
      key: 'unsliced',
      label: 'evaluateUnsliced (preparsed whole set)',
      baseline: true,
      sample: unslicedSample,
      effect: unsliced.effect,
    });

    o.progress(`in-process ${policyCount}: evaluate (sliced)…`);
    const slicedSample = loopSync(() => compiled.evaluate(preq), {
      durationMs: ms,
      minOps: 100,
      warmupOps: 200,
    });
    evaluations += slicedSample.ops + 201;
    rows.push({
      key: 'evaluate',
      label: `evaluate (sliced: ${sliced.sliceSize} of ${compiled.policies.length})`,
      baseline: false,
      sample: slicedSample,
      effect: sliced.effect,
    });

    // The compiled evaluator (ADR 0012) over the same set and request: same slice, no wasm call.
    let fellBack = 0;
    const fast = createCedarEngine({
      memoEntries: 0,
      evaluator: 'compiled',
      onFallback: () => fellBack++,
    }).compile({ policies: workload.policies, schema: workload.schema });
    try {
      const fastFirst = fast.evaluate(preq);
      if (fellBack > 0 || fastFirst.effect !== sliced.effect) {
        throw new Error(
          `bench: the compiled evaluator must answer the bench request itself, as Cedar does (${fastFirst.effect}, ${fellBack} fallbacks)`,
        );
      }
      o.progress(`in-process ${policyCount}: evaluate (compiled evaluator)…`);
      const fastSample = loopSync(() => fast.evaluate(preq), {
        durationMs: ms,
        minOps: 1000,
        warmupOps: 2000,
      });
      evaluations += fastSample.ops + 2001;
      rows.push({
        key: 'compiled',
        label: `evaluate, compiled evaluator (same slice, ${fellBack} handed to cedar-wasm)`,
        baseline: false,
        sample: fastSample,
        effect: fastFirst.effect,
      });
    } finally {
      fast.dispose();
    }

    const cedarRows = await measureDecide(m, { ...o, policyCount, ms, key: 'decide', engine: '' });
    rows.push(...cedarRows.rows);
    evaluations += 2 * cedarRows.decisions;

    // The same decisions on a Mandate with the compiled engine (the default): same set, same
    // request, its own SQLite file — the full path's gain over the cedar-wasm rows above.
    const compiledDir = join(o.dir, 'compiled-engine');
    await mkdir(compiledDir, { recursive: true });
    const mc = await createWorkloadMandate(workload, compiledDir, 'compiled');
    let compiledRows: DecideRows;
    try {
      compiledRows = await measureDecide(mc, {
        ...o,
        policyCount,
        ms,
        key: 'decide-compiled',
        engine: ', compiled engine',
      });
    } finally {
      await mc.close();
    }
    rows.push(...compiledRows.rows);
    const stats = m.audit.stats();
    let survival: InProcessResult['survival'];
    if (o.survivalEvaluations !== undefined && o.survivalEvaluations > 0) {
      o.progress(
        `crash survival: ${o.survivalEvaluations} evaluations on the ${policyCount}-policy set in this process…`,
      );
      survival = runSurvivalLoop(compiled, preq, o.survivalEvaluations);
      evaluations += survival.evaluations;
    }
    return {
      policies: compiled.policies.length,
      sliceSize: sliced.sliceSize,
      rawMode: raw.mode,
      shape: workload.shape,
      rows,
      audit: {
        decisions: cedarRows.decisions + compiledRows.decisions,
        events: cedarRows.events + compiledRows.events,
      },
      evaluations,
      compiledMs,
      groupCommit: { appended: stats.appended, batches: stats.batches },
      ...(survival ? { survival } : {}),
    };
  } finally {
    await m.close();
  }
}

interface DecideRows {
  rows: InProcessRow[];
  /** Decisions made (the first probe included) and decision events in the Mandate's chain after. */
  decisions: number;
  events: number;
}

/**
 * The decide rows of one Mandate: the bench decision with 1, then `decideConcurrency`, in flight
 * (full path, durable audit); keys `<key>-c1` / `<key>-cN`, `engine` is said in the labels.
 */
async function measureDecide(
  m: Mandate,
  o: Pick<InProcessOptions, 'decideConcurrency' | 'progress'> & {
    policyCount: number;
    ms: number;
    key: string;
    engine: string;
  },
): Promise<DecideRows> {
  const req = benchDecisionRequest();
  const first = await m.decisions.decide(req, BENCH_CALLER);
  if (first.decision.effect !== 'allow') {
    throw new Error(
      `bench: the bench decision must be an allow${o.engine}, got ${first.decision.effect}: ${JSON.stringify(first.decision.errors)}`,
    );
  }
  let decisions = 1;
  const effects = new Map<string, number>();
  const decide = async () => {
    const out = await m.decisions.decide(req, BENCH_CALLER);
    decisions++;
    effects.set(out.decision.effect, (effects.get(out.decision.effect) ?? 0) + 1);
  };
  await m.audit.flush();
  let mark = m.audit.stats();
  const commitsSince = () => {
    const now = m.audit.stats();
    const out = { events: now.appended - mark.appended, transactions: now.batches - mark.batches };
    mark = now;
    return out;
  };
  const rows: InProcessRow[] = [];
  for (const [suffix, inFlight, minOps] of [
    ['c1', 1, 20],
    ['cN', o.decideConcurrency, 100],
  ] as const) {
    effects.clear();
    o.progress(
      `in-process ${o.policyCount}: decide, concurrency ${inFlight}${o.engine} (full path, durable audit)…`,
    );
    const sample = await loopAsync(decide, inFlight, { durationMs: o.ms, minOps, warmupOps: minOps });
    await m.audit.flush();
    rows.push({
      key: `${o.key}-${suffix}`,
      label: `decide, ${inFlight} in flight${o.engine} (full path + durable audit)`,
      baseline: false,
      sample,
      effect: effectOf(effects),
      commits: commitsSince(),
    });
  }
  return { rows, decisions, events: await countDecisionEvents(m) };
}

function effectOf(effects: Map<string, number>): string {
  return [...effects.entries()].map(([e, n]) => (effects.size === 1 ? e : `${e}:${n}`)).join(' ') || 'none';
}

/** Counts `decision` events in a Mandate's audit chain. */
export async function countDecisionEvents(m: Pick<Mandate, 'store'>): Promise<number> {
  let after = 0;
  let n = 0;
  for (;;) {
    const page = await m.store.readAudit(after, 5000);
    if (page.length === 0) return n;
    for (const r of page) if (r.columns.type === 'decision') n++;
    after = page[page.length - 1]!.seq;
  }
}

/**
 * The crash-survival loop: `evaluate` on the 1,000-policy set, hot, for at least `minEvaluations`
 * calls in this process. Without `--no-turbo-inlining`, Node 20 aborts in V8's deoptimizer on such
 * loops over cedar-wasm; surviving it is the point, the count is the evidence.
 */
export function runSurvivalLoop(
  compiled: CompiledPolicySet,
  request: PolicyRequest,
  minEvaluations: number,
): { evaluations: number; seconds: number; allow: number } {
  const start = performance.now();
  let allow = 0;
  // Alternate the two principals so the loop also exercises a second slice and the user's entity shape.
  const userRequest: PolicyRequest = {
    ...request,
    principal: { type: 'User', id: BENCH_USER },
    context: { ...request.context, agent: { __entity: { type: 'Agent', id: BENCH_AGENT } } },
  };
  for (let i = 0; i < minEvaluations; i++) {
    if (compiled.evaluate(i % 2 === 0 ? request : userRequest).effect === 'allow') allow++;
  }
  return { evaluations: minEvaluations, seconds: (performance.now() - start) / 1000, allow };
}
