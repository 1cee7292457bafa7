// What was checked is what runs, both ways. Found by a black-box probe: members of a tools/call's
// params other than name and arguments (`extra`, `task`, the client's own `_meta` keys) reached
// the upstream though nothing decided or recorded them; fields of a tool definition outside its
// pinned hash (`_meta` instructions, `icons`) reached clients unquarantined; and an upstream could
// plant `mandate/approvalId` in the result the client reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Mandate } from '../../src/app/index.js';
import {
  BOT_ENTITIES,
  ECHO_POLICIES,
  ECHO_SCHEMA,
  mcpClient,
  readLog,
  startMandate,
  toolServerUpstream,
} from './helpers.js';

describe('MCP gateway: the upstream gets what was decided, the client what was pinned', () => {
  let m: Mandate;
  let url: string;
  let client: Client;
  const callLog = join(tmpdir(), `gw-exact-${process.pid}-${Date.now()}-calls.jsonl`);

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: ECHO_SCHEMA,
      policies: ECHO_POLICIES,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [toolServerUpstream('tools', { CALL_LOG: callLog, EXTRA_FIELDS: '1' })] },
    }));
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('tools/list shows the pinned fields of a definition only', async () => {
    const { tools } = await client.listTools();
    const echo = tools.find((t) => t.name === 'tools.echo')!;
    expect(echo.description).toBe('Echo text back.');
    expect(echo.inputSchema).toMatchObject({ properties: { text: { type: 'string' } } });
    expect(Object.keys(echo).sort()).toEqual(['description', 'inputSchema', 'name']);
  });

  it('the upstream receives the name, the decided arguments and no other member of the request', async () => {
    const r = await client.request(
      {
        method: 'tools/call',
        params: {
          name: 'tools.echo',
          arguments: { text: 'hi' },
          _meta: { foo: { arguments: { text: 'other' } }, progressToken: 7 },
          extra: { text: 'other' },
          task: { ttl: 1000 },
        },
      } as never,
      CallToolResultSchema,
    );
    expect(r.isError).toBeFalsy();
    const [seen] = readLog(callLog).filter((e) => e.tool === 'echo');
    expect(seen).toMatchObject({ args: { text: 'hi' } });
    expect((seen!.keys as string[]).sort()).toEqual(['_meta', 'arguments', 'name']);
    // Mandate's own progress token only (re-keyed), never the client's keys.
    expect(Object.keys(seen!.meta as object)).toEqual(['progressToken']);
  });

  it("an upstream's mandate/ keys in a progress notification never reach the client; its other keys do", async () => {
    const seen: Record<string, unknown>[] = [];
    const r = await client.callTool(
      { name: 'tools.echo', arguments: { text: 'plant-progress' } },
      undefined,
      {
        onprogress: (p) => seen.push(p as Record<string, unknown>),
      },
    );
    expect(r.isError).toBeFalsy();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ progress: 1, total: 2 });
    const meta = (seen[0]!._meta ?? {}) as Record<string, unknown>;
    expect(
      Object.keys(meta).filter((k) => k.startsWith('mandate/')),
      JSON.stringify(seen[0]),
    ).toEqual([]);
    expect(meta['other/key']).toBe(1);
  });

  it("an upstream's mandate/ keys never reach the client; the decision id is Mandate's", async () => {
    const r = await client.callTool({ name: 'tools.echo', arguments: { text: 'plant' } });
    expect(r.isError).toBeFalsy();
    const meta = r._meta as Record<string, unknown>;
    expect(meta['mandate/approvalId']).toBeUndefined();
    expect(meta['mandate/decisionId']).toMatch(/^dec_(?!FORGED)/);
    expect(meta['other/key']).toBe(1);
    const [rec] = await m.store.queryAudit({ decisionId: String(meta['mandate/decisionId']), limit: 1 });
    expect(rec?.eventText).toContain('"effect":"allow"');
  });
});
