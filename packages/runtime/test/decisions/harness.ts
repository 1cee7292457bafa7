import { ToolSchema, type AuditEvent, type DecisionRequest, type EntitiesDocument } from '@mandate/protocol';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import { createCedarEngine } from '../../src/policy/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { createToolRegistry, type PathFs } from '../../src/tools/index.js';
import { createApprovalService } from '../../src/approvals/index.js';
import { createGrantService } from '../../src/grants/index.js';
import { createDecisionService, createTimeContext, type Caller } from '../../src/decisions/index.js';
import { argsDigest, createRedactor, type Redactor } from '../../src/audit/index.js';

export interface HarnessOptions {
  schema: string;
  policies: Record<string, string>;
  /** Tool entries as a tools file holds them (defaults are filled in). */
  tools: unknown[];
  entities?: Partial<EntitiesDocument>;
  fs?: PathFs;
  /** `audit.redact` paths (default none). */
  redactPaths?: string[];
  /**
   * Hand the decision path a plain redactor (no `tracking`): the recorded inputs then find the
   * replaced paths by comparing, the direct computation the tracking one must equal.
   */
  plainRedactor?: boolean;
}

/**
 * The real decision path (registry, entities, grants, Cedar, approvals) on a memory store, with
 * the audit events it appends kept in a list: decision-level tests without HTTP.
 */
export async function decisionHarness(o: HarnessOptions) {
  const clock = createManualClock(Date.parse('2026-01-05T15:00:00Z'));
  const store = createMemoryStore();
  await store.migrate();
  await store.putEntities({
    agents: [{ id: 'files-bot', roles: ['files'], status: 'active', attributes: {} }],
    users: [{ id: 'frank', roles: ['approver'], status: 'active', attributes: {} }],
    resources: [],
    ...o.entities,
  });
  const events: AuditEvent[] = [];
  const audit = async (e: unknown) => {
    events.push(e as AuditEvent);
  };
  const compiled = createCedarEngine().compile({ policies: o.policies, schema: o.schema });
  const registry = createToolRegistry(
    o.tools.map((t) => ToolSchema.parse(t)),
    o.fs ? { fs: o.fs } : {},
  );
  const approvals = createApprovalService(
    { store, clock, logger: silentLogger, audit },
    { ttlSeconds: 3600, maxPendingPerAgent: 100, maxPendingPerAgentUser: 100 },
  );
  const decisions = createDecisionService({
    store,
    clock,
    logger: silentLogger,
    nodeId: 'test',
    policies: () => compiled,
    tools: () => registry,
    audit,
    approvals,
    grants: createGrantService({ store, clock, audit }),
    redact: plainOrTracking(createRedactor({ paths: o.redactPaths ?? [] }), o.plainRedactor === true),
    digest: (args) => argsDigest('test', args),
    time: createTimeContext('UTC'),
  });
  const caller: Caller = { role: 'agent', subject: 'files-bot', keyId: 'k' };
  return {
    store,
    events,
    approvals,
    registry,
    decide: (action: string, args: Record<string, unknown>, extra: Partial<DecisionRequest> = {}) =>
      decisions.decide({ agent: 'files-bot', action, args, ...extra }, caller),
    /** The error a refused request throws (fails the test when it is decided instead). */
    async refusal(action: string, args: Record<string, unknown>) {
      try {
        await decisions.decide({ agent: 'files-bot', action, args }, caller);
      } catch (err) {
        return err as { code: string; message: string; details?: { path?: string } };
      }
      throw new Error(`expected ${action} ${JSON.stringify(args)} to be refused`);
    },
  };
}

function plainOrTracking(redactor: Redactor, plain: boolean) {
  return plain ? (args: Record<string, unknown>, extra?: string[]) => redactor(args, extra) : redactor;
}
