import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '@mandate/protocol';
import { MandateError, newId, sha256Hex, type Clock, type Logger } from '../kernel/index.js';
import type { ApiKeyOrigin, ApiKeyRecord, Role, Store } from '../storage/port.js';

/** Hash under which an API key secret is stored; the secret itself never is. */
export function apiKeyHash(secret: string): string {
  return sha256Hex('mandate.apikey.v1\0' + secret);
}

/** Is the key refused at `nowMs`: revoked, or past its expiry. */
export function apiKeyDead(key: ApiKeyRecord, nowMs: number): boolean {
  if (key.revokedAt !== null) return true;
  // SECURITY: fail closed — an expiry that does not parse is an expired key, not a key for ever.
  return key.expiresAt !== null && !(Date.parse(key.expiresAt) > nowMs);
}

/** A key as shown to an admin: everything but the hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash'> & { status: 'active' | 'revoked' | 'expired' };

export interface CreateKeyInput {
  role: Role;
  subject: string | null;
  name?: string;
  /** ISO time after which the key is refused; null or absent: no expiry. */
  expiresAt?: string | null;
}

/** A key just made: the secret is in this answer and nowhere else. */
export interface IssuedKey {
  key: ApiKeyView;
  secret: string;
}

/** A key listed in the config file (`apiKeys`). */
export interface ConfigKey {
  name: string;
  secret: string;
  role: Role;
  subject: string | null;
}

export interface KeyServiceDeps {
  store: Store;
  clock: Clock;
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
}

/** API key lifecycle: create, list, revoke, rotate, and the sync of the config's keys at start. */
export interface KeyService {
  create(input: CreateKeyInput, by: string, origin?: ApiKeyOrigin): Promise<IssuedKey>;
  list(): Promise<ApiKeyView[]>;
  revoke(id: string, by: string): Promise<ApiKeyView>;
  /** A new secret for the same role, subject, name and expiry; the old key is revoked at once. */
  rotate(id: string, by: string): Promise<IssuedKey>;
  /**
   * Adds the config's keys that the store lacks, and revokes every key the config once seeded but
   * no longer lists (each with an audit event). A key revoked through the API stays revoked.
   */
  /**
   * Syncs the config's keys at start; answers the names of listed keys the store holds revoked
   * (they stay revoked: a revocation is never undone by a file).
   */
  syncConfigKeys(keys: readonly ConfigKey[]): Promise<{ stillRevoked: string[] }>;
}

export function createKeyService(deps: KeyServiceDeps): KeyService {
  const { store, clock } = deps;
  const iso = () => new Date(clock.now()).toISOString();
  const view = (k: ApiKeyRecord): ApiKeyView => {
    const { hash: _hash, ...rest } = k;
    const status =
      k.revokedAt !== null ? 'revoked' : apiKeyDead(k, clock.now()) ? 'expired' : ('active' as const);
    return { ...rest, status };
  };

  const checkSubject = async (role: Role, subject: string | null) => {
    if (role === 'admin') {
      if (subject !== null) throw new MandateError('bad_request', 'an admin key has no subject');
      return;
    }
    if (!subject) throw new MandateError('bad_request', `subject is required for role ${role}`);
    // A key for someone who does not exist would authenticate as nobody the policies know.
    if (role === 'agent') {
      if (!(await store.getAgent(subject))) throw new MandateError('unknown_agent', `no agent ${subject}`);
    } else if (!(await store.getUser(subject))) {
      throw new MandateError('unknown_user', `no user ${subject} (role ${role} needs a user)`);
    }
  };

  const checkExpiry = (expiresAt: string | null | undefined): string | null => {
    if (expiresAt === undefined || expiresAt === null) return null;
    const t = Date.parse(expiresAt);
    if (!Number.isFinite(t) || t <= clock.now())
      throw new MandateError('bad_request', `expiresAt ${expiresAt} is not a time in the future`);
    return new Date(t).toISOString();
  };

  const issue = async (
    base: Omit<ApiKeyRecord, 'id' | 'hash' | 'createdAt' | 'lastUsedAt' | 'revokedAt'>,
    by: string,
    event: 'key.created' | 'key.rotated',
    extra: Record<string, unknown> = {},
  ): Promise<IssuedKey> => {
    const secret = `mdt_${randomBytes(24).toString('base64url')}`;
    const id = newId('key', clock.now());
    const record: ApiKeyRecord = {
      ...base,
      id,
      name: base.name || id,
      hash: apiKeyHash(secret),
      createdAt: iso(),
      revokedAt: null,
      lastUsedAt: null,
    };
    await store.putApiKey(record);
    await deps.audit({
      type: event,
      data: {
        keyId: id,
        role: record.role,
        subject: record.subject,
        expiresAt: record.expiresAt,
        source: record.origin,
        by,
        ...extra,
      },
    });
    return { key: view(record), secret };
  };

  const revokeOne = async (k: ApiKeyRecord, by: string, reason: string) => {
    const changed = await store.revokeApiKey(k.id, iso());
    if (changed) {
      await deps.audit({
        type: 'key.revoked',
        data: { keyId: k.id, role: k.role, subject: k.subject, by, reason },
      });
    }
    return changed;
  };

  const getOrThrow = async (id: string) => {
    const k = await store.getApiKey(id);
    if (!k) throw new MandateError('not_found', `no API key ${id}`);
    return k;
  };

  return {
    async create(input, by, origin = 'api') {
      await checkSubject(input.role, input.subject);
      const expiresAt = checkExpiry(input.expiresAt);
      return issue(
        { role: input.role, subject: input.subject, name: input.name ?? '', expiresAt, origin },
        by,
        'key.created',
      );
    },

    async list() {
      return (await store.listApiKeys()).map(view);
    },

    async revoke(id, by) {
      const k = await getOrThrow(id);
      if (k.revokedAt !== null) throw new MandateError('conflict', `API key ${id} is already revoked`);
      // Revoked meanwhile — by a rotation racing this revocation, say: this call did not revoke
      // it, and a successor may be live. Said, not answered as done (a probe).
      if (!(await revokeOne(k, by, 'revoked')))
        throw new MandateError(
          'conflict',
          `API key ${id} was revoked or rotated meanwhile: check the key list for a successor`,
        );
      return view((await store.getApiKey(id)) ?? k);
    },

    async rotate(id, by) {
      const old = await getOrThrow(id);
      if (old.revokedAt !== null) throw new MandateError('conflict', `API key ${id} is revoked`);
      if (old.origin === 'config')
        throw new MandateError(
          'conflict',
          `API key ${id} comes from the config file: change its secret there`,
        );
      // SECURITY: rotation never extends a key's life: an expired key is not brought back.
      if (apiKeyDead(old, clock.now()))
        throw new MandateError('conflict', `API key ${id} has expired: create a new key`);
      // SECURITY: the old key is claimed (revoked, atomically) before its successor exists. Issued
      // first, five concurrent rotations made five live successors, and a rotation racing a
      // revocation left a live key after the admin was told "revoked" (a probe).
      if (!(await store.revokeApiKey(old.id, iso())))
        throw new MandateError('conflict', `API key ${id} was revoked or rotated meanwhile`);
      const issued = await issue(
        {
          role: old.role,
          subject: old.subject,
          name: old.name,
          expiresAt: old.expiresAt,
          origin: old.origin,
        },
        by,
        'key.rotated',
        { replaces: old.id },
      );
      await deps.audit({
        type: 'key.revoked',
        data: {
          keyId: old.id,
          role: old.role,
          subject: old.subject,
          by,
          reason: `rotated to ${issued.key.id}`,
        },
      });
      return issued;
    },

    async syncConfigKeys(keys) {
      const wanted = new Set<string>();
      const stillRevoked: string[] = [];
      for (const k of keys) {
        const hash = apiKeyHash(k.secret);
        wanted.add(hash);
        const found = await store.findApiKeyByHash(hash);
        if (found) {
          if (found.revokedAt !== null) stillRevoked.push(k.name);
          // Keys seeded before key origins were recorded (migration 045) are claimed by the config.
          if (found.origin !== 'config' && found.id === `key_${k.name}`)
            await store.putApiKey({ ...found, origin: 'config' });
          continue;
        }
        // A new secret under a known name is a new key; the old record stays (and is revoked below).
        const taken = await store.getApiKey(`key_${k.name}`);
        const id = taken ? `key_${k.name}-${hash.slice(0, 8)}` : `key_${k.name}`;
        await store.putApiKey({
          id,
          hash,
          role: k.role,
          subject: k.subject,
          name: k.name,
          createdAt: iso(),
          revokedAt: null,
          expiresAt: null,
          lastUsedAt: null,
          origin: 'config',
        });
        await deps.audit({
          type: 'key.created',
          data: { keyId: id, role: k.role, subject: k.subject, source: 'config' },
        });
      }
      // SECURITY: a key removed from the config stops working at this start, on every node.
      for (const k of await store.listApiKeys()) {
        if (k.origin === 'config' && k.revokedAt === null && !wanted.has(k.hash))
          await revokeOne(k, 'config', 'no longer listed in the config file');
      }
      return { stillRevoked };
    },
  };
}

/**
 * Records when keys are used without a write per request: at most one `touchApiKey` per key per
 * `everyMs` on this node, started off the request's path (never awaited by it); a failed write is
 * logged and retried at the next use after the interval.
 */
export interface KeyUsage {
  used(keyId: string): void;
  /** Waits for the writes in flight (shutdown, tests). */
  flush(): Promise<void>;
}

export function createKeyUsage(
  deps: { store: Store; clock: Clock; logger: Logger },
  everyMs = 60_000,
): KeyUsage {
  const lastWrite = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  return {
    used(keyId) {
      const now = deps.clock.now();
      const last = lastWrite.get(keyId);
      if (last !== undefined && now - last < everyMs) return;
      lastWrite.set(keyId, now);
      // Bounded: one entry per key id that authenticated, and key ids come from the store.
      const p = deps.store
        .touchApiKey(keyId, new Date(now).toISOString())
        .catch((err: Error) => {
          lastWrite.delete(keyId);
          deps.logger.warn('recording a key use failed', { keyId, error: err.message });
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async flush() {
      await Promise.all([...inFlight]);
    },
  };
}
