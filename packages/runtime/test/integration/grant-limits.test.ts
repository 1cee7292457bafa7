// Issue 9 §4: grant limits per action, validated at creation, through the API and the CLI parser.
import { afterAll, describe, expect, it } from 'vitest';
import { parseLimitFlag } from '../../src/cli/grants.js';
import { MandateError } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';

afterAll(disposeAll);

describe('grant limits through the API', () => {
  it('an unscoped amount limit no longer denies crm.read_customer in the same grant', async () => {
    const t = await createTestMandate({ config: (raw) => void (raw.grants = []) });
    const api = client(t.url);
    const g = await api.post('/v1/grants', KEYS.alice, {
      agent: 'support-bot',
      actions: ['crm.read_customer', 'payments.refund'],
      limits: [{ arg: 'amount', op: '<=', value: 200 }],
    });
    expect(g.status).toBe(201);
    const read = await api.decide(KEYS.supportBot, {
      agent: 'support-bot',
      onBehalfOf: 'alice',
      action: 'crm.read_customer',
      args: { customerId: 'c-42' },
    });
    expect(read.body.effect).toBe('allow');
    expect((await api.decide(KEYS.supportBot, refund(200))).body.effect).toBe('allow');
    const over = (await api.decide(KEYS.supportBot, refund(201))).body;
    expect(over.effect).toBe('deny');
    expect(over.errors.map((e: { code: string }) => e.code)).toContain('grant_exceeded');
  });

  it('refuses a limit with a non-numeric bound or a foreign action with 400', async () => {
    const t = await createTestMandate({ config: (raw) => void (raw.grants = []) });
    const api = client(t.url);
    const create = (limit: unknown) =>
      api.post('/v1/grants', KEYS.alice, {
        agent: 'support-bot',
        actions: ['payments.refund'],
        limits: [limit],
      });
    expectError(await create({ arg: 'amount', op: '<', value: '200x' }), 400, 'bad_request');
    expectError(
      await create({ action: 'trade.place_order', arg: 'qty', op: '<=', value: 1 }),
      400,
      'bad_request',
    );
    expect((await create({ action: 'payments.refund', arg: 'amount', op: '<', value: 200 })).status).toBe(
      201,
    );
  });
});

describe('mandate grants create --limit', () => {
  it('ties a limit to an action with action:arg and refuses a bound that is not a number', () => {
    expect(parseLimitFlag('payments.refund:amount<=200')).toEqual({
      action: 'payments.refund',
      arg: 'amount',
      op: '<=',
      value: 200,
    });
    expect(parseLimitFlag('amount < 200')).toEqual({ arg: 'amount', op: '<', value: 200 });
    expect(parseLimitFlag('payments.*:currency==EUR')).toEqual({
      action: 'payments.*',
      arg: 'currency',
      op: '==',
      value: 'EUR',
    });
    expect(() => parseLimitFlag('amount<200x')).toThrow(MandateError);
    expect(() => parseLimitFlag('amount<200x')).toThrow(/takes a number/);
    expect(() => parseLimitFlag('amount')).toThrow(/\[action:\]arg op value/);
  });
});
