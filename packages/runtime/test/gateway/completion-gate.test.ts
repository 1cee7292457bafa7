// A probe's wrong allow: `completion/complete` went to the upstream undecided, so an agent no policy
// let get a prompt or read a resource still had the upstream's values for them (people a prompt
// greets, the ids of its notes) suggested to it. Now a completion goes to an upstream only for an
// agent that could ever be permitted the `<server>.prompts_get` / `<server>.resources_read` it
// completes for there; each refusal with its allowed case beside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { FIXTURES, mcpClient, readLog, startMandate } from './helpers.js';

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "docs.prompts_get" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { name: String, arguments?: { who?: String } } } };
action "docs.resources_read" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { uri: String } } };
action "lab.prompts_get" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { name: String, arguments?: { who?: String } } } };
action "lab.resources_read" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { uri: String } } };
`;
// Support agents may get docs' prompts and read its notes; nobody may touch lab's.
const POLICIES = `
@id("docs-prompts") permit (principal is Agent, action == Action::"docs.prompts_get", resource)
when { principal.roles.contains("support") };
@id("docs-notes") permit (principal is Agent, action == Action::"docs.resources_read", resource)
when { principal.roles.contains("support") && context.args.uri like "mem://docs/notes/*" };
`;
const ENTITIES = {
  agents: [
    { id: 'bot', roles: ['support'], status: 'active', attributes: {} },
    { id: 'intern', roles: [], status: 'active', attributes: {} },
    { id: 'temp', roles: ['support'], status: 'active', attributes: {} },
  ],
  users: [],
  resources: [],
};
const KEYS = [
  { name: 'bot', secret: 'secret-bot-key', role: 'agent' as const, subject: 'bot' },
  { name: 'intern', secret: 'secret-intern-key', role: 'agent' as const, subject: 'intern' },
  { name: 'temp', secret: 'secret-temp-key', role: 'agent' as const, subject: 'temp' },
  { name: 'admin', secret: 'secret-admin-key', role: 'admin' as const, subject: null },
];

type McpErr = { code: number; message: string };

const failure = async (p: Promise<unknown>): Promise<McpErr> => {
  const r = await p.then(
    (ok) => ({ unexpected: ok }),
    (e: McpErr) => e,
  );
  if ('unexpected' in r) throw new Error(`expected a refusal, got ${JSON.stringify(r.unexpected)}`);
  return r;
};

const promptRef = (name: string) => ({
  ref: { type: 'ref/prompt' as const, name },
  argument: { name: 'who', value: 'al' },
});
const templateRef = (uri: string) => ({
  ref: { type: 'ref/resource' as const, uri },
  argument: { name: 'id', value: 's' },
});

describe('MCP gateway: a completion goes only to an agent that could get the prompt or read the resource', () => {
  let m: Mandate;
  let url: string;
  const clients: Client[] = [];
  const base = join(tmpdir(), `gw-complete-${process.pid}-${Date.now()}`);
  const docsLog = `${base}-docs.jsonl`;
  const labLog = `${base}-lab.jsonl`;
  const completions = (log: string) => readLog(log).filter((e) => 'complete' in e);
  const client = async (key: string) => {
    const c = await mcpClient(url, key);
    clients.push(c);
    return c;
  };
  const refusals = async () =>
    (await m.store.queryAudit({ type: 'request.refused', limit: 100 })).map(
      (r) => (JSON.parse(r.eventText) as { data: { code: string; reason: string } }).data,
    );
  const upstream = (name: string, log: string) => ({
    name,
    command: process.execPath,
    args: [join(FIXTURES, 'completion-server.mjs')],
    env: { NAME: name, CALL_LOG: log },
    trustOnFirstUse: true,
  });

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: ENTITIES,
      apiKeys: KEYS,
      gateway: { upstreams: [upstream('docs', docsLog), upstream('lab', labLog)] },
    }));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await m?.close();
  });

  it('completes a prompt argument for an agent that may get the prompt; refuses one that never may', async () => {
    const bot = await client('secret-bot-key');
    const ok = await bot.complete(promptRef('docs.greet'));
    expect(ok.completion.values).toEqual(['docs:alice', 'docs:albert']);
    // The upstream's own prompt name went up, as for prompts/get.
    expect(completions(docsLog).map((e) => e.complete)).toEqual([{ type: 'ref/prompt', name: 'greet' }]);

    // No permit names lab.prompts_get: refused, and lab never hears of it.
    const lab = await failure(bot.complete(promptRef('lab.greet')));
    expect(lab.message).toContain('completion refused by Mandate');
    expect(lab.message).toContain('lab.prompts_get');
    // The permit for docs is for support agents: not the intern's.
    const intern = await client('secret-intern-key');
    const denied = await failure(intern.complete(promptRef('docs.greet')));
    expect(denied.message).toContain('docs.prompts_get');
    expect(completions(labLog)).toEqual([]);
    expect(completions(docsLog)).toHaveLength(1);
  });

  it('completes a resource template argument for an agent that may read it; refuses one that never may', async () => {
    const bot = await client('secret-bot-key');
    const before = completions(docsLog).length;
    const ok = await bot.complete(templateRef('mem://docs/notes/{id}'));
    expect(ok.completion.values).toEqual(['docs:secret-plan', 'docs:salaries']);
    expect(
      completions(docsLog)
        .slice(before)
        .map((e) => e.complete),
    ).toEqual([{ type: 'ref/resource', uri: 'mem://docs/notes/{id}' }]);

    const lab = await failure(bot.complete(templateRef('mem://lab/notes/{id}')));
    expect(lab.message).toContain('lab.resources_read');
    const intern = await client('secret-intern-key');
    const denied = await failure(intern.complete(templateRef('mem://docs/notes/{id}')));
    expect(denied.message).toContain('docs.resources_read');
    expect(completions(labLog)).toEqual([]);
    expect(completions(docsLog)).toHaveLength(before + 1);
  });

  it('refuses an agent suspended since its session opened', async () => {
    const temp = await client('secret-temp-key');
    expect((await temp.complete(promptRef('docs.greet'))).completion.values).toEqual([
      'docs:alice',
      'docs:albert',
    ]);
    const suspended = await fetch(`${url}/v1/agents/temp/suspend`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-admin-key' },
    });
    expect(suspended.status).toBe(200);
    const before = completions(docsLog).length;
    const prompt = await failure(temp.complete(promptRef('docs.greet')));
    expect(prompt.message).toContain('completion refused by Mandate');
    const template = await failure(temp.complete(templateRef('mem://docs/notes/{id}')));
    expect(template.message).toContain('completion refused by Mandate');
    expect(completions(docsLog)).toHaveLength(before);
  });

  it('puts each refusal on the record, naming the rule and the action, never the prompt or URI', async () => {
    const recorded = (await refusals()).filter((r) => r.reason.startsWith('completion/complete:'));
    // Two refusals in each test above.
    expect(recorded).toHaveLength(6);
    expect(recorded.every((r) => r.code === 'forbidden')).toBe(true);
    expect(recorded.some((r) => /greet|notes|mem:/.test(r.reason))).toBe(false);
  });
});
