// A black-box probe: an upstream's `mandate/` keys were dropped from its results but not from a
// JSON-RPC error's `data` — the client got `"data":{"mandate/approvalId":"apr_PLANTED",…}`, an
// approval id of the upstream's choosing it would send back. Wherever the upstream's JSON reaches
// the client where Mandate puts its own keys (a result's `_meta`, an error's `data`), they are dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mandate } from '../../src/app/index.js';
import { BOT_ENTITIES, ECHO_SCHEMA, startMandate, toolServerUpstream } from './helpers.js';
import { toolCall, wirePost, wireSession } from './wire.js';

const SCHEMA = `${ECHO_SCHEMA}
action "tools.resources_read" appliesTo { principal: [Agent, User], resource: Tool };
`;
const POLICIES = `@id("all") permit (principal is Agent, action in [Action::"tools.echo", Action::"tools.resources_read"], resource);`;
const BOT = 'secret-bot-key';

describe("MCP gateway: an upstream cannot plant Mandate's _meta keys", () => {
  let m: Mandate;
  let url: string;
  let sessionId: string;

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [toolServerUpstream('tools', { RESOURCES: 'docs', PLANT_META: '1' })] },
    }));
    ({ sessionId } = await wireSession(url, BOT));
  }, 60_000);
  afterAll(async () => {
    await m?.close();
  });

  const answer = async (body: unknown) => {
    const a = await wirePost(url, BOT, sessionId, body);
    expect(a.status, a.text).toBe(200);
    return a.messages.at(-1)!;
  };
  /** Mandate's own decision id is there, and is one Mandate recorded; the upstream's are gone. */
  const expectOwnKeysOnly = async (o: Record<string, unknown> | undefined) => {
    expect(o).toMatchObject({ 'other/key': 1 });
    expect(o).not.toHaveProperty(['mandate/approvalId']);
    const decisionId = o?.['mandate/decisionId'];
    expect(decisionId).not.toBe('dec_PLANTED');
    if (decisionId !== undefined)
      expect(await m.store.queryAudit({ decisionId: String(decisionId), limit: 1 })).toHaveLength(1);
  };

  it("a failed tools/call: the error's data keeps the upstream's keys and Mandate's decision id, not its planted ones", async () => {
    const a = await answer(toolCall(1, 'tools.echo', { text: 'plant-error' }));
    expect(a.error?.message).toMatch(/upstream failed/);
    expect((a.error?.data as Record<string, unknown>)['mandate/decisionId']).toMatch(/^dec_/);
    await expectOwnKeysOnly(a.error?.data as Record<string, unknown>);
  });

  it('a successful tools/call: the same for the result _meta', async () => {
    const a = await answer(toolCall(2, 'tools.echo', { text: 'plant' }));
    expect(a.result?._meta).not.toHaveProperty(['mandate/approvalId']);
    expect(a.result?._meta?.['mandate/decisionId']).toMatch(/^dec_/);
    expect(a.result?._meta?.['mandate/decisionId']).not.toBe('dec_FORGED');
  });

  it("a failed resources/read (decided, then forwarded): the error's data", async () => {
    const a = await answer({
      jsonrpc: '2.0',
      id: 3,
      method: 'resources/read',
      params: { uri: 'mem://docs/plant' },
    });
    expect(a.error?.message).toMatch(/upstream failed/);
    expect((a.error?.data as Record<string, unknown>)['mandate/decisionId']).toMatch(/^dec_/);
    await expectOwnKeysOnly(a.error?.data as Record<string, unknown>);
  });

  it('resources/list (passed through undecided): the result _meta', async () => {
    const a = await answer({ jsonrpc: '2.0', id: 4, method: 'resources/list' });
    expect(a.result?.resources).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'readme' })]),
    );
    await expectOwnKeysOnly(a.result?._meta);
  });
});
