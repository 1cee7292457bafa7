// One upstream tool whose input schema does not compile must not take the others with it. Found by a
// black-box probe: upstream `evil` listed `badref` with a $ref that resolves nowhere; the registry
// was rebuilt from every tool at once and threw, the catalogue had already marked that set
// published, so every session's tools/list failed (-32603 "tool evil.badref: invalid input
// schema…") and a tool another upstream added later was denied "no tool is registered" for good.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolSchema } from '@mandate/protocol';
import type { Mandate } from '../../src/app/index.js';
import { isMandateError } from '../../src/kernel/index.js';
import { createToolRegistry } from '../../src/tools/registry.js';
import { mcpClient } from './helpers.js';
import { startLogged, textOf, unrulyUpstream, type Logged } from './unruly.js';

const ACTIONS = ['good.echo', 'good.newtool', 'evil.echo', 'evil.badref'];

describe('MCP gateway: an upstream tool whose input schema does not compile is left out, alone', () => {
  let m: Mandate;
  let url: string;
  let logged: Logged[];
  let client: Client;
  const newtoolFile = join(tmpdir(), `gw-badschema-${process.pid}-${Date.now()}-newtool`);

  beforeAll(async () => {
    ({ m, url, logged } = await startLogged(
      {
        upstreams: [
          unrulyUpstream('evil', { BADREF: '1' }),
          unrulyUpstream('good', { NEWTOOL_FILE: newtoolFile }),
        ],
      },
      ACTIONS,
    ));
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
    if (existsSync(newtoolFile)) rmSync(newtoolFile);
  });

  const schemaWarnings = () => logged.filter((l) => l.msg.includes('input schema does not compile'));

  it('listing every upstream publishes the rest: tools/list works and every other tool is callable', async () => {
    await m.gateway!.refresh();
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(['evil.echo', 'good.echo']);

    const good = await client.callTool({ name: 'good.echo', arguments: { text: 'hi' } });
    expect(textOf(good)).toBe('good:echo:{"text":"hi"}');
    expect(good.isError).toBeFalsy();
    // The same upstream's other tools too.
    const sibling = await client.callTool({ name: 'evil.echo', arguments: { text: 'hi' } });
    expect(sibling.isError).toBeFalsy();
    expect(m.tools().get('good.echo')).toBeDefined();
    expect(
      m
        .tools()
        .list()
        .map((t) => t.action),
    ).not.toContain('evil.badref');
  });

  it('a call to the bad tool is refused naming the schema problem; it is logged once', async () => {
    const r = await client.callTool({ name: 'evil.badref', arguments: { s: 'x' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain('invalid input schema');
    expect(textOf(r)).toContain("can't resolve reference #/definitions/nope");
    // Recorded: the refusal has an id on the trail.
    expect((r._meta as Record<string, unknown> | undefined)?.['mandate/decisionId']).toMatch(/^dec_/);
    await client.listTools();
    await client.listTools();
    expect(schemaWarnings()).toHaveLength(1);
    expect(schemaWarnings()[0]!.fields).toMatchObject({ server: 'evil', action: 'evil.badref' });
    expect(logged.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a tool another upstream adds later is registered, listed and callable', async () => {
    writeFileSync(newtoolFile, '');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('good.newtool');
    expect(m.tools().get('good.newtool')).toBeDefined();
    const r = await client.callTool({ name: 'good.newtool', arguments: {} });
    expect(textOf(r)).toBe('good:newtool:{}');
    expect(r.isError).toBeFalsy();
  });
});

describe('tool registry: derived entries (the gateway’s) that do not compile are left out', () => {
  const ok = ToolSchema.parse({ action: 'good.echo', inputSchema: { type: 'object' } });
  const bad = ToolSchema.parse({
    action: 'evil.badref',
    inputSchema: { type: 'object', properties: { s: { $ref: '#/definitions/nope' } } },
  });

  it('the others are registered; the bad one is not listed and every use of it is refused naming why', () => {
    const r = createToolRegistry([], { derived: [bad, ok] });
    expect(r.list().map((t) => t.action)).toEqual(['good.echo']);
    expect(() => r.validateArgs('good.echo', {})).not.toThrow();
    let refused: unknown;
    try {
      r.validateArgs('evil.badref', { s: 'x' });
    } catch (err) {
      refused = err;
    }
    expect(isMandateError(refused) && refused.code).toBe('bad_request');
    expect((refused as Error).message).toContain("invalid input schema: can't resolve reference");
  });

  it("the registry's own tools still throw on a bad schema; an own entry wins over a derived one", () => {
    expect(() => createToolRegistry([bad])).toThrow(/tool evil\.badref: invalid input schema/);
    const own = ToolSchema.parse({ action: 'good.echo', summary: 'own', inputSchema: { type: 'object' } });
    const r = createToolRegistry([own], { derived: [ok] });
    expect(r.get('good.echo')?.summary).toBe('own');
  });
});
