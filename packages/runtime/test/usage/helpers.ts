import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { loadPolicyDir } from '../../src/policy/index.js';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import type { Store } from '../../src/storage/port.js';
import { createTestMandate, examplePolicySource, type StoreKind } from '../fixtures/mandate.js';
import { KEYS, client } from '../fixtures/http.js';

export const root = join(import.meta.dirname, '../../../..');
export const admin = { role: 'admin' as const, subject: null, keyId: 'test' };

/** The two counters of docs/policies.md "Budgets and rates". */
export const USAGE = [
  { name: 'refundTotalToday', action: 'payments.refund', sum: 'amount', per: 'user', window: '1d' },
  { name: 'readsPerMinute', action: 'crm.read_customer', count: true, per: 'agent', window: '1m' },
] as const;

/** The budget rules of docs/policies.md, written to fail closed when a counter is missing. */
export const BUDGET_POLICIES = `
@id("refund-daily-budget")
@reason("refunds stop once the user's total today would pass 2,000")
forbid (principal, action == Action::"payments.refund", resource)
unless { context has usage && context.usage.refundTotalTodayAfter <= 2000 };

@id("reads-per-minute")
@reason("no more than 60 customer reads a minute per agent")
forbid (principal, action == Action::"crm.read_customer", resource)
unless { context has usage && context.usage.readsPerMinuteAfter <= 60 };
`;

export const refund = (amount: number) => ({
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount },
});
export const read = {
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'crm.read_customer',
  args: { customerId: 'c-42' },
};

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mandate-usage-'));
}

/**
 * Nodes of one deployment: the example config plus the usage counters, one clock they all read
 * (the test moves it), each node its own Mandate on the given store.
 */
export function deployment(
  keysDir: string,
  usage: readonly object[] = USAGE,
  engine: 'cedar' | 'compiled' = 'cedar',
  configure?: (config: ReturnType<typeof loadConfig>['config']) => void,
) {
  const clock = createManualClock(Date.parse('2026-03-02T15:00:00Z'));
  const opened: Mandate[] = [];
  return {
    clock,
    opened,
    async node(store: string, storeOverride?: Store): Promise<Mandate> {
      const loaded = loadConfig(
        { configFile: join(root, 'mandate.config.json'), store, logLevel: 'silent' },
        {},
        root,
      );
      loaded.config.keys.dir = keysDir;
      loaded.config.gateway.upstreams = [];
      loaded.config.usage = structuredClone(usage) as typeof loaded.config.usage;
      loaded.config.policies.engine = engine;
      configure?.(loaded.config);
      const m = await createMandate(loaded, {
        clock,
        logger: silentLogger,
        engineCheckMs: 0,
        ...(storeOverride ? { store: storeOverride } : {}),
      });
      opened.push(m);
      return m;
    },
    async close() {
      for (const m of opened.splice(0)) await m.close();
    },
  };
}

/** Activates the example set plus the budget rules on one node; the others pick it up from the store. */
export async function activateBudgets(m: Mandate, nodes: Mandate[]): Promise<void> {
  const source = await loadPolicyDir(join(root, 'examples/fintech-support/policies'));
  const { version } = await m.policies.activate(
    { ...source, policies: { ...source.policies, 'budgets.cedar': BUDGET_POLICIES } },
    'test',
  );
  for (const n of nodes) {
    await n.policies.refresh();
    if (n.policies.active()?.version !== version) throw new Error('node did not pick up the budget set');
  }
}

/**
 * One node over HTTP (`createTestMandate`) with the counters of {@link USAGE} and the example set
 * plus the budget rules active; its clock reads 2026-03-02T15:00Z until the test moves it.
 */
export async function budgetServer(store: StoreKind) {
  const clock = createManualClock(Date.parse('2026-03-02T15:00:00Z'));
  const t = await createTestMandate({
    store,
    clock,
    config: (c) => {
      c.usage = structuredClone(USAGE);
    },
  });
  const api = client(t.url);
  const src = examplePolicySource();
  src.policies['budgets.cedar'] = BUDGET_POLICIES;
  const put = await api.put('/v1/policies', KEYS.admin, src);
  if (put.status !== 200) throw new Error(`the budget set was not activated: ${put.text}`);
  return { t, api, clock };
}
