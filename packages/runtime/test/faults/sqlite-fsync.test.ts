import { fsync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createMandate } from '../../src/app/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { quietSqliteNode } from './helpers.js';

/*
 * docs/adr/0028: the WAL's fsync runs after SQLite's commit, off the event loop. When it fails,
 * the decision whose record it was to make durable must not be answered as allowed — the same
 * fail-closed answer as any other audit failure (503 audit_unavailable) — and the node must not
 * go back to answering after a later fsync succeeds (fsyncgate).
 */

afterAll(disposeAll);

const realFsync = promisify(fsync);

describe('a node whose WAL fsync fails', () => {
  it('answers 503 audit_unavailable (never an allow without a durable record), and keeps refusing; /readyz says so', async () => {
    const { dir, path, configFile } = quietSqliteNode('mandate-fsync-');
    let failing = false;
    const syncWal = (fd: number) =>
      failing
        ? Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))
        : realFsync(fd);
    const m = await createMandate(loadConfig({ configFile }, {}, dir), {
      logger: silentLogger,
      store: createSqliteStore(path, { syncWal }),
    });
    try {
      const api = client((await m.listen()).url);
      // The allow path, with the disk answering.
      const allowed = await api.decide(KEYS.supportBot, refund(120));
      expect(ok200(allowed).effect).toBe('allow');

      failing = true;
      const refused = await api.decide(KEYS.supportBot, refund(120));
      expect(refused.status).toBe(503);
      const body = refused.body as unknown as { error: { code: string }; effect?: string };
      expect(body.error.code).toBe('audit_unavailable');
      expect(body.effect).toBeUndefined();

      // The disk answers again, but what it dropped is not known: still no decision.
      failing = false;
      const again = await api.decide(KEYS.supportBot, refund(120));
      expect(again.status).toBe(503);
      const ready = await api.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, store: 'unavailable', storeReason: 'unreachable' });
      expect(ok200(await api.get('/healthz'))).toEqual({ status: 'ok' });
    } finally {
      await m.close().catch(() => undefined);
    }
  }, 120_000);
});
