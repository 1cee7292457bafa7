// A black-box probe: a call the gateway forwarded that timed out (or whose upstream crashed) left
// no record of what happened, and the agent could then POST /v1/decisions/:id/outcome {"status":
// "ok"} (201). The gateway now records the outcome of what it forwards (`decision.outcome`), and
// the outcome route refuses an agent's report for a decision the gateway forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import {
  ALICE_GRANTS_BOT,
  BOT_ENTITIES,
  ECHO_SCHEMA,
  mcpClient,
  startMandate,
  toolServerUpstream,
} from './helpers.js';

const SCHEMA = `${ECHO_SCHEMA}
action "tools.hang" appliesTo { principal: [Agent, User], resource: Tool };
`;
const POLICIES = `@id("all") permit (principal is Agent, action in [Action::"tools.echo", Action::"tools.hang"], resource);`;
const BOT = 'secret-bot-key';
const decisionOf = (r: unknown) =>
  String((r as { _meta?: Record<string, unknown> })._meta?.['mandate/decisionId']);

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

describe('MCP gateway: the outcome record names what the decision record names', () => {
  // The gateway builds the outcome from the decision it holds (no lookup of the decision's record):
  // the agent, the user acted for, the action and the resource must be the record's own.
  let m: Mandate;
  let url: string;
  let client: Client;

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Note;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Note };
`,
      policies: `@id("all") permit (principal, action == Action::"tools.echo", resource);`,
      entities: { ...BOT_ENTITIES, resources: [{ type: 'Note', id: 'for-alice', attributes: {} }] },
      // The call's resource comes from its args: the outcome must name the same one.
      tools: [
        {
          action: 'tools.echo',
          description: 'Echo text back.',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
          resource: 'Note::args.text',
        },
      ],
      grants: [ALICE_GRANTS_BOT],
      gateway: { upstreams: [toolServerUpstream('tools', {})], onBehalfOf: { bot: 'alice' } },
    }));
    client = await mcpClient(url, BOT);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('agent, user, action and resource; one outcome per call', async () => {
    const r = await client.callTool({ name: 'tools.echo', arguments: { text: 'for-alice' } });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const decisionId = decisionOf(r);
    const events = (await m.store.queryAudit({ decisionId, limit: 10 })).map(
      (rec) => JSON.parse(rec.eventText) as Record<string, unknown>,
    );
    const fields = (e: Record<string, unknown> | undefined) => ({
      agent: e?.agent,
      user: e?.user,
      action: e?.action,
      resource: e?.resource,
    });
    const decision = events.find((e) => e.type === 'decision');
    const outcomes = events.filter((e) => e.type === 'decision.outcome');
    expect(fields(decision)).toEqual({
      agent: 'bot',
      user: 'alice',
      action: 'tools.echo',
      resource: 'Note::for-alice',
    });
    expect(outcomes).toHaveLength(1);
    expect(fields(outcomes[0])).toEqual(fields(decision));
  });
});
