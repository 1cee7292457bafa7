import { z } from 'zod';
import { DecisionRequestSchema, type Decision, type EntitiesDocument, type Tool } from '@mandate/protocol';
import {
  MandateError,
  createManualClock,
  isMandateError,
  silentLogger,
  type Clock,
} from '../kernel/index.js';
import type { PolicyEngine, PolicySetSource } from '../policy/index.js';
import type { Store } from '../storage/port.js';
import type { Config } from '../config/index.js';
import { createMemoryStore } from '../storage/memory/index.js';
import { createToolRegistry, localPathFs } from '../tools/index.js';
import { createApprovalService } from '../approvals/index.js';
import { createGrantService } from '../grants/index.js';
import { createDecisionService, createTimeContext } from '../decisions/index.js';
import { createUsageMeter } from '../usage/index.js';
import { argsDigest, createRedactor } from '../audit/index.js';
import { seedGrants } from './seed-grants.js';

/** One policy test case: a request and what must come back. */
export const PolicyCaseSchema = z.strictObject({
  name: z.string().min(1),
  /**
   * The time of the decision: an ISO 8601 date-time with `Z` or an offset (one without would be read
   * in the machine's time zone, so the case would answer differently from machine to machine);
   * defaults to a Monday 10:00 UTC. A text that is no such time is refused: it made the clock
   * NaN, the decision failed on the audit write, and a case expecting deny passed (a probe).
   */
  at: z.iso
    .datetime({
      offset: true,
      error: 'must be an ISO 8601 date-time with Z or an offset, e.g. 2026-01-06T15:30:00Z',
    })
    .optional(),
  request: DecisionRequestSchema.omit({ approvalId: true, sessionId: true, traceId: true }),
  expect: z.strictObject({
    effect: z.enum(['allow', 'deny', 'approval_required']),
    /** Policy ids that must be among the reasons. */
    reasons: z.array(z.string()).optional(),
    /** Error codes that must be among the errors. */
    errors: z.array(z.string()).optional(),
    /** For approval_required: the role it must be routed to. */
    approvalRole: z.string().optional(),
  }),
});
export type PolicyCase = z.infer<typeof PolicyCaseSchema>;

export interface PolicyCaseResult {
  name: string;
  ok: boolean;
  expected: PolicyCase['expect'] | null;
  actual: { effect: string; reasons: string[]; errors: string[]; approvalRole: string | null } | null;
  problems: string[];
}

export interface PolicyTestReport {
  passed: number;
  failed: number;
  policyVersion: string;
  results: PolicyCaseResult[];
}

export interface RunPolicyCasesInput {
  engine: PolicyEngine;
  /** The set under test; defaults to the store's active set. */
  source?: PolicySetSource | undefined;
  cases: unknown;
  /** Entities, tools and grants are copied from this store (never written to). */
  store?: Store;
  seed?: { tools?: Tool[]; entities?: EntitiesDocument; grants?: Config['grants'] };
  clock?: Clock;
  timeZone?: string;
  /** The deployment's usage counters: kept on the throw-away store, charged by the cases in order. */
  usage?: Config['usage'];
}

const DEFAULT_AT = Date.parse('2026-01-05T10:00:00Z');

/**
 * Runs decision cases through the real decision path (validation, entities, grants, both principals,
 * approvals) on a throw-away in-memory store, so `mandate policy test` checks what production decides.
 */
export async function runPolicyCases(input: RunPolicyCasesInput): Promise<PolicyTestReport> {
  const parsed = z.array(z.unknown()).safeParse(input.cases);
  if (!parsed.success) throw new MandateError('bad_request', 'cases must be a list');
  let source = input.source;
  if (!source) {
    const active = await input.store?.getActivePolicySet();
    if (!active) throw new MandateError('no_active_policy', 'no policy set to test');
    source = { policies: active.policies, schema: active.schema };
  }
  const compiled = await input.engine.compileAsync(source);
  const clock = createManualClock(DEFAULT_AT);
  const store = createMemoryStore();
  const tools = input.seed?.tools ?? (await input.store?.listTools()) ?? [];
  const entities = input.seed?.entities ??
    (await input.store?.listEntities()) ?? { agents: [], users: [], resources: [] };
  await store.putTools(tools);
  await store.putEntities(entities);
  const grantService = createGrantService({ store, clock, audit: async () => undefined });
  if (input.seed?.grants) await seedGrants(grantService, input.seed.grants, clock);
  else for (const g of (await input.store?.listGrants({})) ?? []) await store.createGrant(g);
  // The same canonicalisation as production, symlink resolution on this machine included.
  const registry = createToolRegistry(tools, { fs: localPathFs });
  const noAudit = async () => undefined;
  const approvals = createApprovalService(
    { store, clock, logger: silentLogger, audit: noAudit },
    { ttlSeconds: 3600, maxPendingPerAgent: 1e9, maxPendingPerAgentUser: 1e9 },
  );
  const decisions = createDecisionService({
    store,
    clock,
    logger: silentLogger,
    nodeId: 'policy-test',
    policies: () => compiled,
    tools: () => registry,
    audit: noAudit,
    approvals,
    grants: grantService,
    redact: createRedactor({ paths: [] }),
    digest: (args) => argsDigest('policy-test', args),
    time: createTimeContext(input.timeZone ?? 'UTC'),
    ...(input.usage?.length
      ? { usage: createUsageMeter({ store, counters: input.usage, logger: silentLogger }) }
      : {}),
  });

  const results: PolicyCaseResult[] = [];
  try {
    for (const [i, raw] of parsed.data.entries()) {
      const c = PolicyCaseSchema.safeParse(raw);
      if (!c.success) {
        const name = (raw as { name?: unknown })?.name;
        results.push({
          name: typeof name === 'string' ? name : `case ${i + 1}`,
          ok: false,
          expected: null,
          actual: null,
          problems: c.error.issues.map((x) => `invalid case: ${x.path.join('.')}: ${x.message}`),
        });
        continue;
      }
      const tc = c.data;
      clock.set(tc.at ? Date.parse(tc.at) : DEFAULT_AT);
      let d: Decision;
      try {
        d = (
          await decisions.decide(
            { ...tc.request, args: tc.request.args ?? {} },
            { role: 'admin', subject: null, keyId: 'policy-test' },
          )
        ).decision;
      } catch (err) {
        if (!isMandateError(err)) throw err;
        d = {
          decisionId: '-',
          effect: 'deny',
          reasons: [],
          errors: [{ code: err.code, message: err.message }],
          policyVersion: compiled.version,
        };
      }
      const actual = {
        effect: d.effect,
        reasons: d.reasons.map((r) => r.policyId),
        errors: d.errors.map((e) => e.code),
        approvalRole: d.approval?.role ?? null,
      };
      const problems: string[] = [];
      if (actual.effect !== tc.expect.effect)
        problems.push(`effect is ${actual.effect}, expected ${tc.expect.effect}`);
      for (const r of tc.expect.reasons ?? [])
        if (!actual.reasons.includes(r))
          problems.push(`reason ${r} missing (got ${actual.reasons.join(', ') || 'none'})`);
      for (const e of tc.expect.errors ?? [])
        if (!(actual.errors as string[]).includes(e))
          problems.push(`error ${e} missing (got ${actual.errors.join(', ') || 'none'})`);
      if (tc.expect.approvalRole && actual.approvalRole !== tc.expect.approvalRole) {
        problems.push(`approval routed to ${actual.approvalRole}, expected ${tc.expect.approvalRole}`);
      }
      results.push({ name: tc.name, ok: problems.length === 0, expected: tc.expect, actual, problems });
    }
  } finally {
    compiled.dispose();
  }
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed, policyVersion: compiled.version, results };
}

/**
 * The cases decided by both policy engines (`policies.engine`: the compiled evaluator and
 * cedar-wasm, the reference): `primary`'s report, with each case the other engine answered
 * differently (effect, reasons, errors or approval role) failed, naming both answers. The compiled
 * evaluator is proven equal to cedar-wasm by differential tests; a deployment's own cases are one
 * more such test, on the policies it runs.
 */
export function crossCheck(
  primary: { name: string; report: PolicyTestReport },
  reference: { name: string; report: PolicyTestReport },
): PolicyTestReport {
  const answer = (r: PolicyCaseResult) => JSON.stringify(r.actual);
  const results = primary.report.results.map((r, i) => {
    const other = reference.report.results[i];
    if (!other || r.actual === null || answer(r) === answer(other)) return r;
    return {
      ...r,
      ok: false,
      problems: [
        ...r.problems,
        `the ${primary.name} engine answered ${answer(r)}, the ${reference.name} engine ${answer(other)}: the engines disagree (report it: docs/policies.md)`,
      ],
    };
  });
  const passed = results.filter((r) => r.ok).length;
  return { ...primary.report, passed, failed: results.length - passed, results };
}
