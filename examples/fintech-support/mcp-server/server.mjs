#!/usr/bin/env node
// The fintech tools as a real MCP server (stdio), run by Mandate's gateway as the upstream "fintech".
// Its tool names are already the action names the example policies use (crm.read_customer …), so the
// config sets `actionPrefix: ""`. The tools only pretend: they print what they would do.
import { readFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

// One source of truth for names, descriptions and schemas: the example's tools file.
const { tools } = JSON.parse(readFileSync(new URL('../tools.json', import.meta.url), 'utf8'));

const run = {
  'crm.read_customer': ({ customerId }) => ({
    customerId,
    name: customerId === 'c-42' ? 'Ada Example' : 'A. Customer',
    tier: 'gold',
  }),
  'payments.refund': ({ customerId, amount }) => ({
    refunded: amount,
    customerId,
    reference: `rf-${Date.now()}`,
  }),
  'trade.place_order': ({ symbol, qty, side }) => ({
    orderId: `ord-${Date.now()}`,
    symbol,
    qty,
    side,
    status: 'accepted',
  }),
  'hr.create_account': ({ employeeId }) => ({ account: `${employeeId}@acme.example`, employeeId }),
};

const server = new Server({ name: 'fintech-tools', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: tools.map((t) => ({ name: t.action, description: t.description, inputSchema: t.inputSchema })),
}));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const fn = run[req.params.name];
  if (!fn) return { isError: true, content: [{ type: 'text', text: `unknown tool ${req.params.name}` }] };
  const result = fn(req.params.arguments ?? {});
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
});
await server.connect(new StdioServerTransport());
