// The AuthZEN Authorization API 1.0 door (issue 12 §4): the certification scenario's fixture
// (subjects alice and bob with role admin, record-1 active and record-2 archived, actions read,
// write, delete), the spec's structural rules, and the mapping onto Mandate's decision path: the
// same credentials, the same audit record before the answer, the resource checked against the args.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, tempDir, type TestMandate } from '../fixtures/mandate.js';
import { KEYS, client, expectError, type Client, type Json } from '../fixtures/http.js';

afterAll(disposeAll);

const SCHEMA = `
entity Agent = { roles: Set<String>, status: String };
entity User = { roles: Set<String>, status: String };
entity Record = { status: String, tags: Set<String> };
type Time = { hour: Long, minute: Long, weekday: String, date: String, epochSeconds: Long };
type Grant = { id: String, ageSeconds: Long, expiresInSeconds: Long };
type Ctx = { args: { recordId: String }, time: Time, intent?: String, onBehalfOf?: User, agent?: Agent, grant?: Grant };
action "record.read" appliesTo { principal: [Agent, User], resource: Record, context: Ctx };
action "record.write" appliesTo { principal: [Agent, User], resource: Record, context: Ctx };
action "record.delete" appliesTo { principal: [Agent, User], resource: Record, context: Ctx };
`;
const POLICIES = `
@id("pep-may-ask") permit (principal is Agent, action in [Action::"record.read", Action::"record.write", Action::"record.delete"], resource is Record) when { principal.roles.contains("pep") };
@id("admins-read") @reason("admins read every record")
permit (principal is User, action == Action::"record.read", resource is Record) when { principal.roles.contains("admin") };
@id("admins-change-active") @reason("admins change active records only")
permit (principal is User, action in [Action::"record.write", Action::"record.delete"], resource is Record) when { principal.roles.contains("admin") && resource.status == "active" };
`;
const PEP_KEY = 'authzen-pep-secret';

/** A Mandate holding the AuthZEN certification fixture, with an agent `pep` (the gateway) acting for each user. */
async function certificationMandate(): Promise<TestMandate> {
  const dir = tempDir('mandate-authzen-');
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  writeFileSync(join(policies, 'schema.cedarschema'), SCHEMA);
  writeFileSync(join(policies, 'records.cedar'), POLICIES);
  const tool = (verb: string) => ({
    action: `record.${verb}`,
    resource: 'Record::args.recordId',
    inputSchema: { type: 'object', properties: { recordId: { type: 'string' } }, required: ['recordId'] },
  });
  writeFileSync(join(dir, 'tools.json'), JSON.stringify({ tools: ['read', 'write', 'delete'].map(tool) }));
  writeFileSync(
    join(dir, 'entities.json'),
    JSON.stringify({
      agents: [{ id: 'pep', roles: ['pep'], owner: 'platform', status: 'active' }],
      users: [
        { id: 'alice', roles: ['admin'] },
        { id: 'bob', roles: ['admin'] },
        { id: 'carol', roles: ['viewer'] },
      ],
      resources: [
        { type: 'Record', id: 'record-1', attributes: { status: 'active' }, tags: [] },
        { type: 'Record', id: 'record-2', attributes: { status: 'archived' }, tags: [] },
      ],
    }),
  );
  return createTestMandate({
    config: (c) => {
      c.policies = { ...c.policies, dir: policies };
      c.tools = join(dir, 'tools.json');
      c.entities = join(dir, 'entities.json');
      c.grants = ['alice', 'bob', 'carol'].map((user) => ({
        user,
        agent: 'pep',
        actions: ['record.*'],
        expiresIn: '30d',
      }));
      c.apiKeys = [
        { name: 'admin', secret: KEYS.admin, role: 'admin', subject: null },
        { name: 'pep', secret: PEP_KEY, role: 'agent', subject: 'pep' },
      ];
    },
  });
}

const ask = (subject: string, action: string, record: string, extra: Record<string, unknown> = {}) => ({
  subject: { type: 'user', id: subject },
  action: { name: action },
  resource: { type: 'Record', id: record },
  context: { args: { recordId: record } },
  ...extra,
});

describe('AuthZEN certification fixture', () => {
  let t: TestMandate;
  let api: Client;
  beforeAll(async () => {
    t = await certificationMandate();
    api = client(t.url);
  });

  // Expected answers: admins read everything, change only active records; a non-admin nothing.
  const matrix: [string, string, string, boolean][] = [];
  for (const user of ['alice', 'bob'])
    for (const [action, r1, r2] of [
      ['read', true, true],
      ['write', true, false],
      ['delete', true, false],
    ] as const) {
      matrix.push([user, action, 'record-1', r1], [user, action, 'record-2', r2]);
    }
  for (const action of ['read', 'write', 'delete']) matrix.push(['carol', action, 'record-1', false]);

  it('answers every evaluation of the fixture as expected, each recorded on the audit trail before the answer', async () => {
    for (const [user, action, record, expected] of matrix) {
      const r = await api.post('/access/v1/evaluation', PEP_KEY, ask(user, action, record));
      expect(r.status, r.text).toBe(200);
      expect({ user, action, record, decision: r.body.decision }).toEqual({
        user,
        action,
        record,
        decision: expected,
      });
      expect(Object.keys(r.body).sort()).toEqual(['context', 'decision']);
      // The Mandate decision id in the context names a committed audit record with the same effect.
      const rec = await api.get(`/v1/decisions/${r.body.context.decision_id}`, KEYS.admin);
      expect(rec.status).toBe(200);
      expect(rec.body).toMatchObject({
        agent: 'pep',
        user,
        action: `record.${action}`,
        resource: `Record::${record}`,
        effect: expected ? 'allow' : 'deny',
      });
    }
  });

  it('names the policies behind the answer in the response context', async () => {
    const yes = await api.post('/access/v1/evaluation', PEP_KEY, ask('alice', 'write', 'record-1'));
    expect(yes.body.context.reasons.map((r: Json) => r.policy_id).sort()).toEqual([
      'admins-change-active',
      'pep-may-ask',
    ]);
    const no = await api.post('/access/v1/evaluation', PEP_KEY, ask('alice', 'write', 'record-2'));
    expect(no.body).toMatchObject({ decision: false, context: { effect: 'deny' } });
    expect(no.body.context.reasons.map((r: Json) => r.policy_id)).toEqual(['mandate.default_deny']);
  });

  it('batch: top-level values are defaults each evaluation overrides; execute_all answers every one in order', async () => {
    const r = await api.post('/access/v1/evaluations', PEP_KEY, {
      subject: { type: 'user', id: 'bob' },
      resource: { type: 'Record', id: 'record-2' },
      context: { args: { recordId: 'record-2' } },
      evaluations: [
        { action: { name: 'read' } },
        { action: { name: 'write' } },
        {
          action: { name: 'write' },
          resource: { type: 'Record', id: 'record-1' },
          context: { args: { recordId: 'record-1' } },
        },
        { action: { name: 'delete' } },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(Object.keys(r.body)).toEqual(['evaluations']);
    expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true, false]);
  });

  it('batch: deny_on_first_deny stops after the first deny, permit_on_first_permit after the first permit', async () => {
    const evaluations = [
      { action: { name: 'read' } },
      { action: { name: 'delete' } },
      { action: { name: 'read' } },
    ];
    const base = {
      subject: { type: 'user', id: 'alice' },
      resource: { type: 'Record', id: 'record-2' },
      context: { args: { recordId: 'record-2' } },
      evaluations,
    };
    const deny = await api.post('/access/v1/evaluations', PEP_KEY, {
      ...base,
      options: { evaluations_semantic: 'deny_on_first_deny' },
    });
    expect(deny.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false]);
    const permit = await api.post('/access/v1/evaluations', PEP_KEY, {
      ...base,
      evaluations: [{ action: { name: 'write' } }, ...evaluations],
      options: { evaluations_semantic: 'permit_on_first_permit' },
    });
    expect(permit.body.evaluations.map((e: Json) => e.decision)).toEqual([false, true]);
    const all = await api.post('/access/v1/evaluations', PEP_KEY, {
      ...base,
      options: { evaluations_semantic: 'execute_all' },
    });
    expect(all.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
  });

  it('batch without evaluations is one evaluation, answered in the single shape', async () => {
    const r = await api.post('/access/v1/evaluations', PEP_KEY, ask('alice', 'read', 'record-2'));
    expect(r.status).toBe(200);
    expect(r.body.decision).toBe(true);
    expect(r.body.evaluations).toBeUndefined();
  });

  it('batch: an evaluation that cannot be decided is decision false with its error; the others are decided', async () => {
    const r = await api.post('/access/v1/evaluations', PEP_KEY, {
      subject: { type: 'user', id: 'alice' },
      evaluations: [
        {
          action: { name: 'read' },
          resource: { type: 'Record', id: 'record-1' },
          context: { args: { recordId: 'record-1' } },
        },
        { action: { name: 'read' } },
        {
          action: { name: 'read' },
          resource: { type: 'Record', id: 'record-2' },
          context: { args: { recordId: 'record-2' } },
        },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
    expect(r.body.evaluations[1].context.error).toMatchObject({ status: 400, code: 'bad_request' });
  });

  it('batch: an entry refused before the decision path is a request.refused record, as it is sent alone; one refused on the path names its decision', async () => {
    const refused = async () =>
      (await t.m.store.queryAudit({ type: 'request.refused', limit: 1000 })).map(
        (r) => JSON.parse(r.eventText) as Json,
      );
    const before = (await refused()).length;
    const r = await api.post('/access/v1/evaluations', PEP_KEY, {
      evaluations: [
        ask('alice', 'read', 'record-1', { subject: { type: 'group', id: 'admins' } }),
        { subject: { type: 'user', id: 'alice' }, action: { name: 'read' } },
        ask('alice', 'read', 'record-1', { context: { args: { recordId: 7 } } }),
        ask('alice', 'read', 'record-1'),
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.evaluations.map((e: Json) => e.decision)).toEqual([false, false, false, true]);
    const after = await refused();
    const batch = after.slice(before).filter((e) => e.data.route === 'POST /access/v1/evaluations');
    expect(
      batch.map((e) => e.data.reason),
      'each entry refused before the decision path is on the record',
    ).toEqual(['subject.type: "group" is neither user nor agent', expect.stringContaining('resource:')]);
    for (const e of batch)
      expect(e.data).toMatchObject({ code: 'bad_request', caller: { keyId: 'key_pep' } });
    // Refused on the decision path (args that do not fit the tool): recorded there, and named.
    const onPath = r.body.evaluations[2].context;
    expect(onPath.error).toMatchObject({ code: 'invalid_args' });
    expect(after.find((e) => e.decisionId === onPath.decision_id)?.data).toMatchObject({
      code: 'invalid_args',
      route: 'decision',
    });
  });

  it('ignores unknown fields and echoes X-Request-ID', async () => {
    const r = await api.request('POST', '/access/v1/evaluation', {
      key: PEP_KEY,
      headers: { 'x-request-id': 'pep-trace-123' },
      json: {
        ...ask('bob', 'read', 'record-1'),
        subject: { type: 'user', id: 'bob', properties: { department: 'ops' }, extra: 1 },
        somethingNew: { nested: true },
      },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.decision).toBe(true);
    expect(r.headers.get('x-request-id')).toBe('pep-trace-123');
    // Echoed on refusals too.
    const bad = await api.request('POST', '/access/v1/evaluation', {
      key: null,
      headers: { 'x-request-id': 'pep-trace-124' },
      json: ask('bob', 'read', 'record-1'),
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('x-request-id')).toBe('pep-trace-124');
  });

  it('answers 400 for malformed requests, 401 without a credential, 403 for a role that cannot ask', async () => {
    for (const body of [
      { action: { name: 'read' }, resource: { type: 'Record', id: 'record-1' } },
      { ...ask('alice', 'read', 'record-1'), subject: { type: 'user', id: 42 } },
      { ...ask('alice', 'read', 'record-1'), action: {} },
      { ...ask('alice', 'read', 'record-1'), subject: { type: 'group', id: 'admins' } },
      { ...ask('alice', 'Read Everything', 'record-1') },
    ]) {
      const r = await api.post('/access/v1/evaluation', PEP_KEY, body);
      expectError(r, 400, 'bad_request');
    }
    const notJson = await api.request('POST', '/access/v1/evaluation', { key: PEP_KEY, raw: '{"subject":' });
    expectError(notJson, 400, 'invalid_json');
    expectError(
      await api.post('/access/v1/evaluation', null, ask('alice', 'read', 'record-1')),
      401,
      'unauthenticated',
    );
    const batch = await api.post('/access/v1/evaluations', PEP_KEY, { evaluations: 'all of them' });
    expectError(batch, 400, 'bad_request');
  });

  it('a resource that is not the one the args identify is a deny, recorded as resource_mismatch', async () => {
    const r = await api.post('/access/v1/evaluation', PEP_KEY, {
      ...ask('alice', 'delete', 'record-1'),
      // The PEP claims record-1 (active) while the args, which the tool acts on, name record-2.
      context: { args: { recordId: 'record-2' } },
    });
    expect(r.status).toBe(200);
    expect(r.body.decision).toBe(false);
    expect(r.body.context.errors.map((e: Json) => e.code)).toEqual(['resource_mismatch']);
    const rec = await api.get(`/v1/decisions/${r.body.context.decision_id}`, KEYS.admin);
    expect(rec.body).toMatchObject({ effect: 'deny', errors: [{ code: 'resource_mismatch' }] });
    // The allow next to it: the same call with matching resource and args.
    const ok = await api.post('/access/v1/evaluation', PEP_KEY, ask('alice', 'delete', 'record-1'));
    expect(ok.body.decision).toBe(true);
  });

  it('the agent is the credential’s: context.agent naming another agent is refused', async () => {
    const r = await api.post('/access/v1/evaluation', PEP_KEY, {
      ...ask('alice', 'read', 'record-1'),
      context: { agent: 'someone-else', args: { recordId: 'record-1' } },
    });
    expectError(r, 403, 'agent_mismatch');
  });

  it('publishes the discovery document', async () => {
    const r = await api.get('/.well-known/authzen-configuration');
    expect(r.status).toBe(200);
    const base = new URL(t.url).origin;
    expect(r.body).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    });
  });
});

describe('AuthZEN on the example: approvals reach an AuthZEN caller', () => {
  let api: Client;
  beforeAll(async () => {
    api = client((await createTestMandate()).url);
  });
  const refund = (amount: number, context: Record<string, unknown> = {}) => ({
    subject: { type: 'user', id: 'alice' },
    action: { name: 'payments.refund' },
    resource: { type: 'Customer', id: 'c-42' },
    context: { args: { customerId: 'c-42', amount }, ...context },
  });

  it('a small refund is true; a large one is false with the pending approval, and true once approved, once', async () => {
    const small = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(120));
    expect(small.body.decision).toBe(true);
    const large = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(900));
    expect(large.body).toMatchObject({
      decision: false,
      context: { effect: 'approval_required', approval: { status: 'pending', role: 'finance-manager' } },
    });
    const approvalId = large.body.context.approval.id as string;
    expect((await api.approve(approvalId, KEYS.frank, { comment: 'ok' })).status).toBe(200);
    const retry = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(900, { approvalId }));
    expect(retry.body).toMatchObject({ decision: true, context: { approval: { id: approvalId } } });
    const replay = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(900, { approvalId }));
    expect(replay.body.decision).toBe(false);
    expect(replay.body.context.errors.map((e: Json) => e.code)).toEqual(['approval_consumed']);
  });

  it('the approval is bound to the exact call: another amount with it is false', async () => {
    const large = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(800));
    const approvalId = large.body.context.approval.id as string;
    await api.approve(approvalId, KEYS.frank, {});
    const other = await api.post('/access/v1/evaluation', KEYS.supportBot, refund(799, { approvalId }));
    expect(other.body.decision).toBe(false);
  });
});
