// Issue 8 §1 and §3 over real HTTP: paths and numbers are decided in the one form the caller meant,
// or refused naming the arg; each refusal next to the allow it guards.
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestMandate,
  disposeAll,
  examplePolicySource,
  tempDir,
  type TestMandate,
} from '../fixtures/mandate.js';
import { KEYS, client, codes, expectError, ok200, type Client } from '../fixtures/http.js';
import { FILES_POLICIES, FILES_SCHEMA, FILES_TOOLS, NUL_PATH } from '../decisions/files-fixture.js';

afterAll(disposeAll);

const FILES_BOT_KEY = 'demo-files-bot';

/** A body sent as raw text, so numbers reach the server exactly as written. */
const rawRefund = (amount: string) =>
  `{"agent":"support-bot","onBehalfOf":"alice","action":"payments.refund","args":{"customerId":"c-42","amount":${amount}}}`;

describe('numbers over HTTP (the example: refund-small allows amount <= 500, alice granted up to 10,000)', () => {
  let t: TestMandate;
  let api: Client;
  beforeAll(async () => {
    t = await createTestMandate({ store: 'sqlite', config: (c) => void delete c.gateway });
    api = client(t.url);
  });

  const post = (raw: string) => api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw });

  it('allows 500 and refuses 500.0000000000000001 (which was decided as 500) with 400 invalid_number naming args.amount', async () => {
    expect(ok200(await post(rawRefund('500'))).effect).toBe('allow');
    expect(ok200(await post(rawRefund('500.0'))).effect).toBe('allow');
    const res = await post(rawRefund('500.0000000000000001'));
    expectError(res, 400, 'invalid_number');
    expect(res.body.error.details).toEqual({
      path: 'args.amount',
      why: expect.stringMatching(/^has no exact double value/),
    });
    expect(res.body.error.message).toMatch(/^args\.amount: 500\.0000000000000001 /);
  });

  it('asks approval for 10000 and refuses 10000.0000000000001 (which passed the 10,000 grant limit)', async () => {
    expect(ok200(await post(rawRefund('10000'))).effect).toBe('approval_required');
    expect(codes(ok200(await post(rawRefund('10001'))))).toEqual(['grant_exceeded']);
    const res = await post(rawRefund('10000.0000000000001'));
    expectError(res, 400, 'invalid_number');
    expect(res.body.error.details).toEqual({
      path: 'args.amount',
      why: expect.stringMatching(/^has no exact double value/),
    });
  });

  it('records no decision for a refused number (only the refusal, issue 9 §1)', async () => {
    const decisions = async () =>
      ok200(await api.get('/v1/audit?type=decision&limit=500', KEYS.admin)).items.length;
    const refusals = async () =>
      ok200(await api.get('/v1/audit?type=request.refused&limit=500', KEYS.admin)).items.length;
    const [d0, r0] = [await decisions(), await refusals()];
    expectError(await post(rawRefund('1e-400')), 400, 'invalid_number');
    expect(await decisions()).toBe(d0);
    expect(await refusals()).toBe(r0 + 1);
  });
});

describe('a decimal arg over HTTP', () => {
  let api: Client;
  beforeAll(async () => {
    const t = await createTestMandate({
      store: 'memory',
      config: (c) => void delete c.gateway,
      tools: (doc) => {
        const r = doc.tools.find((x) => x.action === 'payments.refund')!;
        (r.inputSchema as { properties: Record<string, unknown> }).properties.amount = { type: 'number' };
      },
    });
    api = client(t.url);
    const src = examplePolicySource();
    src.schema = src.schema.replace(
      'args: { customerId: String, amount: Long }',
      'args: { customerId: String, amount: decimal }',
    );
    src.policies['agents.cedar'] = src.policies['agents.cedar']!.replace(
      'context.args.amount <= 500',
      'context.args.amount.lessThanOrEqual(decimal("500.0"))',
    ).replace('context.args.amount > 500', 'context.args.amount.greaterThan(decimal("500.0"))');
    expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
  });

  const refund = (amount: number) => ({
    agent: 'support-bot',
    onBehalfOf: 'alice',
    action: 'payments.refund',
    args: { customerId: 'c-42', amount },
  });

  it('decides 37 as decimal 37.0 (allowed; it was a policy_error deny) and 37.5 as 37.5', async () => {
    const d = ok200(await api.decide(KEYS.supportBot, refund(37)));
    expect(d.errors).toEqual([]);
    expect(d.effect).toBe('allow');
    expect(ok200(await api.decide(KEYS.supportBot, refund(37.5))).effect).toBe('allow');
    expect(ok200(await api.decide(KEYS.supportBot, refund(900))).effect).toBe('approval_required');
  });

  it('refuses 37.12345 with 400 invalid_args naming args.amount (it was a policy_error naming no policy)', async () => {
    const res = await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, json: refund(37.12345) });
    expectError(res, 400, 'invalid_args');
    expect(res.body.error.details).toEqual({ path: 'args.amount' });
  });
});

describe('path args over HTTP, on a real filesystem with a symlink out of the sandbox', () => {
  let api: Client;
  let root: string;
  let sandbox: string;

  beforeAll(async () => {
    root = realpathSync(tempDir('mandate-paths-'));
    sandbox = join(root, 'sandbox');
    mkdirSync(join(sandbox, 'sub'), { recursive: true });
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(sandbox, 'sub', 'a.txt'), 'inside');
    writeFileSync(join(root, 'outside', 'secret.txt'), 'secret');
    symlinkSync(join(root, 'outside'), join(sandbox, 'link'));
    const t = await createTestMandate({
      store: 'memory',
      config: (c) => {
        delete c.gateway;
        c.apiKeys.push({ name: 'files-bot', secret: FILES_BOT_KEY, role: 'agent', subject: 'files-bot' });
      },
      entities: (doc) => {
        doc.agents.push({ id: 'files-bot', roles: ['files'], status: 'active', attributes: {} });
      },
      tools: (doc) => {
        doc.tools.push(
          ...(FILES_TOOLS.map((x) =>
            x.action === 'files.read_text_file'
              ? { ...x, paths: { args: ['path'], resolveSymlinks: true } }
              : x,
          ) as never[]),
        );
      },
    });
    api = client(t.url);
    const policies = { 'files.cedar': FILES_POLICIES['files.cedar'].replaceAll('/srv/sandbox', sandbox) };
    expect((await api.put('/v1/policies', KEYS.admin, { policies, schema: FILES_SCHEMA })).status).toBe(200);
  });

  const read = (path: string) =>
    api.request('POST', '/v1/decisions', {
      key: FILES_BOT_KEY,
      json: { agent: 'files-bot', action: 'files.read_text_file', args: { path } },
    });

  it('allows a file in the sandbox, answering with the canonical resource', async () => {
    const d = ok200(await read(`${sandbox}/./sub//a.txt`));
    expect(d.effect).toBe('allow');
    expect(d.resource).toEqual({ type: 'File', id: `${sandbox}/sub/a.txt` });
  });

  it('denies a traversal, the sibling folder and a symlink that points out', async () => {
    for (const path of [
      `${sandbox}/../outside/secret.txt`,
      `${sandbox}-evil/x`,
      `${sandbox}/link/secret.txt`,
    ]) {
      const d = ok200(await read(path));
      expect(d.effect, path).toBe('deny');
    }
    expect(ok200(await read(`${sandbox}/link/secret.txt`)).resource).toEqual({
      type: 'File',
      id: `${root}/outside/secret.txt`,
    });
  });

  it('refuses a NUL path with 400 invalid_args naming args.path', async () => {
    const res = await read(NUL_PATH.replace('/srv/sandbox', sandbox));
    expectError(res, 400, 'invalid_args');
    expect(res.body.error.details).toEqual({ path: 'args.path' });
  });

  it('POST /v1/policies/test sees the same canonicalisation', async () => {
    const req = (path: string) => ({ agent: 'files-bot', action: 'files.read_text_file', args: { path } });
    const report = ok200(
      await api.post('/v1/policies/test', KEYS.admin, {
        cases: [
          { name: 'inside', request: req(`${sandbox}/sub/../sub/a.txt`), expect: { effect: 'allow' } },
          { name: 'traversal', request: req(`${sandbox}/../outside/secret.txt`), expect: { effect: 'deny' } },
          { name: 'symlink', request: req(`${sandbox}/link/secret.txt`), expect: { effect: 'deny' } },
          {
            name: 'nul',
            request: req(`${sandbox}/a.txt\u0000/../../x`),
            expect: { effect: 'deny', errors: ['invalid_args'] },
          },
        ],
      }),
    );
    expect(report.results.filter((r: { ok: boolean }) => !r.ok)).toEqual([]);
    expect(report.passed).toBe(4);
  });
});
