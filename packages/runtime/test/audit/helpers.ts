import type { AuditCheckpoint, AuditEvent } from '@mandate/protocol';
import { createAuditLog, type AuditLog } from '../../src/audit/log.js';
import {
  createTailVerifier,
  type TailVerifier,
  type TailVerifierOptions,
} from '../../src/audit/tail-verifier.js';
import { createEphemeralKeys, type AuditKeys } from '../../src/audit/keys.js';
import type { CheckpointMirror } from '../../src/audit/mirror.js';
import { createRecordSealer } from '../../src/audit/seal.js';
import { recordHash } from '../../src/audit/chain.js';
import { exportBundle } from '../../src/audit/bundle.js';
import type { AuditSource } from '../../src/audit/verify.js';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';
import {
  SHORTEST_SECRET,
  looksLikeSecret,
  matchesSecretShape,
  redactText,
  replaceSecretShapes,
} from '../../src/audit/redact.js';
import fc from 'fast-check';
import { expect } from 'vitest';
import { GENESIS_HASH, type Store, type StoredAuditRecord } from '../../src/storage/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';

type ManualClock = ReturnType<typeof createManualClock>;

const T0 = Date.parse('2026-01-05T10:00:00Z');

/** A decision event numbered `i`, every third one a deny. */
export function decisionEvent(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    type: 'decision',
    time: new Date(T0 + i * 1000).toISOString(),
    nodeId: 'node-1',
    decisionId: `dec_${i}`,
    agent: 'agent:support',
    user: 'user:alice',
    action: 'payments.refund',
    effect: i % 3 === 0 ? 'deny' : 'allow',
    data: { i },
    ...over,
  };
}

/** A store whose audit methods can be swapped out, everything else delegated to `inner`. */
export function wrapStore(inner: Store, overrides: Partial<Store>): Store {
  return { ...inner, ...overrides };
}

/** A deferred promise, to hold a store call open while a test looks at the queue. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export interface SeededLog {
  store: Store;
  keys: AuditKeys;
  publicKeys: Record<string, string>;
}

/**
 * An audit log on `store` signing with `keys` ('node-1'), a checkpoint every `checkpointEvery`
 * records (close writes a final one), on a manual clock the caller advances.
 */
export function ownLog(
  store: Store,
  keys: AuditKeys,
  checkpointEvery: number,
  mirrors: readonly CheckpointMirror[] = [],
): { log: AuditLog; clock: ManualClock } {
  const clock = createManualClock();
  const log = createAuditLog({
    store,
    clock,
    logger: silentLogger,
    nodeId: 'node-1',
    signer: keys.signer,
    sealer: createRecordSealer(keys.sealKey),
    checkpointEvery,
    checkpointIntervalMs: 3_600_000,
    mirrors,
  });
  return { log, clock };
}

/**
 * A store (a memory store unless given) holding `n` decision records appended one by one through
 * the audit log, with a checkpoint every `checkpointEvery` records and a final one at `n` (written
 * by close).
 */
export async function seedLog(
  n: number,
  checkpointEvery = 5,
  mirrors: readonly CheckpointMirror[] = [],
  store: Store = createMemoryStore(),
): Promise<SeededLog> {
  const keys = createEphemeralKeys();
  const { log, clock } = ownLog(store, keys, checkpointEvery, mirrors);
  for (let i = 1; i <= n; i++) {
    clock.advance(1000);
    await log.append(decisionEvent(i));
  }
  clock.advance(1000);
  await log.close();
  return { store, keys, publicKeys: { [keys.signer.keyId]: keys.publicKeyPem } };
}

/**
 * A view of `inner` whose audit records and checkpoints are what `tamper` made of them: what a DB
 * admin with write access to the tables could leave behind. Records are returned in array order
 * (a real driver sorts by seq; tests that need that keep the array sorted).
 */
export async function tampered(
  inner: Store,
  tamper: (records: StoredAuditRecord[], checkpoints: AuditCheckpoint[]) => void,
): Promise<Store> {
  const records = await inner.readAudit(0, Number.MAX_SAFE_INTEGER);
  const checkpoints = await inner.listCheckpoints();
  tamper(records, checkpoints);
  return wrapStore(inner, {
    readAudit: async (afterSeq, limit) =>
      structuredClone(records.filter((r) => r.seq > afterSeq).slice(0, limit)),
    listCheckpoints: async () => structuredClone(checkpoints),
    auditHead: async () => {
      const last = records.at(-1);
      return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
    },
  });
}

/** Recomputes links and hashes from index `from` on, as an attacker who knows the algorithm (but not the key) would. */
export function rechain(records: StoredAuditRecord[], from: number): void {
  for (let i = from; i < records.length; i++) {
    const r = records[i]!;
    r.prevHash = i === 0 ? GENESIS_HASH : records[i - 1]!.hash;
    r.hash = recordHash(r.seq, r.prevHash, r.eventText);
  }
}

/** Index of the record with this seq. */
export function at(records: StoredAuditRecord[], seq: number): number {
  const i = records.findIndex((r) => r.seq === seq);
  if (i < 0) throw new Error(`no record ${seq}`);
  return i;
}

/** A tail verifier with no timer and a silent logger, whose findings go nowhere unless `onFailure` is given. */
export function quietTailVerifier(
  o: Pick<TailVerifierOptions, 'source' | 'publicKeys'> & Partial<TailVerifierOptions>,
): TailVerifier {
  return createTailVerifier({
    logger: silentLogger,
    nodeId: 'n',
    intervalMs: 0,
    onFailure: async () => undefined,
    ...o,
  });
}

/** An evidence bundle of `source` as `audit export --bundle` writes it, without a signer (no attested head). */
export async function bundleOf(source: AuditSource, publicKeyPem: string, maxGap = 5): Promise<string> {
  let text = '';
  await exportBundle(source, {
    publicKeys: [publicKeyPem],
    maxGap,
    exportedAt: '2026-01-05T11:00:00.000Z',
    write: (c) => {
      text += c;
    },
  });
  return text;
}

/**
 * A bundle cut back by whoever hands it over: its header, the records up to `seq` and the
 * checkpoints up to `seq` (a probe's cut, which verified "ok").
 */
export function cutBundle(text: string, seq: number): string {
  const [header, ...rest] = text.trimEnd().split('\n');
  const kept = rest.filter((line) => {
    const v = JSON.parse(line) as { seq?: number; checkpoint?: { seq: number } };
    return (v.checkpoint?.seq ?? v.seq ?? 0) <= seq;
  });
  return [header, ...kept].join('\n') + '\n';
}

/**
 * The length shortcut of the secret check: over strings `text` makes (pieces of the shapes, so that
 * short ones come close to each), `looksLikeSecret` and `redactText` answer as every pattern run
 * does, and more than 1,000 of the 20,000 strings are shorter than SHORTEST_SECRET.
 */
export function expectShortcutAgrees(text: fc.Arbitrary<string>): void {
  let short = 0;
  fc.assert(
    fc.property(text, (s) => {
      if (s.length < SHORTEST_SECRET) short += 1;
      expect(looksLikeSecret(s)).toBe(matchesSecretShape(s));
      expect(redactText(s)).toBe(replaceSecretShapes(s));
    }),
    { numRuns: 20000 },
  );
  expect(short).toBeGreaterThan(1000);
}
