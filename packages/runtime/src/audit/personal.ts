import type { AuditEvent } from '@mandate/protocol';
import { hmacSha256Hex, type Clock } from '../kernel/index.js';
import type { Store, StoredAuditRecord } from '../storage/port.js';

/** The personal fields a deployment may keep beside the chain (`audit.personal.keep`). */
export type PersonalField = 'userDisplayName' | 'args';

/** What query and export show where kept personal data was erased. */
export const ERASED = 'erased';

/** What the hashed decision record holds instead of the kept fields: whose they are and which. */
export interface PersonalRef {
  subject: string;
  fields: PersonalField[];
}

/** The pseudonymous id of a user: a keyed digest (the args HMAC key, domain-separated), `psn_…`. */
export function pseudonymOf(hmacKey: Uint8Array | string, userId: string): string {
  return 'psn_' + hmacSha256Hex(hmacKey, `mandate.personal.v1\0user\0${userId}`);
}

/** Personal data kept beside the audit chain, erasable per user (docs/audit.md "Erasure"). */
export interface PersonalData {
  /** The fields this deployment keeps beside the chain (`audit.personal.keep`). */
  readonly fields: readonly PersonalField[];
  /**
   * Keeps the configured fields of one decision for its user, before its record is appended; null
   * when nothing is kept (no user, nothing configured, nothing present).
   */
  keep(input: { ref: string; userId: string; args: Record<string, unknown> }): Promise<PersonalRef | null>;
  /** Deletes everything kept for this user and records `personal_data.erased` (pseudonymous id only). */
  erase(userId: string, by: string): Promise<{ subject: string; erased: number }>;
}

export function createPersonalData(deps: {
  store: Pick<Store, 'putPersonalData' | 'erasePersonalData' | 'getUser'>;
  clock: Clock;
  hmacKey: Uint8Array | string;
  keep: readonly PersonalField[];
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
}): PersonalData {
  return {
    fields: [...deps.keep],
    async keep({ ref, userId, args }) {
      if (deps.keep.length === 0) return null;
      const data: Record<string, unknown> = {};
      if (deps.keep.includes('userDisplayName')) {
        const displayName = (await deps.store.getUser(userId))?.attributes.displayName;
        if (typeof displayName === 'string') data.userDisplayName = displayName;
      }
      if (deps.keep.includes('args')) data.args = args;
      const fields = Object.keys(data) as PersonalField[];
      if (fields.length === 0) return null;
      const subject = pseudonymOf(deps.hmacKey, userId);
      await deps.store.putPersonalData({
        ref,
        subject,
        data,
        createdAt: new Date(deps.clock.now()).toISOString(),
      });
      return { subject, fields };
    },
    async erase(userId, by) {
      const subject = pseudonymOf(deps.hmacKey, userId);
      const erased = await deps.store.erasePersonalData(subject);
      // SECURITY: the chain is forever — the erasure names the pseudonymous id, never the user id.
      await deps.record({ type: 'personal_data.erased', data: { subject, records: erased, by } });
      return { subject, erased };
    },
  };
}

/**
 * For query and export: the personal fields of each record that names some (`data.personal`), as
 * kept, or `"erased"` where they were erased. Records naming none are absent from the map.
 */
export async function personalOf(
  store: Pick<Store, 'getPersonalData'>,
  records: readonly StoredAuditRecord[],
): Promise<Map<number, Record<string, unknown>>> {
  const named: { seq: number; ref: string; fields: string[] }[] = [];
  for (const r of records) {
    // Cheap test first: most records name no personal data.
    if (!r.eventText.includes('"personal":')) continue;
    const event = JSON.parse(r.eventText) as AuditEvent;
    const p = (event.data as { personal?: PersonalRef }).personal;
    if (event.decisionId && p && Array.isArray(p.fields))
      named.push({ seq: r.seq, ref: event.decisionId, fields: p.fields });
  }
  const out = new Map<number, Record<string, unknown>>();
  if (named.length === 0) return out;
  const kept = new Map((await store.getPersonalData(named.map((n) => n.ref))).map((k) => [k.ref, k.data]));
  for (const n of named) {
    const data = kept.get(n.ref);
    out.set(n.seq, Object.fromEntries(n.fields.map((f) => [f, data && f in data ? data[f] : ERASED])));
  }
  return out;
}
