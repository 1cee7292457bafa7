import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { BOT_ENTITIES, FIXTURES, mcpClient, readLog, startMandate } from './helpers.js';

// The fixture's `echo` takes `text`; the gateway's per-tool override declares it a path.
const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { text: String } } };
`;
const POLICIES = `
@id("sandbox-only") permit (principal is Agent, action == Action::"tools.echo", resource)
when { context.args.text like "/srv/sandbox/*" };
`;

const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? '';

describe('MCP gateway: per-upstream `paths` override (issue 8 §1)', () => {
  let m: Mandate;
  let client: Client;
  const callLog = join(tmpdir(), `gw-paths-${process.pid}-${Date.now()}.jsonl`);

  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [
          {
            name: 'tools',
            command: process.execPath,
            args: [join(FIXTURES, 'tool-server.mjs')],
            env: { CALL_LOG: callLog },
            trustOnFirstUse: true,
            paths: { echo: { args: ['text'] } },
          },
        ],
      },
    }));
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  const sent = () => readLog(callLog).map((e) => (e.args as { text: string }).text);

  it('decides on the canonical path and forwards exactly that', async () => {
    const r = await client.callTool({
      name: 'tools.echo',
      arguments: { text: '/srv/sandbox//sub/../a.txt' },
    });
    expect(r.isError).toBeFalsy();
    expect(sent()).toEqual(['/srv/sandbox/a.txt']);
  });

  it('denies a traversal out of the folder and refuses NUL or relative paths; none reaches the upstream', async () => {
    const out = await client.callTool({
      name: 'tools.echo',
      arguments: { text: '/srv/sandbox/../secret.txt' },
    });
    expect(out.isError).toBe(true);
    expect(text(out)).toContain('denied by Mandate');
    const nul = await client.callTool({
      name: 'tools.echo',
      arguments: { text: '/srv/sandbox/a.txt\u0000/../../secret.txt' },
    });
    expect(nul.isError).toBe(true);
    expect(text(nul)).toContain('invalid_args');
    const rel = await client.callTool({ name: 'tools.echo', arguments: { text: 'a.txt' } });
    expect(text(rel)).toContain('invalid_args');
    expect(sent()).toEqual(['/srv/sandbox/a.txt']);
  });
});
