import type { AuditEvent, EntitiesDocument } from '@mandate/protocol';
import { MandateError, foldKey } from '../kernel/index.js';
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
  // SECURITY: checked in the write's own transaction: two PUTs of `prace-x` and `PRACE-X` sent at
  // once each passed a check made before the other wrote, and both were stored (a probe).
  await deps.store.putEntities(doc, (stored) => lookalikesOf(doc, stored));
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

/** Records one agent's status change (suspend, resume) as `entities.updated`, as a PUT of that agent is. */
export async function recordAgentStatus(
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>,
  agent: { id: string; status: string },
  attribution: { by: string },
): Promise<void> {
  await record({
    type: 'entities.updated',
    data: { ...attribution, agents: [{ id: agent.id, status: agent.status }], users: [], resources: [] },
  });
}

/** Up to this many agents and users in a document, the new ones are found by lookups, not a listing. */
const LOOKUPS = 32;

/**
 * SECURITY: two agents or two users whose ids differ only in case or Unicode form (`frank` and
 * `Frank`, NFC and NFD `josé`) are refused: approvers, audit readers and the duplicate-vote and
 * self-approval checks (which compare ids exactly) would take them for one — a probe cast both
 * votes of a quorum of two as `frank` and `Frank`. Folded as argument keys are (`foldKey`). Ids
 * already stored as they are pass (a suspension names an existing agent); a new id is checked
 * against the document and the stored ones of its kind.
 */
export async function refuseLookalikeIds(store: Store, doc: EntitiesDocument): Promise<void> {
  const kinds = [
    { kind: 'agent', ids: doc.agents.map((a) => a.id), get: (id: string) => store.getAgent(id) },
    { kind: 'user', ids: doc.users.map((u) => u.id), get: (id: string) => store.getUser(id) },
  ] as const;
  const people = doc.agents.length + doc.users.length;
  if (people === 0) return;
  for (const { kind, ids } of kinds) lookalikes(kind, ids, new Map());
  if (people <= LOOKUPS) {
    let anyNew = false;
    for (const { ids, get } of kinds) for (const id of ids) if (!(await get(id))) anyNew = true;
    if (!anyNew) return;
  }
  const stored = await store.listEntities();
  lookalikesOf(doc, { agents: stored.agents.map((a) => a.id), users: stored.users.map((u) => u.id) });
}

/** Throws when a new agent or user id of `doc` folds like another of its kind, in `doc` or stored. */
function lookalikesOf(
  doc: EntitiesDocument,
  stored: { agents: readonly string[]; users: readonly string[] },
): void {
  const kinds = [
    { kind: 'agent', ids: doc.agents.map((a) => a.id), storedIds: stored.agents },
    { kind: 'user', ids: doc.users.map((u) => u.id), storedIds: stored.users },
  ] as const;
  for (const { kind, ids, storedIds } of kinds) {
    lookalikes(kind, ids, new Map());
    const exact = new Set(storedIds);
    const seen = new Map<string, string>();
    for (const id of exact) seen.set(foldKey(id), id);
    // An id stored as it is passes, even beside a lookalike stored before this check existed.
    lookalikes(
      kind,
      ids.filter((id) => !exact.has(id)),
      seen,
    );
  }
}

/** Throws when an id of `ids` folds like another id (of `ids` or of `seen`, fold → id). */
function lookalikes(kind: 'agent' | 'user', ids: readonly string[], seen: Map<string, string>): void {
  for (const id of ids) {
    const folded = foldKey(id);
    const other = seen.get(folded);
    if (other !== undefined && other !== id)
      throw new MandateError(
        'invalid_entity',
        `${kind} id ${JSON.stringify(id)} differs from ${kind} ${JSON.stringify(other)} only in case or Unicode form: people would take them for one ${kind}`,
      );
    seen.set(folded, id);
  }
}
