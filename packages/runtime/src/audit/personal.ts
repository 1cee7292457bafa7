import type { AuditEvent } from '@mandate/protocol';
import { MandateError, canonicalize, hmacSha256Hex, type Clock } from '../kernel/index.js';
import type { ApprovalRecord, Store, StoredAuditRecord } from '../storage/port.js';

/** The personal fields a deployment may keep beside the chain (`audit.personal.keep`). */
export type PersonalField = 'userDisplayName' | 'args';

/** What query and export show where kept personal data was erased. */
export const ERASED = 'erased';

/** An erased approval's summary (its args keep their names, each value {@link ERASED}). */
export const ERASED_SUMMARY = '[erased]';

/** What query and export show for kept fields that are not what the decision's record was made with. */
export const TAMPERED = 'tampered';

/** What the hashed decision record holds instead of the kept fields: whose they are, which, and their digest. */
export interface PersonalRef {
  subject: string;
  fields: PersonalField[];
  /**
   * {@link keptDigest} of the kept fields. EVIDENCE: the kept copy is the only copy of what it
   * holds, in a table outside the chain; a probe changed a kept refund of 450 for c-42 into 45 for
   * c-7 and query, export and verify showed it as the record's. Absent on records made before it.
   */
  digest?: string;
}

/**
 * The keyed digest of one decision's kept fields (the args HMAC key, domain-separated, bound to the
 * decision id): in the hashed record, it holds the erasable copy to what was decided without
 * putting the personal data on the chain (a keyed digest, like `argsDigest`).
 */
export function keptDigest(hmacKey: Uint8Array | string, ref: string, data: Record<string, unknown>): string {
  return hmacSha256Hex(hmacKey, `mandate.personal.v1\0kept\0${ref}\0${canonicalize(data)}`);
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
  /**
   * Deletes everything kept for this user, blanks the summary and args of the approvals of calls
   * made for them, and records `personal_data.erased` (pseudonymous id only) with both counts.
   */
  erase(userId: string, by: string): Promise<{ subject: string; erased: number }>;
}

type ApprovalStore = Pick<Store, 'listApprovals' | 'getApproval' | 'updateApproval'>;

export function createPersonalData(deps: {
  store: Pick<Store, 'putPersonalData' | 'erasePersonalData' | 'getUser'> & ApprovalStore;
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
      return { subject, fields, digest: keptDigest(deps.hmacKey, ref, data) };
    },
    async erase(userId, by) {
      const subject = pseudonymOf(deps.hmacKey, userId);
      // First the approvals: a failure (a CAS lost too often) leaves the kept rows and nothing
      // recorded, and the erasure can simply be asked again.
      const approvals = await eraseApprovals(deps.store, userId);
      const erased = await deps.store.erasePersonalData(subject);
      // SECURITY: the chain is forever — the erasure names the pseudonymous id, never the user id.
      await deps.record({ type: 'personal_data.erased', data: { subject, records: erased, approvals, by } });
      return { subject, erased };
    },
  };
}

/**
 * The approval with its personal parts blanked — the summary (rendered from the args) and each
 * arg's value — or null when they already are. Everything the approval is bound by and decided
 * with stays: the keyed call hash (the binding: a call is checked against it, never against the
 * stored args), status, votes, role, quorum, ids, tool hash, expiry.
 */
function blanked(a: ApprovalRecord): ApprovalRecord | null {
  const names = Object.keys(a.args);
  if (a.summary === ERASED_SUMMARY && names.every((k) => a.args[k] === ERASED)) return null;
  // The arg names stay (they are the tool's schema), so `args` is still an object, as the API says.
  return { ...a, summary: ERASED_SUMMARY, args: Object.fromEntries(names.map((k) => [k, ERASED])) };
}

/**
 * Blanks one approval with the store's compare-and-set on its status and vote count, read again
 * and retried when a vote, a use or an expiry got there first; true when this call wrote it.
 */
async function blankApproval(store: ApprovalStore, found: ApprovalRecord): Promise<boolean> {
  let a: ApprovalRecord | null = found;
  for (let attempt = 0; attempt < 10 && a; attempt++) {
    const next = blanked(a);
    if (!next) return false;
    if (await store.updateApproval(next, a.status, a.votes.length)) return true;
    a = await store.getApproval(a.id);
  }
  if (!a) return false;
  throw new MandateError('conflict', `approval ${a.id} is being changed concurrently; erase again`);
}

const APPROVAL_PAGE = 200;

/**
 * Blanks the summary and args of every approval of a call made for `userId`, whatever its status.
 * With `args` kept aside the approvals table holds their only copy (the `approval.requested` record
 * says `summaryOffRecord` instead of the summary); otherwise the chain holds the summary anyway and
 * blanking the table copy costs nothing — and an approval requested before `audit.personal` changed
 * may be of either kind. Returns how many distinct approvals this erasure blanked.
 *
 * A vote, use or expiry that read an approval just before it was blanked writes the whole record
 * back, and the store's compare-and-set (status and vote count) does not see the blanking: another
 * pass blanks what such a write brought back while the erasure ran. It narrows that window, it
 * does not close it (that needs the store to stop rewriting summary and args on those updates).
 */
async function eraseApprovals(store: ApprovalStore, userId: string): Promise<number> {
  const done = new Set<string>();
  for (let pass = 0; pass < 3; pass++) {
    let blankedNow = 0;
    let before: string | undefined;
    for (;;) {
      const page = await store.listApprovals({
        user: userId,
        limit: APPROVAL_PAGE,
        ...(before !== undefined ? { before } : {}),
      });
      for (const a of page) {
        if (await blankApproval(store, a)) {
          done.add(a.id);
          blankedNow++;
        }
      }
      if (page.length < APPROVAL_PAGE) break;
      before = page.at(-1)!.id;
    }
    if (blankedNow === 0) break;
  }
  return done.size;
}

/**
 * For query and export: the personal fields of each record that names some (`data.personal`), as
 * kept, or `"erased"` where they were erased. Records naming none are absent from the map. With
 * the args HMAC key, a kept copy whose {@link keptDigest} is not the one its record holds shows
 * each field as `"tampered"`, never as the record's (without the key, as kept: unchecked).
 */
export async function personalOf(
  store: Pick<Store, 'getPersonalData'>,
  records: readonly StoredAuditRecord[],
  hmacKey?: Uint8Array | string | null,
): Promise<Map<number, Record<string, unknown>>> {
  const named: { seq: number; ref: string; fields: string[]; digest: string | undefined }[] = [];
  for (const r of records) {
    // Cheap test first: most records name no personal data.
    if (!r.eventText.includes('"personal":')) continue;
    const event = JSON.parse(r.eventText) as AuditEvent;
    const p = (event.data as { personal?: PersonalRef }).personal;
    if (event.decisionId && p && Array.isArray(p.fields))
      named.push({
        seq: r.seq,
        ref: event.decisionId,
        fields: p.fields,
        digest: typeof p.digest === 'string' ? p.digest : undefined,
      });
  }
  const out = new Map<number, Record<string, unknown>>();
  if (named.length === 0) return out;
  const kept = new Map((await store.getPersonalData(named.map((n) => n.ref))).map((k) => [k.ref, k.data]));
  for (const n of named) {
    const data = kept.get(n.ref);
    const forged =
      data !== undefined &&
      n.digest !== undefined &&
      hmacKey &&
      keptDigest(hmacKey, n.ref, data) !== n.digest;
    out.set(
      n.seq,
      Object.fromEntries(n.fields.map((f) => [f, forged ? TAMPERED : data && f in data ? data[f] : ERASED])),
    );
  }
  return out;
}
