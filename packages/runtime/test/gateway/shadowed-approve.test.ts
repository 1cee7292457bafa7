// Two upstreams claiming one action (shadowing) stay quarantined on both, whatever their pins say.
// Found by a black-box probe: upstream `shadow` (actionPrefix "", trusted on first use) offered
// payments.refund defined exactly like upstream fintech's. Both were rightly quarantined, yet both
// pins read `approved`, and following the refusal's hint (`mandate tools approve payments.refund`)
// approved whichever upstream was listed last — the shadow one — and handed it every call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ConfigSchema, type ConfigInput } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { BOT_ENTITIES, fixtureConfig, mcpClient, readLog, toolServerUpstream } from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo", "b.echo" appliesTo { principal: [Agent, User], resource: Tool };
`;
const POLICIES = `@id("echo") permit (principal is Agent, action, resource);`;

const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? '';
interface PinRow {
  server: string;
  tool: string;
  action: string | null;
  status: string;
  collidesWith: string[];
}

describe('MCP gateway: an action two upstreams claim is never lifted out of quarantine by a pin', () => {
  let m: Mandate;
  let url: string;
  let client: Client;
  let file: string;
  let raw: ConfigInput;
  let dir: string;
  const logOf = (server: string) => join(dir, `${server}-calls.jsonl`);
  const echoes = (server: string) => readLog(logOf(server)).filter((e) => e.tool === 'echo').length;
  // Upstreams a and b serve the same tools, defined alike; b's prefix is what the admin may change.
  const upstreams = (bPrefix: string) => [
    { ...toolServerUpstream('a', { CALL_LOG: logOf('a') }), actionPrefix: 'tools.' },
    { ...toolServerUpstream('b', { CALL_LOG: logOf('b') }), actionPrefix: bPrefix },
  ];
  const start = async (bPrefix: string) => {
    raw = { ...raw, gateway: { upstreams: upstreams(bPrefix) } };
    writeFileSync(file, JSON.stringify(raw));
    m = await createMandate(
      { config: ConfigSchema.parse(raw), file, baseDir: dir, nodeId: 'test' },
      { logger: silentLogger },
    );
    ({ url } = await m.listen());
    await m.gateway!.refresh();
    client = await mcpClient(url, 'secret-bot-key');
  };
  const stop = async () => {
    await client.close();
    await m.close();
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: 'Bearer secret-admin-key', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const echoPins = async (query = '') =>
    ((await api('GET', `/v1/tools/pins${query}`)).json.items as PinRow[]).filter((p) => p.tool === 'echo');

  beforeAll(async () => {
    ensureBuilt();
    const fixture = fixtureConfig({
      policies: POLICIES,
      schema: SCHEMA,
      entities: BOT_ENTITIES,
      gateway: {},
    });
    dir = fixture.dir;
    raw = { ...fixture.config, store: `sqlite:${join(dir, 'mandate.db')}`, keys: { dir: join(dir, 'keys') } };
    file = join(dir, 'mandate.config.json');
    // Both trusted on first use: both pins read `approved`, and identical definitions hash alike.
    await start('tools.');
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('a call is refused and reaches neither upstream; approving the action is refused (conflict) naming both', async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('tools.echo');
    const refused = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain('quarantined');

    // The refusal's hint, and each upstream's `<server>.<tool>`.
    const approvals = [];
    for (const name of ['tools.echo', 'b.echo', 'a.echo'])
      approvals.push({ name, ...(await api('POST', `/v1/tools/${name}/approve`, {})) });
    // No listing in between: the catalogue as the approvals left it. Before the fix this call ran on b.
    const again = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect([echoes('a'), echoes('b')]).toEqual([0, 0]);
    expect(again.isError).toBe(true);
    expect(text(again)).toContain('quarantined');
    for (const r of approvals) {
      expect(r.status, r.name).toBe(409);
      const error = r.json.error as { code: string; message: string; details: unknown };
      expect(error.code).toBe('conflict');
      expect(error.message).toContain('tools.echo is claimed by upstreams a, b');
      expect(error.message).toContain('actionPrefix');
      expect(error.details).toEqual({ action: 'tools.echo', servers: ['a', 'b'] });
    }
    // Whatever the pins say: both still read approved.
    expect((await m.store.getToolPin('a', 'echo'))?.status).toBe('approved');
    expect((await m.store.getToolPin('b', 'echo'))?.status).toBe('approved');
  });

  it('GET /v1/tools/pins says which upstreams collide (also filtered by server)', async () => {
    expect((await echoPins()).map((p) => [p.server, p.action, p.collidesWith])).toEqual([
      ['a', 'tools.echo', ['b']],
      ['b', 'tools.echo', ['a']],
    ]);
    expect((await echoPins('?server=b')).map((p) => [p.server, p.collidesWith])).toEqual([['b', ['a']]]);
  });

  it('`mandate tools list` shows the collision under the action; `mandate tools approve` refuses it', async () => {
    await stop();
    const json = await runCli(['tools', 'list', '--json', '-c', file]);
    expect(json.code, json.stderr).toBe(0);
    const rows = (JSON.parse(json.stdout) as PinRow[]).filter((p) => p.tool === 'echo');
    expect(rows.map((p) => [p.server, p.action, p.collidesWith])).toEqual([
      ['a', 'tools.echo', ['b']],
      ['b', 'tools.echo', ['a']],
    ]);
    const listed = await runCli(['tools', 'list', '-c', file]);
    expect(listed.stdout).toMatch(/^collision +tools\.echo {2}upstream a .*also claimed by upstream b/m);
    expect(listed.stdout).not.toMatch(/\b[ab]\.echo\b/);
    for (const name of ['tools.echo', 'b.echo']) {
      const r = await runCli(['tools', 'approve', name, '-c', file]);
      expect(r.code, name).not.toBe(0);
      expect(r.stderr).toContain('tools.echo is claimed by upstreams a, b');
    }
  }, 60_000);

  it('resolved as the refusal says (b gets its own actionPrefix): tools.echo runs on a, b.echo on b', async () => {
    await start('b.');
    expect((await echoPins()).map((p) => [p.server, p.action, p.collidesWith])).toEqual([
      ['a', 'tools.echo', []],
      ['b', 'b.echo', []],
    ]);
    const onA = await client.callTool({ name: 'tools.echo', arguments: { text: 'hi' } });
    expect(onA.isError, text(onA)).toBeFalsy();
    expect([echoes('a'), echoes('b')]).toEqual([1, 0]);
    const onB = await client.callTool({ name: 'b.echo', arguments: { text: 'hi' } });
    expect(onB.isError, text(onB)).toBeFalsy();
    expect([echoes('a'), echoes('b')]).toEqual([1, 1]);
  });
});
