import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { mcpClient, startExample } from './helpers.js';

/** The fintech example through its own MCP server, as `npm start` runs it (memory store here). */
describe('the example behind the gateway', () => {
  let m: Mandate;
  let url: string;
  const clients: Client[] = [];
  beforeAll(async () => {
    ({ m, url } = await startExample());
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });
  const connect = async (key: string) => {
    const c = await mcpClient(url, key);
    clients.push(c);
    return c;
  };
  const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]!.text;

  it('lists to each agent only the tools its own roles could ever be allowed', async () => {
    const support = await connect('demo-support-bot');
    expect((await support.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'crm.read_customer',
      'payments.refund',
    ]);
    const trader = await connect('demo-trade-bot');
    expect((await trader.listTools()).tools.map((t) => t.name)).toEqual(['trade.place_order']);
  });

  it('runs the README story over MCP: allowed, denied by legal hold, waiting for a finance manager', async () => {
    const support = await connect('demo-support-bot');
    const ok = await support.callTool({
      name: 'payments.refund',
      arguments: { customerId: 'c-42', amount: 100 },
    });
    expect(ok.isError).toBeFalsy();
    expect(String((ok._meta as Record<string, unknown>)['mandate/decisionId'])).toMatch(/^dec_/);
    const frozen = await support.callTool({ name: 'crm.read_customer', arguments: { customerId: 'c-13' } });
    expect(frozen.isError).toBe(true);
    expect(text(frozen)).toContain('legal-hold');
    // The forbid denies both the agent and alice: the model is told once.
    expect(text(frozen).match(/legal-hold:/g)).toHaveLength(1);
    const big = await support.callTool({
      name: 'payments.refund',
      arguments: { customerId: 'c-42', amount: 900 },
    });
    expect(big.isError).toBe(true);
    expect(text(big)).toMatch(/approval required.*finance-manager/);
    // A hidden tool is still decided (and denied) when called by name.
    const trade = await support.callTool({
      name: 'trade.place_order',
      arguments: { symbol: 'ACME', qty: 1, side: 'buy' },
    });
    expect(trade.isError).toBe(true);
  });
});
