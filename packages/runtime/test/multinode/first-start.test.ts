import { describe, expect, it } from 'vitest';
import type { Mandate } from '../../src/app/index.js';
import type { Store } from '../../src/storage/port.js';
import { POSTGRES_URL } from '../storage/helpers.js';
import { closeNodesAfterEach, postgresNodes, sqliteNodes } from './nodes.js';

closeNodesAfterEach();

/** The `policy.activated` events of the shared trail. */
async function activations(store: Store): Promise<string[]> {
  const records = await store.queryAudit({ type: 'policy.activated', limit: 100 });
  return records.map((r) => (JSON.parse(r.eventText) as { data: { version: string } }).data.version);
}

/** Every node serves one set, activated and recorded once. */
async function expectOneActivation(nodes: Mandate[]): Promise<void> {
  const version = nodes[0]!.policies.active()!.version;
  expect(nodes.map((n) => n.policies.active()?.version)).toEqual(nodes.map(() => version));
  expect(await activations(nodes[0]!.store)).toEqual([version]);
  expect((await nodes[0]!.store.listPolicySets()).map((s) => s.version)).toEqual([version]);
}

/*
 * Nodes starting together on an empty store all find no active set and all activate the policy
 * directory: the set is activated, and recorded, once.
 */
describe('nodes starting together on an empty store', () => {
  it('SQLite: one activation of the policy directory, one policy.activated', async () => {
    await expectOneActivation((await sqliteNodes(3, { together: true })).nodes);
  });

  it.skipIf(!POSTGRES_URL)(
    'PostgreSQL: one activation of the policy directory, one policy.activated',
    async () => {
      await expectOneActivation((await postgresNodes(3, { together: true, poolSize: 4 })).nodes);
    },
  );
});
