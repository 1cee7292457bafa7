// A schema may declare parents for a resource type (`entity Doc in [Dir]`), and validation cannot
// tell a stored resource's type from a path resource's (the tools say which). Mandate loads no
// parents for a stored resource, so `forbid (…, resource in Dir::"secret")` never fired for a stored
// Doc: the call was allowed (a leftover of the 2026-12-01 probe of entity parents, confirmed here).
// Such a decision is now denied invalid_entity; a path resource keeps its folders as parents.
import { describe, expect, it } from 'vitest';
import { decisionHarness } from './harness.js';
import { FILES_POLICIES, FILES_SCHEMA, FILES_TOOLS } from './files-fixture.js';

const SCHEMA = (docParents: string, toolParents = '') => `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Dir;
entity ToolGroup;
entity Tool${toolParents};
entity Doc${docParents} = { tags: Set<String> };
action "doc.read" appliesTo { principal: [Agent, User], resource: Doc, context: { args: { id: String } } };
action "doc.list" appliesTo { principal: [Agent, User], resource: Tool, context: {} };
`;

const POLICIES = {
  'doc.cedar': `
@id("read") permit (principal is Agent, action, resource);
@id("no-secret") forbid (principal, action, resource in Dir::"secret");
@id("no-admin-tools") forbid (principal, action, resource in ToolGroup::"admin");
`,
};

const TOOLS = [
  {
    action: 'doc.read',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    resource: 'Doc::args.id',
  },
  { action: 'doc.list', inputSchema: { type: 'object' } },
];

const harness = (schema: string) =>
  decisionHarness({
    schema,
    policies: POLICIES,
    tools: TOOLS,
    entities: { resources: [{ type: 'Doc', id: 'd1', tags: [], attributes: {} }] },
  });

describe('parents a schema declares but Mandate never loads', () => {
  it('a stored resource of a type declared with parents: denied invalid_entity, not allowed past the forbid', async () => {
    const h = await harness(SCHEMA(' in [Dir]'));
    const { decision } = await h.decide('doc.read', { id: 'd1' });
    expect(decision.effect).toBe('deny');
    expect(decision.errors).toEqual([
      {
        code: 'invalid_entity',
        message: expect.stringMatching(
          /^resource Doc::"d1": the policy schema declares parent types \(in \[Dir\]\) for Doc, but Mandate loads no parents for a stored resource/,
        ),
      },
    ]);
  });

  it('the same call without parent types in the schema: allowed (the forbid names a group nothing is in)', async () => {
    const h = await harness(SCHEMA(''));
    const { decision } = await h.decide('doc.read', { id: 'd1' });
    expect(decision.effect).toBe('allow');
    expect(decision.errors).toEqual([]);
  });

  it('a call without a resource (Tool) whose type is declared with parents: denied invalid_entity', async () => {
    const h = await harness(SCHEMA('', ' in [ToolGroup]'));
    const { decision } = await h.decide('doc.list', {});
    expect(decision.effect).toBe('deny');
    expect(decision.errors[0]?.code).toBe('invalid_entity');
    expect(decision.errors[0]?.message).toMatch(/call without a resource \(Tool\)/);
    // …while the Doc tool of the same set, whose type declares none, is still decided by policy.
    expect((await h.decide('doc.read', { id: 'd1' })).decision.effect).toBe('allow');
  });

  it('a path resource keeps its folders as parents: allowed under the folder, denied outside', async () => {
    const h = await decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools: FILES_TOOLS });
    expect((await h.decide('files.read_text_file', { path: '/srv/sandbox/a.txt' })).decision.effect).toBe(
      'allow',
    );
    const outside = (await h.decide('files.read_text_file', { path: '/srv/other/a.txt' })).decision;
    expect(outside.effect).toBe('deny');
    expect(outside.errors).toEqual([]);
  });

  it('a path resource whose type declares a parent type its folders are not: denied invalid_entity', async () => {
    const schema = FILES_SCHEMA.replace('entity File in [Dir]', 'entity Vault; entity File in [Dir, Vault]');
    const h = await decisionHarness({ schema, policies: FILES_POLICIES, tools: FILES_TOOLS });
    const { decision } = await h.decide('files.read_text_file', { path: '/srv/sandbox/a.txt' });
    expect(decision.effect).toBe('deny');
    expect(decision.errors[0]?.message).toMatch(
      /declares parent types \(in \[Vault\]\) for File, but this resource is a path whose folders are Dir entities/,
    );
  });

  it('an attribute naming an entity of a type declared with parents: denied, not allowed past `in` on it', async () => {
    // A re-probe: `resource.workdir in Dir::"/srv/secret"` never held for a job in /srv/secret/keys
    // (the entity an attribute names reaches the engine without parents): the job ran.
    const schema = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Dir in [Dir];
entity Job = { tags: Set<String>, workdir: Dir };
entity Tool;
action "jobs.run" appliesTo { principal: [Agent, User], resource: Job, context: { args: { jobId: String } } };
`;
    const h = await decisionHarness({
      schema,
      policies: {
        'jobs.cedar': `
@id("run") permit (principal is Agent, action, resource);
@id("no-secret-jobs") forbid (principal, action, resource) when { resource.workdir in Dir::"/srv/secret" };
`,
      },
      tools: [
        {
          action: 'jobs.run',
          inputSchema: { type: 'object', properties: { jobId: { type: 'string' } }, required: ['jobId'] },
          resource: 'Job::args.jobId',
        },
      ],
      entities: {
        resources: [
          {
            type: 'Job',
            id: 'j1',
            tags: [],
            attributes: { workdir: { __entity: { type: 'Dir', id: '/srv/secret/keys' } } },
          },
        ],
      },
    });
    const { decision } = await h.decide('jobs.run', { jobId: 'j1' });
    expect(decision.effect).toBe('deny');
    expect(decision.errors).toEqual([
      {
        code: 'invalid_entity',
        message: expect.stringMatching(
          /^entity Job::"j1" attribute workdir: names an entity of type Dir, which the policy schema declares with parent types/,
        ),
      },
    ]);
  });
});
