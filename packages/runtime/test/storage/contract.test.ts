import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { describeStoreContract } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { POSTGRES_URL, dropSchemas, freshSchema, removeTempDirs, tempDir } from './helpers.js';

describeStoreContract('memory', async () => createMemoryStore());

describe('sqlite driver', () => {
  afterAll(removeTempDirs);
  describeStoreContract('sqlite (temp file)', async () =>
    createSqliteStore(join(tempDir(), 'nested', 'mandate.db')),
  );
});

if (POSTGRES_URL) {
  const url = POSTGRES_URL;
  describe('postgres driver', () => {
    afterAll(() => dropSchemas(url));
    describeStoreContract('postgres (fresh schema)', async () =>
      createPostgresStore(url, { schema: freshSchema(), poolSize: 12 }),
    );
  });
} else {
  console.warn('MANDATE_TEST_POSTGRES_URL is not set: the PostgreSQL store contract run was skipped.');
  describe.skip('postgres driver (set MANDATE_TEST_POSTGRES_URL to run)', () => {
    it('runs the store contract against PostgreSQL', () => {});
  });
}
