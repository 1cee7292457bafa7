import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Store } from '../../src/storage/port.js';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';

/** The Postgres URL for driver tests, or undefined to skip them. */
export const POSTGRES_URL = process.env.MANDATE_TEST_POSTGRES_URL;

/** Temp directories, removed by {@link removeTempDirs}. */
const dirs: string[] = [];

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mandate-store-'));
  dirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Fresh random schema names, each dropped by {@link dropSchemas}. */
const schemas: string[] = [];

export function freshSchema(): string {
  const s = `mandate_test_${randomBytes(6).toString('hex')}`;
  schemas.push(s);
  return s;
}

export async function dropSchemas(url: string): Promise<void> {
  const names = schemas.splice(0);
  if (!names.length) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of names) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Two stores on one database append at once: 20 batches of two events, taking turns, all in
 * flight together (40 records when all commit).
 */
export function appendFromBoth(a: Store, b: Store): Promise<unknown> {
  return Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).appendAudit([auditEvent(i), auditEvent(i + 100)], testSealer),
    ),
  );
}
