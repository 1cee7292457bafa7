import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import type { Logger } from '../../src/kernel/index.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { BOT_ENTITIES, FIXTURES, fixtureConfig, mcpClient } from './helpers.js';

// The upstream serves echo, refund and hang; the schema declares only echo.
const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool };
`;
const POLICIES = `@id("all-declared") permit (principal is Agent, action, resource);`;

describe('MCP gateway: upstream tools the Cedar schema leaves out are reported, and denied as unknown', () => {
  let m: Mandate;
  let url: string;
  let file: string;
  let policiesDir: string;
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => warnings.push({ msg, ...(fields ? { fields } : {}) }),
    error: () => {},
  };

  beforeAll(async () => {
    ensureBuilt();
    const { config, dir } = fixtureConfig(
      {
        policies: POLICIES,
        schema: SCHEMA,
        entities: BOT_ENTITIES,
        gateway: {
          upstreams: [
            {
              name: 'tools',
              command: process.execPath,
              args: [join(FIXTURES, 'tool-server.mjs')],
              trustOnFirstUse: true,
            },
          ],
        },
      },
      'sqlite:mandate.db',
    );
    policiesDir = join(dir, 'policies');
    const raw = { ...config, store: `sqlite:${join(dir, 'mandate.db')}`, keys: { dir: join(dir, 'keys') } };
    file = join(dir, 'mandate.config.json');
    writeFileSync(file, JSON.stringify(raw));
    m = await createMandate(
      { config: ConfigSchema.parse(raw), file, baseDir: dir, nodeId: 'test' },
      { logger },
    );
    ({ url } = await m.listen());
    await m.gateway!.refresh();
  }, 120_000);

  afterAll(async () => {
    await m?.close();
  });

  it('logs them, hides them, and denies a call with unknown_action — not "no policy permits"', async () => {
    const logged = warnings.filter((w) => w.msg.includes('not declared in the Cedar schema'));
    expect(logged.map((w) => w.fields?.action).sort()).toEqual(['tools.hang', 'tools.refund']);
    const client = await mcpClient(url, 'secret-bot-key');
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['tools.echo']);
      const r = await client.callTool({ name: 'tools.refund', arguments: { customerId: 'c-1', amount: 5 } });
      expect(r.isError).toBe(true);
      const text = (r as { content: { text: string }[] }).content[0]!.text;
      expect(text).toContain('unknown_action');
      expect(text).toContain('not declared in the Cedar schema');
      expect(text).not.toContain('no policy permits');
      // The declared tool is allowed by the same permit.
      const ok = await client.callTool({ name: 'tools.echo', arguments: { text: 'x' } });
      expect(ok.isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });

  it('`mandate tools list` and `mandate policy validate` say so', async () => {
    await m.close();
    const list = await runCli(['tools', 'list', '--json', '-c', file]);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as { action: string; declared: boolean | null }[];
    expect(rows.find((r) => r.action === 'tools.refund')?.declared).toBe(false);
    expect(rows.find((r) => r.action === 'tools.echo')?.declared).toBe(true);
    const text = await runCli(['tools', 'list', '-c', file]);
    expect(text.stdout).toMatch(/tools\.refund is not declared in the Cedar schema/);

    const validate = await runCli(['policy', 'validate', policiesDir, '-c', file]);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain('warning: tools.refund (upstream tools) is not declared in the schema');
    expect(validate.stdout).not.toContain('warning: tools.echo');
  }, 60_000);
});
