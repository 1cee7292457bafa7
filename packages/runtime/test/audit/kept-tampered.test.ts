// A probe (2026-12-02): with `audit.personal.keep: ["args"]` the kept copy of a decision's args is
// their only copy, in a table beside the chain. A database admin changed a kept refund of 450 for
// c-42 into 45 for c-7; verify passed, and query and export showed the forged args as the
// record's. The hashed record now holds a keyed digest of what was kept, and whoever shows the
// kept copy with the args HMAC key shows an edited one as "tampered".
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund, type Client } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

afterAll(disposeAll);

describe('kept-aside args edited beside the chain are shown as tampered, never as the record', () => {
  let t: TestMandate;
  let api: Client;
  let forged: string;
  let untouched: string;

  beforeAll(async () => {
    ensureBuilt();
    t = await createTestMandate({
      store: 'sqlite',
      config: (c) => {
        c.audit = { ...c.audit, personal: { keep: ['args'] } };
      },
    });
    api = client(t.url);
    forged = ok200(await api.decide(KEYS.supportBot, refund(450))).decisionId as string;
    untouched = ok200(await api.decide(KEYS.supportBot, refund(120))).decisionId as string;
    const db = new Database(t.dbFile!);
    try {
      const changed = db
        .prepare('UPDATE personal_data SET data = ? WHERE ref = ?')
        .run(JSON.stringify({ args: { amount: 45, customerId: 'c-7' } }), forged).changes;
      expect(changed).toBe(1);
    } finally {
      db.close();
    }
  }, 60_000);

  const itemOf = async (decisionId: string) =>
    ok200(await api.get(`/v1/audit?decisionId=${decisionId}&type=decision`, KEYS.admin)).items[0] as {
      event: { data: { personal: { digest?: string } } };
      personal: Record<string, unknown>;
    };

  it('GET /v1/audit: the edited copy is "tampered", the untouched one as kept; the record holds the digest', async () => {
    const bad = await itemOf(forged);
    expect(bad.personal).toEqual({ args: 'tampered' });
    expect(JSON.stringify(bad)).not.toContain('c-7');
    expect(bad.event.data.personal.digest).toMatch(/^[0-9a-f]{64}$/);
    const good = await itemOf(untouched);
    expect(good.personal).toEqual({ args: { amount: 120, customerId: 'c-42' } });
  });

  it('the export (API and CLI, which reads the key directory) says so too', async () => {
    const lines = (await api.get('/v1/audit/export', KEYS.admin)).text.trim().split('\n');
    const line = (id: string) =>
      JSON.parse(
        lines.find((l) => l.includes(`"decisionId":"${id}"`) && l.includes('"type":"decision"'))!,
      ) as {
        personal: unknown;
      };
    expect(line(forged).personal).toEqual({ args: 'tampered' });
    expect(line(untouched).personal).toEqual({ args: { amount: 120, customerId: 'c-42' } });
    const cli = await runCli(['audit', 'export', '--config', t.configFile, '--effect', 'allow'], {
      timeoutMs: 60_000,
    });
    expect(cli.code, cli.stderr).toBe(0);
    const cliLine = cli.stdout.split('\n').find((l) => l.includes(`"decisionId":"${forged}"`))!;
    expect(JSON.parse(cliLine).personal).toEqual({ args: 'tampered' });
    expect(cli.stdout).not.toContain('c-7');
  });
});
