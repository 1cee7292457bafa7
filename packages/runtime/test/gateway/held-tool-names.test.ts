// A review: the gateway read an upstream's per-tool hold as `holdForApprovalMs?.[tool]`, so a tool
// named `valueOf` (`toString`, `constructor` …) found Object.prototype's function, `hold > 0` was
// false, and its call answered "approval required" at once instead of being held for the approver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { client, type Client as Api } from '../fixtures/http.js';
import { BOT_ENTITIES, eventually, mcpClient, startMandate, toolServerUpstream } from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "up.valueOf" appliesTo { principal: [Agent, User], resource: Tool };
action "up.echo" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { text: String } } };
`;
const POLICIES = `
@id("needs-approval") @approval("finance-manager")
permit (principal is Agent, action in [Action::"up.valueOf", Action::"up.echo"], resource);
`;

describe('a call held for approval, of an upstream tool named like an Object member', () => {
  let m: Mandate;
  let api: Api;
  let session: Client;
  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        holdForApprovalMs: 30_000,
        // A per-tool map that names another tool: valueOf takes the gateway's default.
        upstreams: [
          { ...toolServerUpstream('up', { PROTO_TOOL: '1' }), holdForApprovalMs: { echo: 30_000 } },
        ],
      },
    }));
    api = client(url);
    session = await mcpClient(url, 'secret-bot-key');
  }, 60_000);
  afterAll(async () => {
    await session?.close();
    await m?.close();
  });

  it.each([
    ['up.valueOf', {}],
    ['up.echo', { text: 'hi' }],
  ])('%s is held until approved, then runs', async (name, args) => {
    const call = session.callTool({ name, arguments: args });
    const pending = await eventually(
      async () =>
        (
          (await api.get('/v1/approvals?status=pending', 'secret-admin-key')).body.items as {
            id: string;
            action: string;
          }[]
        ).find((a) => a.action === name),
      (a) => a !== undefined,
    );
    expect(pending, 'an approval was asked for').toBeDefined();
    expect((await api.approve(pending!.id, 'secret-approver-key')).status).toBe(200);
    const done = await call;
    expect(done.isError, JSON.stringify(done.content)).toBeFalsy();
    expect(JSON.stringify(done.content)).toContain(name.slice('up.'.length));
  });
});
