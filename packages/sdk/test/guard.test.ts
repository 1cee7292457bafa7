import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, decodePending, guardTool, guardTools, type MandateClient } from '../src/index.js';
import { hasDuplicateKeys } from '../src/guard/json.js';
import { createToolRunner } from '../src/adapters/openai.js';
import { KEYS, disposeAll, exampleClient, spy } from './fixtures.js';

afterAll(disposeAll);

const base = { agent: 'support-bot', onBehalfOf: 'alice', outcome: 'await' as const };

describe('guardTool against an embedded Mandate', () => {
  let client: MandateClient;
  let frank: MandateClient;
  let admin: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('embedded');
    frank = client.withApiKey(KEYS.frank);
    admin = client.withApiKey(KEYS.admin);
  });

  it('allow runs the body once and records its outcome; deny returns a refusal and never runs it', async () => {
    const s = spy(() => 'ok');
    const refund = guardTool(s.body, { ...base, client, action: 'payments.refund' });
    const ok = await refund({ customerId: 'c-42', amount: 120 });
    expect(ok).toMatchObject({ status: 'ok', value: 'ok', args: { customerId: 'c-42', amount: 120 } });
    const denied = await refund({ customerId: 'c-77', amount: 120 });
    expect(denied.status).toBe('denied');
    expect(s.calls).toHaveLength(1);
    const trail = await admin.audit.query({ decisionId: ok.decisionId });
    expect(trail.items.map((r) => [r.event.type, r.event.data.status])).toEqual([
      ['decision', undefined],
      ['decision.outcome', 'ok'],
    ]);
  });

  it('a body that throws is reported as an error outcome (a code-like type, no message) and the error goes on', async () => {
    class LedgerDown extends Error {
      override name = 'LedgerDown';
    }
    const refund = guardTool(
      () => {
        throw new LedgerDown('ledger at 10.0.0.7 refused customer Ada');
      },
      { ...base, client, action: 'payments.refund' },
    );
    await expect(refund({ customerId: 'c-42', amount: 121 })).rejects.toBeInstanceOf(LedgerDown);
    const outcomes = await admin.audit.query({ type: 'decision.outcome' });
    const last = outcomes.items.at(-1)!.event;
    expect(last.data).toMatchObject({ status: 'error', errorType: 'LedgerDown' });
    expect(JSON.stringify(last)).not.toContain('Ada');
  });

  it('waits for the approver (bounded), then re-submits with the approval id and runs once', async () => {
    const s = spy(() => 'paid');
    const refund = guardTool(s.body, {
      ...base,
      client,
      action: 'payments.refund',
      approval: { waitMs: 10_000 },
    });
    const running = refund({ customerId: 'c-42', amount: 941 });
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      id = (await frank.approvals.list({ status: 'pending' })).find((a) => a.args.amount === 941)?.id;
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    await frank.approvals.approve(id!);
    expect(await running).toMatchObject({ status: 'ok', value: 'paid' });
    expect(s.calls).toEqual([{ customerId: 'c-42', amount: 941 }]);
  });

  it('the wait is bounded (pending after waitMs) and cancellable (AbortSignal); nothing runs', async () => {
    const s = spy();
    const refund = guardTool(s.body, {
      ...base,
      client,
      action: 'payments.refund',
      approval: { waitMs: 300 },
    });
    const r = await refund({ customerId: 'c-42', amount: 942 });
    expect(r.status).toBe('pending');
    const ac = new AbortController();
    const long = guardTool(s.body, {
      ...base,
      client,
      action: 'payments.refund',
      approval: { waitMs: 60_000 },
    });
    const running = long({ customerId: 'c-42', amount: 943 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const started = performance.now();
    const settled = await running.then(
      (v) => v.status,
      (e: { code?: string }) => e.code,
    );
    expect(['pending', 'aborted']).toContain(settled);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(s.calls).toEqual([]);
  });

  it('a pending token resumes in another process; a tampered token never runs anything', async () => {
    const first = guardTool(spy().body, { ...base, client, action: 'payments.refund' });
    const p = await first({ customerId: 'c-42', amount: 944 });
    expect(p.status).toBe('pending');
    const token = p.status === 'pending' ? p.token : '';
    await frank.approvals.approve(p.status === 'pending' ? p.approvalId : '');
    // Another process: a new guard; the token is all it has.
    const s = spy(() => 'paid');
    const later = guardTool(s.body, { ...base, client, action: 'payments.refund' });
    // Tampered: other args under the same approval — the server's binding check refuses it.
    const call = decodePending(token);
    const forged =
      'mandate-pending.v1.' +
      Buffer.from(JSON.stringify({ ...call, args: { customerId: 'c-42', amount: 9440 } })).toString(
        'base64url',
      );
    const refused = await later.resume(forged);
    expect(refused.status).toBe('denied');
    expect(refused.status === 'denied' && refused.decision.errors.map((e) => e.code)).toEqual([
      'approval_mismatch',
    ]);
    // Another agent's or another tool's token: refused before anything is asked.
    const otherAgent =
      'mandate-pending.v1.' +
      Buffer.from(JSON.stringify({ ...call, agent: 'trade-bot' })).toString('base64url');
    await expect(later.resume(otherAgent)).rejects.toMatchObject({ code: 'bad_request' });
    const otherTool = guardTool(s.body, { ...base, client, action: 'crm.read_customer' });
    await expect(otherTool.resume(token)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(later.resume('garbage')).rejects.toMatchObject({ code: 'bad_request' });
    expect(s.calls).toEqual([]);
    // The genuine token runs it, once.
    expect(await later.resume(token)).toMatchObject({ status: 'ok', value: 'paid' });
    expect((await later.resume(token)).status).toBe('denied');
    expect(s.calls).toEqual([{ customerId: 'c-42', amount: 944 }]);
  });

  it('input the embedded runtime refuses (a key named twice, args that are not an object) is on the record', async () => {
    const refused = async () => (await admin.audit.query({ type: 'request.refused', limit: 500 })).items;
    const before = (await refused()).length;
    const s = spy(() => 'ran');
    const runner = createToolRunner({ payments__refund: s.body }, { ...base, client });
    const call = (id: string, args: string) =>
      runner.run([{ id, type: 'function', function: { name: 'payments__refund', arguments: args } }]);
    const [dup] = await call('e-1', '{"customerId":"c-42","amount":1,"amount":120}');
    expect(dup!.content).toMatch(/^The tool did not run: .*duplicate key/);
    const [notObject] = await client
      .decide({ agent: 'support-bot', onBehalfOf: 'alice', action: 'payments.refund', argsJson: '[1]' })
      .then(
        () => [null],
        (err: unknown) => [err],
      );
    expect(notObject).toMatchObject({ code: 'bad_request' });
    expect(s.calls).toEqual([]);
    const recorded = (await refused()).slice(before).map((r) => r.event.data);
    expect(recorded).toMatchObject([
      { code: 'duplicate_key', route: 'embedded decide', caller: { keyId: expect.any(String) } },
      { code: 'bad_request', route: 'embedded decide' },
    ]);
  });

  it('guards a whole tool set in one call', async () => {
    const read = spy(() => 'read');
    const refund = spy(() => 'paid');
    const tools = guardTools(
      { 'crm.read_customer': read.body, 'payments.refund': refund.body },
      { ...base, client },
    );
    expect((await tools['crm.read_customer']({ customerId: 'c-13' })).status).toBe('denied');
    expect((await tools['payments.refund']({ customerId: 'c-42', amount: 10 })).status).toBe('ok');
    expect(read.calls).toEqual([]);
    expect(refund.calls).toHaveLength(1);
  });

  it('a function name the model invents that names an Object member is no function: never decided, nothing runs', async () => {
    // A review: `functions[name]` found Object.prototype's members; `constructor` was decided as an
    // action and, allowed, ran. The name is the model's, so a prompt can choose it.
    const refund = spy(() => 'paid');
    let decided = 0;
    const counting = {
      ...client,
      decide: (...a: Parameters<MandateClient['decide']>) => (decided++, client.decide(...a)),
    };
    for (const actions of [undefined, () => 'payments.refund']) {
      const runner = createToolRunner(
        { payments__refund: refund.body },
        { ...base, client: counting, ...(actions ? { actions } : {}) },
      );
      for (const name of ['__proto__', 'constructor', 'toString', 'valueOf']) {
        const [msg] = await runner.run([
          { id: 'c-1', type: 'function', function: { name, arguments: '{"customerId":"c-42","amount":1}' } },
        ]);
        expect(msg!.content, name).toMatch(/no function/);
      }
    }
    expect(decided).toBe(0);
    expect(refund.calls).toEqual([]);
    // The app's own function beside it is decided and runs.
    const runner = createToolRunner({ payments__refund: refund.body }, { ...base, client: counting });
    const [ok] = await runner.run([
      {
        id: 'c-2',
        type: 'function',
        function: { name: 'payments__refund', arguments: '{"customerId":"c-42","amount":1}' },
      },
    ]);
    expect(ok!.content).toMatch(/paid/);
    expect(decided).toBe(1);
  });
});

describe('guardTool runs exactly what the server decided', () => {
  const answer = (over: Record<string, unknown>) =>
    new Response(
      JSON.stringify({
        decisionId: 'dec_1',
        effect: 'allow',
        reasons: [],
        errors: [],
        policyVersion: 'v',
        ...over,
      }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  const fake =
    (res: () => Response): typeof fetch =>
    async () =>
      res();

  it('the body gets the server’s canonical args, not the ones it was called with', async () => {
    const c = createClient({
      url: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: fake(() => answer({ args: { path: '/srv/a' } })),
    });
    const s = spy();
    const t = guardTool(s.body, { ...base, client: c, action: 'fs.read', outcome: 'off' });
    await t({ path: '/srv/x/../a' });
    expect(s.calls).toEqual([{ path: '/srv/a' }]);
  });

  it('an allow without the decided args, or an unknown effect, never runs the body', async () => {
    const s = spy();
    const noArgs = createClient({ url: 'http://127.0.0.1:9', apiKey: 'k', fetch: fake(() => answer({})) });
    await expect(
      guardTool(s.body, { ...base, client: noArgs, action: 'fs.read' })({ path: '/a' }),
    ).rejects.toMatchObject({
      code: 'invalid_response',
    });
    const odd = createClient({
      url: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: fake(() => answer({ effect: 'maybe', args: {} })),
    });
    await expect(
      guardTool(s.body, { ...base, client: odd, action: 'fs.read' })({ path: '/a' }),
    ).rejects.toMatchObject({
      code: 'invalid_response',
    });
    const noApproval = createClient({
      url: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: fake(() => answer({ effect: 'approval_required', args: {} })),
    });
    expect(
      (await guardTool(s.body, { ...base, client: noApproval, action: 'fs.read' })({ path: '/a' })).status,
    ).toBe('denied');
    // A deny without its reasons and errors is not a decision this SDK can explain: invalid_response.
    const bare = createClient({
      url: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: fake(() => answer({ effect: 'deny', reasons: null, errors: null, args: {} })),
    });
    await expect(
      guardTool(s.body, { ...base, client: bare, action: 'fs.read' })({ path: '/a' }),
    ).rejects.toMatchObject({ code: 'invalid_response' });
    expect(s.calls).toEqual([]);
  });

  it('args JSON cannot carry (NaN, a BigInt) are refused before anything runs, as a Mandate error', async () => {
    const s = spy();
    const c = createClient({
      url: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: fake(() => answer({ args: {} })),
    });
    const t = guardTool(s.body, { ...base, client: c, action: 'fs.read' });
    await expect(t({ n: Number.NaN })).rejects.toMatchObject({
      name: 'MandateApiError',
      code: 'invalid_number',
    });
    await expect(t({ n: 1n })).rejects.toMatchObject({ name: 'MandateApiError', code: 'bad_request' });
    expect(s.calls).toEqual([]);
  });

  // SECURITY: a decision is Mandate's only in the form Mandate sends it (a probe: 201/202 allows, a
  // text/plain allow, `"effect":"deny","effect":"allow"` and an allow listing errors all ran the body).
  const allowText = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      decisionId: 'dec_1',
      effect: 'allow',
      reasons: [],
      errors: [],
      policyVersion: 'v',
      args: { path: '/a' },
      ...over,
    });
  const reply = (text: string, status: number, type: string | null) => () =>
    new Response(text, { status, headers: type === null ? {} : { 'content-type': type } });
  const runsWith = async (res: () => Response) => {
    const s = spy();
    const c = createClient({ url: 'http://127.0.0.1:9', apiKey: 'k', fetch: fake(res), retries: 0 });
    const t = guardTool(s.body, { ...base, client: c, action: 'fs.read', outcome: 'off' });
    const result = await t({ path: '/a' }).catch((err: unknown) => err);
    return { s, result };
  };

  it('a 200 application/json allow runs the body, with or without a charset parameter', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      const { s, result } = await runsWith(reply(allowText(), 200, type));
      expect(result).toMatchObject({ status: 'ok', decisionId: 'dec_1' });
      expect(s.calls).toEqual([{ path: '/a' }]);
    }
  });

  it('an allow answered 201 or 202 never runs the body: invalid_response', async () => {
    for (const status of [201, 202]) {
      const { s, result } = await runsWith(reply(allowText(), status, 'application/json'));
      expect(result).toMatchObject({ name: 'MandateApiError', code: 'invalid_response', status });
      expect(s.calls).toEqual([]);
    }
  });

  it('an allow that is not application/json (text/plain, problem+json, untyped) never runs the body', async () => {
    for (const type of ['text/plain', 'text/html; charset=utf-8', 'application/problem+json', null]) {
      const { s, result } = await runsWith(reply(allowText(), 200, type));
      expect(result).toMatchObject({ name: 'MandateApiError', code: 'invalid_response' });
      expect(s.calls).toEqual([]);
    }
  });

  it('an answer naming a key twice never runs the body, at the top or nested in the args', async () => {
    const dupEffect = allowText({ effect: 'deny' }).replace(
      '"effect":"deny"',
      '"effect":"deny","effect":"allow"',
    );
    const dupArg = allowText().replace('"path":"/a"', '"path":"/a","path":"/etc/shadow"');
    for (const text of [dupEffect, dupArg]) {
      // What JSON.parse alone makes of it: an allow, with args the body would have run with.
      expect((JSON.parse(text) as { effect: string }).effect).toBe('allow');
      const { s, result } = await runsWith(reply(text, 200, 'application/json'));
      expect(result).toMatchObject({
        name: 'MandateApiError',
        code: 'invalid_response',
        message: expect.stringContaining('twice'),
      });
      expect(s.calls).toEqual([]);
    }
  });

  it('an allow that lists errors never runs the body; a deny that lists them is a refusal', async () => {
    const errors = [{ code: 'policy_error', message: 'agent policy p: error' }];
    const bad = await runsWith(reply(allowText({ errors }), 200, 'application/json'));
    expect(bad.result).toMatchObject({
      name: 'MandateApiError',
      code: 'invalid_response',
      message: expect.stringContaining('lists errors'),
    });
    expect(bad.s.calls).toEqual([]);
    // A deny that lists errors is the server's ordinary fail-closed answer.
    const denied = await runsWith(reply(allowText({ effect: 'deny', errors }), 200, 'application/json'));
    expect(denied.result).toMatchObject({ status: 'denied' });
    expect(denied.s.calls).toEqual([]);
  });

  it('the approval a guard waits for is read the same way: a 202 "approved" asks nothing again and runs nothing', async () => {
    const approval = (status: string) =>
      JSON.stringify({ id: 'apr_1', status, role: 'fm', quorum: 1, expiresAt: '2999-01-01T00:00:00Z' });
    const run = async (approvalAnswer: () => Response) => {
      const decided: string[] = [];
      const f: typeof fetch = async (input, init) => {
        const url = new URL(String(input));
        if (url.pathname === '/v1/approvals/apr_1') return approvalAnswer();
        const body = JSON.parse(String(init?.body)) as { approvalId?: string };
        decided.push(body.approvalId ?? 'first');
        return body.approvalId
          ? reply(allowText(), 200, 'application/json')()
          : reply(
              allowText({ effect: 'approval_required', approval: JSON.parse(approval('pending')) }),
              200,
              'application/json',
            )();
      };
      const s = spy();
      const c = createClient({ url: 'http://127.0.0.1:9', apiKey: 'k', fetch: f, retries: 0 });
      const t = guardTool(s.body, {
        ...base,
        client: c,
        action: 'fs.read',
        outcome: 'off',
        approval: { waitMs: 50 },
      });
      const result = await t({ path: '/a' }).catch((err: unknown) => err);
      return { s, result, decided };
    };
    const ok = await run(reply(approval('approved'), 200, 'application/json'));
    expect(ok.result).toMatchObject({ status: 'ok' });
    expect(ok.decided).toEqual(['first', 'apr_1']);
    expect(ok.s.calls).toEqual([{ path: '/a' }]);
    for (const bad of [
      reply(approval('approved'), 202, 'application/json'),
      reply(approval('approved'), 200, 'text/plain'),
      reply(
        approval('pending').replace('"status":"pending"', '"status":"pending","status":"approved"'),
        200,
        'application/json',
      ),
    ]) {
      const r = await run(bad);
      expect(r.result).toMatchObject({ name: 'MandateApiError', code: 'invalid_response' });
      expect(r.decided).toEqual(['first']);
      expect(r.s.calls).toEqual([]);
    }
  });
});

describe('guardTool against a remote Mandate: its own answers pass those checks', () => {
  let client: MandateClient;
  beforeAll(async () => {
    client = await exampleClient('remote');
  });

  it('an allow runs the body, a deny does not, and an approved call runs once after the wait', async () => {
    const s = spy(() => 'paid');
    const refund = guardTool(s.body, {
      ...base,
      client,
      action: 'payments.refund',
      approval: { waitMs: 10_000 },
    });
    expect(await refund({ customerId: 'c-42', amount: 120 })).toMatchObject({ status: 'ok', value: 'paid' });
    expect((await refund({ customerId: 'c-77', amount: 120 })).status).toBe('denied');
    const frank = client.withApiKey(KEYS.frank);
    const running = refund({ customerId: 'c-42', amount: 941 });
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      id = (await frank.approvals.list({ status: 'pending' })).find((a) => a.args.amount === 941)?.id;
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    await frank.approvals.approve(id!);
    expect(await running).toMatchObject({ status: 'ok', value: 'paid' });
    expect(s.calls).toEqual([
      { customerId: 'c-42', amount: 120 },
      { customerId: 'c-42', amount: 941 },
    ]);
  });
});

describe('duplicate keys in raw tool arguments', () => {
  it('finds a key named twice in any object, after unescaping; not across objects or in values', () => {
    expect(hasDuplicateKeys('{"a":1,"a":2}')).toBe(true);
    expect(hasDuplicateKeys('{"a":1,"\\u0061":2}')).toBe(true);
    expect(hasDuplicateKeys('{"x":{"b":1,"c":{"d":[{"e":1,"e":2}]}}}')).toBe(true);
    expect(hasDuplicateKeys('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}')).toBe(false);
    expect(hasDuplicateKeys('{"a":"a","b":"\\"a\\":1, \\"a\\":"}')).toBe(false);
    expect(hasDuplicateKeys('[1,{"k":[],"l":{}}]')).toBe(false);
  });
});
