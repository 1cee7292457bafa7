import type { AuditEvent, EntitiesDocument } from '@mandate/protocol';
import type { Store } from '../storage/port.js';

/**
 * Upserts agents, users and resources in one transaction and records `entities.updated` (who or
 * what changed them, and each agent's status, so a suspension is visible in the trail). The one
 * way entities change: from the config file at start and from `PUT /v1/entities`.
 */
export async function updateEntities(
  deps: { store: Store; record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown> },
  doc: EntitiesDocument,
  attribution: { by: string } | { source: string },
): Promise<void> {
  await deps.store.putEntities(doc);
  await deps.record({
    type: 'entities.updated',
    data: {
      ...attribution,
      agents: doc.agents.map((a) => ({ id: a.id, status: a.status })),
      users: doc.users.map((u) => u.id),
      resources: doc.resources.map((r) => `${r.type}::${r.id}`),
    },
  });
}
