// A black-box probe: a call the gateway forwarded that timed out (or whose upstream crashed) left
// no record of what happened, and the agent could then POST /v1/decisions/:id/outcome {"status":
// "ok"} (201). The gateway now records the outcome of what it forwards (`decision.outcome`), and
// the outcome route refuses an agent's report for a decision the gateway forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { BOT_ENTITIES, ECHO_SCHEMA, mcpClient, startMandate, toolServerUpstream } from './helpers.js';

const SCHEMA = `${ECHO_SCHEMA}
action "tools.hang" appliesTo { principal: [Agent, User], resource: Tool };
`;
const POLICIES = `@id("all") permit (principal is Agent, action in [Action::"tools.echo", Action::"tools.hang"], resource);`;
const BOT = 'secret-bot-key';

describe('MCP gateway: the outcome of a forwarded call is the gateway’s to record', () => {
  let m: Mandate;
  let url: string;
  let client: Client;

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: { upstreams: [toolServerUpstream('tools', {})], callTimeoutMs: 500 },
    }));
    client = await mcpClient(url, BOT);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  const decisionOf = (r: unknown) =>
    String((r as { _meta?: Record<string, unknown> })._meta?.['mandate/decisionId']);
  const outcomes = async (decisionId: string) =>
    (await m.store.queryAudit({ decisionId, type: 'decision.outcome', limit: 10 })).map(
      (r) => (JSON.parse(r.eventText) as { data: Record<string, unknown> }).data,
    );
  const report = (decisionId: string, body: unknown = { status: 'ok', durationMs: 1 }) =>
    fetch(`${url}/v1/decisions/${decisionId}/outcome`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BOT}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('a call that ran is recorded ok', async () => {
    const r = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect(r.isError).toBeFalsy();
    expect(await outcomes(decisionOf(r))).toEqual([expect.objectContaining({ status: 'ok' })]);
  });

  it('a call that timed out is recorded error/timeout, and the agent cannot report it ok', async () => {
    const r = await client.callTool({ name: 'tools.hang', arguments: {} });
    expect(r.isError).toBe(true);
    const id = decisionOf(r);
    expect(await outcomes(id)).toEqual([expect.objectContaining({ status: 'error', errorType: 'timeout' })]);
    const posted = await report(id);
    expect(posted.status).toBe(403);
    expect(await posted.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(await outcomes(id)).toHaveLength(1);
  });

  it('the agent still reports the outcome of a decision it asked for itself and ran (POST /v1/decisions)', async () => {
    const asked = await fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BOT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'bot', action: 'tools.echo', args: { text: 'own' } }),
    });
    expect(asked.status).toBe(200);
    const { decisionId, effect } = (await asked.json()) as { decisionId: string; effect: string };
    expect(effect).toBe('allow');
    expect((await report(decisionId)).status).toBe(201);
    expect(await outcomes(decisionId)).toEqual([expect.objectContaining({ status: 'ok' })]);
  });
});
