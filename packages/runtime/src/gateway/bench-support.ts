import { createServer, type Server as HttpServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { scopedFetch } from './fetch.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

/** A minimal MCP client for benchmarks (the bench folder does not import the SDK itself). */
export interface BenchClient {
  callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean }>;
  listTools(): Promise<string[]>;
  close(): Promise<void>;
}

export async function connectBenchClient(
  url: string,
  headers: Record<string, string> = {},
): Promise<BenchClient> {
  const client = new Client({ name: 'mandate-bench', version: '0.1.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: scopedFetch() }),
  );
  return {
    callTool: async (name, args) =>
      (await client.callTool({ name, arguments: args })) as { isError?: boolean },
    listTools: async () => (await client.listTools()).tools.map((t) => t.name),
    close: () => client.close(),
  };
}

/**
 * A Streamable HTTP MCP server with one `echo` tool: the upstream of the gateway bench. It answers
 * in SSE, the SDK's default (as most servers do), so the direct and gateway paths cost the client
 * the same per response.
 */
export async function startEchoUpstream(
  options: { json?: boolean } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown)
        : undefined;
      const sid = req.headers['mcp-session-id'];
      let t = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!t) {
        const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: options.json ?? false,
          onsessioninitialized: (id) => {
            sessions.set(id, created);
          },
        });
        const server = new Server({ name: 'echo', version: '1.0.0' }, { capabilities: { tools: {} } });
        server.setRequestHandler(ListToolsRequestSchema, async () => ({
          tools: [
            {
              name: 'echo',
              description: 'Echo',
              inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
            },
          ],
        }));
        server.setRequestHandler(CallToolRequestSchema, async (r) => ({
          content: [{ type: 'text', text: JSON.stringify(r.params.arguments ?? {}) }],
        }));
        await server.connect(created);
        t = created;
      }
      await t.handleRequest(req, res, body);
    })();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    async close() {
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}
