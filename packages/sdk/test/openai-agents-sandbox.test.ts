import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, run, setTracingDisabled, type MCPServer } from '@openai/agents';
import { SandboxAgent, UnixLocalSandboxClient, memory, shell } from '@openai/agents-core/sandbox/local';
import type { MandateClient } from '../src/index.js';
import { guardAgent } from '../src/adapters/openai-agents.js';
import { disposeAll, exampleClient, spy, type Mode } from './fixtures.js';
import { scriptedAgentsModel, type AgentsTurn } from './models.js';
import { expectGuarded, outputs, refundParams, refundTool } from './agents.js';

setTracingDisabled(true);
const dir = mkdtempSync(join(tmpdir(), 'mandate-sandbox-'));
afterAll(async () => {
  await disposeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A refund for another tenant's customer (denied), then one for alice's own (allowed). */
const refunds = (prefix: string): AgentsTurn[] => [
  { calls: [{ name: 'payments__refund', id: `${prefix}-deny`, args: '{"customerId":"c-77","amount":5}' }] },
  {
    calls: [{ name: 'payments__refund', id: `${prefix}-allow`, args: '{"customerId":"c-42","amount":120}' }],
  },
];
const sandbox = () => ({ sandbox: { client: new UnixLocalSandboxClient() } });
/**
 * Found by a black-box probe: the sandbox runtime runs a SandboxAgent as a clone of it
 * (`agent.clone({ tools: [...agent.tools, ...capability tools] })`), a fresh unguarded instance —
 * its shell's `exec_command`, tools added later, MCP tools and a SandboxAgent handoff target ran
 * with no decision and no audit record.
 */
describe.each<Mode>(['remote', 'embedded'])('OpenAI Agents SandboxAgent, %s Mandate', (mode) => {
  let client: MandateClient;
  beforeAll(async () => {
    client = await exampleClient(mode);
  });
  const options = () => ({
    client,
    agent: 'support-bot',
    onBehalfOf: 'alice',
    outcome: 'await' as const,
    actions: { exec_command: 'sandbox.exec_command', write_stdin: 'sandbox.write_stdin' },
  });
  it('a capability’s tool (the shell’s exec_command) is decided: an action not in the catalogue never runs', async () => {
    const marker = join(dir, `exec-${mode}`);
    const refund = spy(() => 'refunded');
    const agent = guardAgent(
      new SandboxAgent({
        name: 'ops',
        instructions: 'x',
        model: scriptedAgentsModel([
          ...refunds(`sx-${mode}`),
          {
            calls: [
              {
                name: 'exec_command',
                id: `sx-exec-${mode}`,
                args: JSON.stringify({ cmd: `touch ${marker}` }),
              },
            ],
          },
        ]),
        tools: [refundTool(refund)],
        capabilities: [shell()],
      }),
      options(),
    );
    const r = await run(agent, 'go', sandbox());
    expect(existsSync(marker)).toBe(false);
    expect(outputs(r)).toMatch(/Mandate refused sandbox\.exec_command \(decision dec_\w+\): unknown_action/);
    expect(refund.calls).toEqual([{ customerId: 'c-42', amount: 120 }]);
    const audit = await client.withApiKey('demo-admin').audit.query({ action: 'sandbox.exec_command' });
    expect(audit.items).not.toHaveLength(0);
  });

  it('a tool pushed onto the guarded agent, and an MCP server’s tool', async () => {
    const late = spy(() => 'refunded');
    const pushed = guardAgent(
      new SandboxAgent({
        name: 'a',
        instructions: 'x',
        model: scriptedAgentsModel(refunds(`sp-${mode}`)),
        capabilities: [],
      }),
      options(),
    );
    pushed.tools.push(refundTool(late));
    expectGuarded(await run(pushed, 'go', sandbox()), late);

    const viaMcp = spy(() => 'refunded');
    const server = {
      name: 'fintech',
      cacheToolsList: false,
      async connect() {},
      async close() {},
      async invalidateToolsCache() {},
      async listTools() {
        return [{ name: 'payments__refund', description: 'refund', inputSchema: refundParams }];
      },
      async callTool(_name: string, args: Record<string, unknown> | null) {
        viaMcp.body(args ?? {});
        return [{ type: 'text', text: 'refunded' }];
      },
    } as unknown as MCPServer;
    const withMcp = guardAgent(
      new SandboxAgent({
        name: 'a',
        instructions: 'x',
        model: scriptedAgentsModel(refunds(`sm-${mode}`)),
        mcpServers: [server],
        capabilities: [],
      }),
      options(),
    );
    expectGuarded(await run(withMcp, 'go', sandbox()), viaMcp);
  });

  it('a SandboxAgent handoff target, and a clone made of a guarded agent', async () => {
    const refund = spy(() => 'refunded');
    const billing = new SandboxAgent({
      name: 'billing',
      instructions: 'x',
      model: scriptedAgentsModel(refunds(`sh-${mode}`)),
      capabilities: [],
    });
    const front = new Agent({
      name: 'front',
      instructions: 'x',
      model: scriptedAgentsModel([
        { calls: [{ name: 'transfer_to_billing', id: `sh-t-${mode}`, args: '{}' }] },
      ]),
      handoffs: [billing],
    });
    const guarded = guardAgent(front, options());
    // The app gives the guarded target a tool later.
    (guarded.handoffs[0] as SandboxAgent).tools.push(refundTool(refund));
    expectGuarded(await run(guarded, 'go', sandbox()), refund);

    const cloned = spy(() => 'refunded');
    const base = guardAgent(new Agent({ name: 'plain', instructions: 'x' }), options());
    const copy = base.clone({
      tools: [refundTool(cloned)],
      model: scriptedAgentsModel(refunds(`sc-${mode}`)),
    });
    expectGuarded(await run(copy, 'go'), cloned);
  });

  it('memory generation (agents the runtime builds itself) is refused', () => {
    const make = () => new SandboxAgent({ name: 'm', instructions: 'x', capabilities: [shell(), memory()] });
    expect(() => guardAgent(make(), options())).toThrow(/memory capability that generates memories/);
    const guarded = guardAgent(
      new SandboxAgent({ name: 'm', instructions: 'x', capabilities: [] }),
      options(),
    );
    expect(() => guarded.clone({ capabilities: [memory()] })).toThrow(/cannot guard/);
    expect(() =>
      guardAgent(new SandboxAgent({ name: 'r', capabilities: [memory({ generate: null })] }), options()),
    ).not.toThrow();
  });
});
