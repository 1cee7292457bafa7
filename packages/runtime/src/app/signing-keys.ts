/**
 * The audit keys a starting node may sign with (ADR 0035, docs/audit.md): only a key that signed
 * the chain it takes up, unless the operator says otherwise for this start.
 */
import type { AuditCheckpoint } from '@mandate/protocol';
import { MandateError } from '../kernel/index.js';
import type { AuditHead, Store } from '../storage/port.js';
import { loadOrCreateKeys, readSigner, type AuditKeys } from '../audit/index.js';

/** How long a start waits for a checkpoint of its key made by a node started with it (signingKeysFor). */
const KEY_SIGNS_WITHIN_MS = 10_000;

/**
 * SECURITY: the node's audit keys, only where they cannot reset its trust. A database admin
 * rewrote a chain at rest, deleted its checkpoints and the key files (or put a fresh key pair in
 * their place), and restarted the node: with a key that signed nothing there, its checks — which
 * hold the chain to checkpoints of its own keys, the mirror's included — had nothing to hold it
 * to; it said ok, showed the edit `verified` and signed the forged chain (probes). So a chain with
 * history (records in the store, or checkpoints in the mirror file) is only taken up by the key
 * that signed a checkpoint of it, in the store or the mirror: anything else — no key, or another
 * key — is refused at start, unless the operator says so for this start (`--new-signing-key`);
 * `createdOver` is then the head the key starts from, recorded as `audit.signing_key_created`.
 */
export async function signingKeysFor(
  store: Store,
  dir: string,
  allowNew: boolean,
  mirrorFile: string | undefined,
  mirror: readonly AuditCheckpoint[],
): Promise<{ keys: AuditKeys; createdOver: AuditHead | null }> {
  const head = await store.auditHead();
  const mirrored = new Set(mirror.map((cp) => cp.keyId));
  const history = head.seq > 0 || mirrored.size > 0;
  // Another node sharing the directory makes its key before it appends anything, so a key is
  // there by the time its records are: read it after the head.
  const signer = await readSigner(dir);
  if (!history) return { keys: await loadOrCreateKeys(dir), createdOver: null };
  // SECURITY: when the mirror holds checkpoints, only a key that signed one of them takes the chain
  // up: a store checkpoint of a fresh key is one INSERT for a database admin (a probe).
  if (signer && (mirrored.size === 0 || mirrored.has(signer.keyId))) {
    const signed = async () =>
      (await store.listCheckpoints({ keyId: signer.keyId, limit: 1 })).some(
        (cp) => cp.keyId === signer.keyId,
      );
    if (mirrored.has(signer.keyId) || (await signed()))
      return { keys: await loadOrCreateKeys(dir), createdOver: null };
    // Nodes started together on one key directory: the one that made the key may have appended
    // its seed records and not yet signed its first checkpoint (it does so at start). A key that
    // is the chain's signs within moments; a key put in the directory never does.
    for (const until = Date.now() + KEY_SIGNS_WITHIN_MS; Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 200));
      if (await signed()) return { keys: await loadOrCreateKeys(dir), createdOver: null };
    }
  }
  if (!allowNew) {
    const what = `the store holds ${head.seq} audit records${mirrored.size > 0 ? ` and the checkpoint mirror ${mirrorFile} checkpoints of ${mirrored.size} key(s)` : ''}`;
    throw new MandateError(
      'conflict',
      signer
        ? `the audit signing key in ${dir} (key ${signer.keyId}) signed none of this chain's checkpoints (in the mirror, when it holds any; else in the store), and ${what}: it would vouch for a chain it never checked (a replaced key?). Restore the key directory, or start once with --new-signing-key (MANDATE_NEW_SIGNING_KEY=1) to take this key up deliberately; that start is recorded (audit.signing_key_created)`
        : `the key directory ${dir} holds no audit signing key, but ${what}: a new key would vouch for a chain it never checked. Restore the key directory (audit-signing.pem), or start once with --new-signing-key (MANDATE_NEW_SIGNING_KEY=1) to create a key deliberately; that start is recorded (audit.signing_key_created)`,
    );
  }
  return { keys: await loadOrCreateKeys(dir), createdOver: head };
}
