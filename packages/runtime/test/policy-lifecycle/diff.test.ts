// Issue 14 §1: semantic diff — per action, requests one set allows and the other does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCedarEngine, type PolicySetSource } from '../../src/policy/index.js';
import { semanticDiff } from '../../src/policy/semantic-diff.js';
import { policyConstants } from '../../src/policy/request-space.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200 } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { refundThreshold, writePolicyDir } from './helpers.js';

afterAll(disposeAll);
beforeAll(() => ensureBuilt());

const engine = createCedarEngine();
const both = (source: PolicySetSource) => ({ set: engine.compile(source), source });

describe('semantic diff', () => {
  it(
    'two sets differing only in the refund threshold differ on payments.refund, with an amount between them',
    { timeout: 60_000 },
    async () => {
      const d = await semanticDiff(both(refundThreshold(500)), both(refundThreshold(1000)));
      expect(d.bounded).toBe(true);
      expect(d.actions.map((a) => [a.action, a.searched])).toEqual([
        ['crm.read_customer', 1000],
        ['hr.create_account', 1000],
        ['payments.refund', 1000],
        ['trade.place_order', 1000],
      ]);
      expect(d.actions.filter((a) => a.differences > 0).map((a) => a.action)).toEqual(['payments.refund']);
      expect(d.differences.length).toBeGreaterThan(0);
      for (const diff of d.differences) {
        expect(diff.action).toBe('payments.refund');
        const amount = (diff.example.context.args as { amount: number }).amount;
        expect(amount).toBeGreaterThan(500);
        expect(amount).toBeLessThanOrEqual(1000);
        // Deciding the example again gives the two answers reported.
        expect(engine.compile(refundThreshold(500)).evaluate(diff.example).effect).toBe(diff.a.effect);
        expect(engine.compile(refundThreshold(1000)).evaluate(diff.example).effect).toBe(diff.b.effect);
      }
      expect(d.differences[0]).toMatchObject({
        principalType: 'Agent',
        a: { effect: 'approval_required', policies: ['refund-large-needs-finance'] },
        b: { effect: 'allow', policies: ['refund-small'] },
      });
    },
  );

  it('identical sets: no differences', async () => {
    const d = await semanticDiff(both(refundThreshold(500)), both(refundThreshold(500)), {
      requestsPerAction: 300,
    });
    expect(d.differences).toEqual([]);
    expect(d.actions.every((a) => a.searched === 300 && a.differences === 0)).toBe(true);
  });

  it('takes the constants from conditions, not from comments or annotations', () => {
    const c = policyConstants([
      {
        schema: '',
        policies: {
          'a.cedar':
            '// limit 77\n@id("p1")\n@reason("over 88")\npermit (principal in Team::"ops", action == Action::"x.y", resource)\nwhen { context.args.n > 10 && principal.name == "ann" && context.d.lessThan(decimal("1.5")) };',
        },
      },
    ]);
    expect(c.longs).toEqual([0, 9, 10, 11]);
    expect(c.strings).toEqual(['ann', 'x']);
    expect(c.decimals).toEqual(['0.0', '1.5']);
    expect(c.entities).toEqual([{ type: 'Team', id: 'ops' }]);
  });

  it(
    'mandate policy diff exits 1 when the sets decide otherwise and 0 when they do not',
    { timeout: 120_000 },
    async () => {
      const a = writePolicyDir(refundThreshold(500));
      const b = writePolicyDir(refundThreshold(1000));
      const differ = await runCli(['policy', 'diff', a, b, '--requests', '400'], { timeoutMs: 120_000 });
      expect(differ.code, differ.stderr).toBe(1);
      expect(differ.stdout).toContain('~ refund-small');
      expect(differ.stdout).toMatch(/payments\.refund: 400 requests searched, [1-9]\d* decided otherwise/);
      expect(differ.stdout).toContain(
        'Agent: approval_required (refund-large-needs-finance) -> allow (refund-small)',
      );
      expect(differ.stdout).toContain('bounded search');
      const same = await runCli([
        'policy',
        'diff',
        a,
        writePolicyDir(refundThreshold(500)),
        '--json',
        '--requests',
        '200',
      ]);
      expect(same.code, same.stderr).toBe(0);
      expect(JSON.parse(same.stdout)).toMatchObject({ differences: [], bounded: true, changed: [] });
    },
  );

  it('POST /v1/policies/diff: admin only, the same report', async () => {
    const t = await createTestMandate({
      config: (raw) => void (raw.gateway = { ...(raw.gateway as object), upstreams: [] }),
    });
    const api = client(t.url);
    const body = { a: refundThreshold(500), b: refundThreshold(1000), requestsPerAction: 1000 };
    expectError(await api.post('/v1/policies/diff', KEYS.alice, body), 403, 'forbidden');
    expectError(
      await api.post('/v1/policies/diff', KEYS.admin, { ...body, requestsPerAction: 0 }),
      400,
      'bad_request',
    );
    const r = ok200(await api.post('/v1/policies/diff', KEYS.admin, body));
    expect(r.differences.map((d: { action: string }) => d.action)).toContain('payments.refund');
    expect(r.bounded).toBe(true);
  });
});
