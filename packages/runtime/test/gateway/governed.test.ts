import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Mandate } from '../../src/app/index.js';
import { templateMatcher, uriClaimants, uriOwnerOf } from '../../src/gateway/passthrough.js';
import { BOT_ENTITIES, mcpClient, readLog, startMandate, toolServerUpstream } from './helpers.js';

// `resources/read` and `prompts/get` are decided as `<server>.resources_read` / `<server>.prompts_get`.
const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Tool;
action "tools.echo" appliesTo { principal: [Agent, User], resource: Tool };
action "docs.resources_read" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { uri: String } } };
action "docs.prompts_get" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { name: String, arguments?: { who?: String } } } };
action "lab.resources_read" appliesTo { principal: [Agent, User], resource: Tool, context: { args: { uri: String } } };
`;
const POLICIES = `
@id("echo") permit (principal is Agent, action == Action::"tools.echo", resource);
@id("docs-read") permit (principal is Agent, action == Action::"docs.resources_read", resource);
@id("no-secret-notes") @reason("secret notes are off limits")
forbid (principal, action == Action::"docs.resources_read", resource) when { context.args.uri like "mem://docs/notes/secret*" };
@id("docs-prompts") permit (principal is Agent, action == Action::"docs.prompts_get", resource)
unless { context.args has arguments && context.args.arguments has who && context.args.arguments.who == "mallory" };
`;

type McpErr = { code: number; message: string; data?: Record<string, unknown> };

describe('MCP gateway: resources/read and prompts/get are decided and routed to their upstream', () => {
  let m: Mandate;
  let url: string;
  let client: Client;
  const base = join(tmpdir(), `gw-gov-${process.pid}-${Date.now()}`);
  const docsLog = `${base}-docs.jsonl`;
  const labLog = `${base}-lab.jsonl`;

  beforeAll(async () => {
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [
          toolServerUpstream('docs', { CALL_LOG: docsLog, RESOURCES: 'docs' }),
          toolServerUpstream('lab', { CALL_LOG: labLog, RESOURCES: 'lab' }),
        ],
      },
    }));
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  const outcomes = async (decisionId: string) =>
    (await m.store.queryAudit({ decisionId, type: 'decision.outcome', limit: 10 })).map(
      (r) => (JSON.parse(r.eventText) as { data: Record<string, unknown> }).data,
    );
  const reads = (log: string) =>
    readLog(log)
      .filter((e) => 'read' in e)
      .map((e) => e.read);

  it('allows a permitted read, forwards it to the upstream that listed the URI, and records the decision', async () => {
    // No resources/list first: the URI is found in the upstreams' current lists.
    const r = await client.readResource({ uri: 'mem://docs/readme' });
    expect(r.contents[0]).toMatchObject({ text: 'docs: mem://docs/readme' });
    const decisionId = String(r._meta?.['mandate/decisionId']);
    const audit = await m.store.queryAudit({ decisionId, type: 'decision', limit: 1 });
    expect(audit[0]?.columns).toMatchObject({ effect: 'allow', action: 'docs.resources_read' });
    // What ran is the gateway's to record, as for a tools/call (a probe: governed requests had none).
    expect(await outcomes(decisionId)).toEqual([expect.objectContaining({ status: 'ok' })]);
    // The record names the upstream it went to, and the agent cannot add a report of its own.
    expect(JSON.parse(audit[0]!.eventText)).toMatchObject({ data: { upstream: 'docs' } });
    const posted = await fetch(`${url}/v1/decisions/${decisionId}/outcome`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-bot-key', 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'error', durationMs: 1 }),
    });
    expect(posted.status).toBe(403);
    expect(await outcomes(decisionId)).toHaveLength(1);
    // A URI matching the upstream's listed template goes to it too.
    const note = await client.readResource({ uri: 'mem://docs/notes/42' });
    expect(note.contents[0]).toMatchObject({ text: 'docs: mem://docs/notes/42' });
    expect(reads(docsLog)).toEqual(['mem://docs/readme', 'mem://docs/notes/42']);
  });

  it('denies a read no permit allows (default) or a forbid names: the upstream never sees it', async () => {
    const lab = (await client.readResource({ uri: 'mem://lab/readme' }).catch((e: McpErr) => e)) as McpErr;
    expect(lab.message).toContain('denied by Mandate');
    expect(String(lab.data?.['mandate/decisionId'])).toMatch(/^dec_/);
    // Denied: nothing ran, and no outcome is recorded.
    expect(await outcomes(String(lab.data?.['mandate/decisionId']))).toEqual([]);
    const secret = (await client
      .readResource({ uri: 'mem://docs/notes/secret-plan' })
      .catch((e: McpErr) => e)) as McpErr;
    expect(secret.message).toContain('secret notes are off limits');
    expect(reads(labLog)).toEqual([]);
    expect(reads(docsLog)).not.toContain('mem://docs/notes/secret-plan');
    const denied = await m.store.queryAudit({ action: 'lab.resources_read', limit: 5 });
    expect(denied[0]?.columns.effect).toBe('deny');
  });

  it('never forwards a URI that no upstream listed', async () => {
    const before = [...reads(docsLog), ...reads(labLog)].length;
    const r = (await client.readResource({ uri: 'file:///etc/passwd' }).catch((e: McpErr) => e)) as McpErr;
    expect(r.message).toContain('no upstream lists the resource');
    expect([...reads(docsLog), ...reads(labLog)].length).toBe(before);
  });

  it('decides prompts/get on the prompt and its arguments, forwarding only an allowed one', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(['docs.greet', 'lab.greet']);
    const ok = await client.getPrompt({ name: 'docs.greet', arguments: { who: 'alice' } });
    expect(ok.messages[0]?.content).toMatchObject({ text: 'hello alice' });
    expect(String(ok._meta?.['mandate/decisionId'])).toMatch(/^dec_/);
    expect(await outcomes(String(ok._meta?.['mandate/decisionId']))).toEqual([
      expect.objectContaining({ status: 'ok' }),
    ]);
    const bad = (await client
      .getPrompt({ name: 'docs.greet', arguments: { who: 'mallory' } })
      .catch((e: McpErr) => e)) as McpErr;
    expect(bad.message).toContain('denied by Mandate');
    // lab.prompts_get is not even declared: denied as an unknown action, never forwarded.
    const lab = (await client.getPrompt({ name: 'lab.greet' }).catch((e: McpErr) => e)) as McpErr;
    expect(lab.message).toContain('unknown_action');
    const prompts_ = (log: string) => readLog(log).filter((e) => 'prompt' in e);
    expect(prompts_(docsLog).map((e) => e.args)).toEqual([{ who: 'alice' }]);
    expect(prompts_(labLog)).toEqual([]);
  });
});

describe('MCP gateway with one resource-capable upstream', () => {
  let m: Mandate;
  let client: Client;
  let registeredAtStart = false;
  const soloLog = join(tmpdir(), `gw-solo-${process.pid}-${Date.now()}.jsonl`);

  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startMandate({
      schema: SCHEMA,
      policies: POLICIES,
      entities: BOT_ENTITIES,
      gateway: {
        upstreams: [toolServerUpstream('docs', { CALL_LOG: soloLog, RESOURCES: 'docs' })],
      },
    }));
    // Before the start-up listing of the upstream's tools has finished.
    registeredAtStart = m.tools().get('docs.resources_read') !== undefined;
    client = await mcpClient(url, 'secret-bot-key');
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  it('knows the governed actions from the start, not only once the tools are listed', () => {
    expect(registeredAtStart).toBe(true);
  });

  it('does not hand it URIs it never listed', async () => {
    const r = (await client.readResource({ uri: 'file:///etc/passwd' }).catch((e: McpErr) => e)) as McpErr;
    expect(r.message).toContain('no upstream lists the resource');
    const listed = await client.readResource({ uri: 'mem://docs/readme' });
    expect(listed.contents[0]).toMatchObject({ text: 'docs: mem://docs/readme' });
    expect(
      readLog(soloLog)
        .filter((e) => 'read' in e)
        .map((e) => e.read),
    ).toEqual(['mem://docs/readme']);
  });
});

describe('URI routing', () => {
  const tpl = (text: string) => ({ text, re: templateMatcher(text)! });

  it('a simple template variable matches one path segment; an operator expression anything', () => {
    expect(templateMatcher('mem://docs/notes/{id}')!.test('mem://docs/notes/42')).toBe(true);
    expect(templateMatcher('mem://docs/notes/{id}')!.test('mem://docs/notes/42/../../secret')).toBe(false);
    expect(templateMatcher('mem://docs/notes/{id}')!.test('mem://docs/notesX/42')).toBe(false);
    expect(templateMatcher('file:///{+path}')!.test('file:///srv/a/b.txt')).toBe(true);
    expect(templateMatcher('mem://{unclosed')).toBeNull();
  });

  it('goes to the upstream that listed the URI or whose one template matches; never to a guess', () => {
    const listed = new Map([['mem://a/readme', new Set(['a'])]]);
    const templates = new Map([
      ['a', [tpl('mem://a/notes/{id}')]],
      ['b', [tpl('mem://b/{+rest}')]],
    ]);
    expect(uriOwnerOf('mem://a/readme', listed, templates)).toBe('a');
    expect(uriOwnerOf('mem://a/notes/7', listed, templates)).toBe('a');
    expect(uriOwnerOf('mem://b/x/y', listed, templates)).toBe('b');
    expect(uriOwnerOf('mem://c/x', listed, templates)).toBeUndefined();
    // Two upstreams' templates match: neither gets it.
    const clash = new Map([...templates, ['c', [tpl('mem://{+any}')]]]);
    expect(uriOwnerOf('mem://b/x/y', listed, clash)).toBeUndefined();
    // A URI listed by one upstream and matched by another's template is ambiguous too: the exact
    // listing does not win (a probe: a second upstream took another's URIs so).
    expect(uriOwnerOf('mem://a/readme', listed, clash)).toBeUndefined();
    expect(uriClaimants('mem://a/readme', listed, clash)).toEqual(['a', 'c']);
    // So is a URI two upstreams list: the last listing does not win.
    expect(
      uriOwnerOf('mem://a/readme', new Map([['mem://a/readme', new Set(['b', 'a'])]]), templates),
    ).toBeUndefined();
  });
});
