import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { ApiKeyRecord, Store } from '../port.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');

/** An API key record with every field, for the contract cases and the fault tests. */
export const apiKey = (id: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id,
  hash: sha256(`secret-${id}`),
  role: 'agent',
  subject: 'agent-a',
  name: `key ${id}`,
  createdAt: '2025-01-01T00:00:00.000Z',
  revokedAt: null,
  expiresAt: null,
  lastUsedAt: null,
  origin: 'cli',
  ...over,
});

/** The API key cases of the storage contract; `s()` is the migrated store of the current case. */
export function describeApiKeyContract(s: () => Store): void {
  describe('api keys', () => {
    it('finds keys by hash, upserts by id and lists them', async () => {
      const store = s();
      const k1 = apiKey('k1');
      const k2 = apiKey('k2', { role: 'admin', subject: null });
      await store.putApiKey(k1);
      await store.putApiKey(k2);
      expect(await store.findApiKeyByHash(k1.hash)).toStrictEqual(k1);
      expect(await store.findApiKeyByHash(k2.hash)).toStrictEqual(k2);
      expect(await store.findApiKeyByHash(sha256('unknown'))).toBeNull();

      const revoked = { ...k1, revokedAt: '2025-01-02T00:00:00.000Z' };
      await store.putApiKey(revoked);
      expect(await store.findApiKeyByHash(k1.hash)).toStrictEqual(revoked);
      expect(await store.listApiKeys()).toStrictEqual([revoked, k2]);
    });

    it('keeps expiry, last use and origin; gets by id', async () => {
      const store = s();
      const k = apiKey('k1', { expiresAt: '2025-02-01T00:00:00.000Z', origin: 'config' });
      await store.putApiKey(k);
      expect(await store.getApiKey('k1')).toStrictEqual(k);
      expect(await store.getApiKey('nope')).toBeNull();
    });

    it('revokes a key once; a second revoke or an unknown id changes nothing', async () => {
      const store = s();
      await store.putApiKey(apiKey('k1'));
      expect(await store.revokeApiKey('k1', '2025-01-02T00:00:00.000Z')).toBe(true);
      expect(await store.revokeApiKey('k1', '2025-01-03T00:00:00.000Z')).toBe(false);
      expect(await store.revokeApiKey('nope', '2025-01-03T00:00:00.000Z')).toBe(false);
      expect((await store.getApiKey('k1'))?.revokedAt).toBe('2025-01-02T00:00:00.000Z');
    });

    it('moves last use forward only and touches nothing else', async () => {
      const store = s();
      const k = apiKey('k1');
      await store.putApiKey(k);
      await store.touchApiKey('k1', '2025-01-05T00:00:00.000Z');
      await store.touchApiKey('k1', '2025-01-04T00:00:00.000Z');
      await store.touchApiKey('nope', '2025-01-04T00:00:00.000Z');
      expect(await store.getApiKey('k1')).toStrictEqual({ ...k, lastUsedAt: '2025-01-05T00:00:00.000Z' });
    });
  });
}
