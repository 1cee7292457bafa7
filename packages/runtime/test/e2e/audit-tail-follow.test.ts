// `mandate audit tail -f` through the real binary, while a node appends decisions to the same
// SQLite file: every record once, in order, and a clean stop on SIGINT.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, REPO_ROOT, createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, ok200, refund } from '../fixtures/http.js';
import { cliEnv, ensureBuilt } from '../fixtures/cli.js';

beforeAll(() => ensureBuilt());
afterAll(disposeAll);

describe('audit tail -f', () => {
  it('prints each record appended while it follows exactly once, in order, and stops on SIGINT', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    const child = spawn(
      process.execPath,
      [CLI_BIN, 'audit', 'tail', '-f', '-n', '1', '--json', '--config', t.configFile],
      { cwd: REPO_ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Ready once it printed the newest record (-n 1).
    await expect.poll(() => stdout.length, { timeout: 20_000 }).toBeGreaterThan(0);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      ids.push(ok200(await api.decide(KEYS.supportBot, refund(10 + i))).decisionId);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 600));
    }
    await expect.poll(() => stdout.includes(ids.at(-1)!), { timeout: 20_000 }).toBe(true);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; event: { decisionId?: string } });
    const seqs = lines.map((l) => l.seq);
    // No record twice, none skipped: consecutive sequence numbers.
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const printed = new Set(lines.map((l) => l.event.decisionId));
    for (const id of ids) expect(printed.has(id), id).toBe(true);
    await t.close();
  }, 60_000);
});
