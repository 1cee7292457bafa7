// An `exposeBareNames` upstream must not be able to hide another upstream's tool. Found by a
// black-box probe: upstream `bare` listed a tool literally named `good.echo`; the two exposed names
// clashed and both were hidden, so `good.echo` answered "unknown tool" for every agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { mcpClient } from './helpers.js';
import { startLogged, textOf, unrulyUpstream, type Logged } from './unruly.js';

const ACTIONS = ['good.echo', 'good.flood', 'bare.echo', 'bare.flood', 'bare.good.echo'];

describe('MCP gateway: a bare name never takes a namespaced upstream’s own tool', () => {
  let m: Mandate;
  let url: string;
  let logged: Logged[];
  let client: Client;

  beforeAll(async () => {
    ({ m, url, logged } = await startLogged(
      {
        upstreams: [
          unrulyUpstream('good'),
          { ...unrulyUpstream('bare', { SHADOW: 'good.echo' }), exposeBareNames: true },
        ],
      },
      ACTIONS,
    ));
    await m.gateway!.refresh();
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it("good.echo stays good's: listed once, with its own definition, and called on its own upstream", async () => {
    const { tools } = await client.listTools();
    const named = tools.filter((t) => t.name === 'good.echo');
    expect(named).toHaveLength(1);
    expect(named[0]!.description).toBe('Echo text back.');
    const r = await client.callTool({ name: 'good.echo', arguments: { text: 'hi' } });
    expect(r.isError).toBeFalsy();
    expect(textOf(r)).toBe('good:echo:{"text":"hi"}');
  });

  it("the bare upstream's own tools keep their bare names; the shadowing one is left out with a warning", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'flood', 'good.echo', 'good.flood']);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(textOf(r)).toBe('bare:echo:{"text":"hi"}');
    const warned = logged.filter((l) => l.msg.includes("bare name is another upstream's action"));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.fields).toMatchObject({ name: 'good.echo', server: 'bare', owners: ['good'] });
  });
});
