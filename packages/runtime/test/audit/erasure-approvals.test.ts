// A probe: with `audit.personal.keep: ["args"]` the hashed `approval.requested` record leaves the
// summary out (`summaryOffRecord`), so the approvals table held the only copy of the summary and the
// args of a user's approvals — and erasing the user left both there, shown to every approver. An
// erasure now blanks them, and the approval stays bound to its exact call, usable as before.
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '@mandate/protocol';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  examplePolicySource,
  type TestMandateOptions,
} from '../fixtures/mandate.js';
import { KEYS, client, codes, ok200, refund, type Client, type Json } from '../fixtures/http.js';

afterEach(disposeAll);

const NOTE = 'Alice home 12 Elm St PERSONAL37';
const OTHER_NOTE = 'Alice office 9 Oak Ave PERSONAL38';
const hire = {
  agent: 'hr-bot',
  onBehalfOf: 'carol',
  action: 'hr.create_account',
  args: { employeeId: 'e-1001' },
};

/** The example, with a free-text `note` on refunds that the approval summary names. */
async function setup(opts: Pick<TestMandateOptions, 'store' | 'config'>) {
  const t = await createTestMandate({
    ...opts,
    tools: (doc) => {
      const r = doc.tools.find((x) => x.action === 'payments.refund')!;
      (r.inputSchema as { properties: Record<string, unknown> }).properties.note = { type: 'string' };
      r.summary = 'Refund {amount} to customer {customerId} note {note}';
    },
  });
  const api = client(t.url);
  const src = examplePolicySource();
  src.schema = src.schema.replace(
    'args: { customerId: String, amount: Long }',
    'args: { customerId: String, amount: Long, note?: String }',
  );
  expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
  return { t, api };
}

const refundWith = (amount: number, note: string, extra: Record<string, unknown> = {}) => ({
  ...refund(amount, extra),
  args: { customerId: 'c-42', amount, note },
});

async function ask(api: Client, req: Record<string, unknown>): Promise<string> {
  const d = ok200(await api.decide(req.agent === 'hr-bot' ? KEYS.hrBot : KEYS.supportBot, req));
  expect(d.effect, JSON.stringify(d.errors)).toBe('approval_required');
  return d.approval!.id;
}

const pendingOf = async (api: Client, id: string): Promise<Json> =>
  (ok200(await api.get('/v1/approvals?status=pending', KEYS.admin)).items as Json[]).find((a) => a.id === id);

describe.each(durableStoreKinds())('erasure of a user reaches their approvals (%s)', (kind) => {
  it('keep ["args"]: erasing alice blanks the summary and args of her approvals; they still bind and run the exact call', async () => {
    const { api } = await setup({
      store: kind,
      config: (c) => {
        c.audit = { ...c.audit, personal: { keep: ['args'] } };
      },
    });
    // Pending at the erasure (the probe), approved before it, and carol's (another user).
    const pending = await ask(api, refundWith(900, NOTE));
    const approved = await ask(api, refundWith(901, OTHER_NOTE));
    expect((await api.approve(approved, KEYS.frank)).status).toBe(200);
    const carols = await ask(api, hire);

    // Before: the approver's inbox shows the summary and the args rendered from the real args, and
    // the hashed approval.requested record does not hold them (the table is the only copy).
    const before = await pendingOf(api, pending);
    // A value with spaces is quoted in the summary (tools/registry.ts summarize).
    expect(before.summary).toBe(`Refund 900 to customer c-42 note "${NOTE}"`);
    expect(before.args).toEqual({ customerId: 'c-42', amount: 900, note: NOTE });
    const requested = ok200(await api.get('/v1/audit?type=approval.requested', KEYS.admin)).items as Json[];
    const asked = requested.find((i) => i.event.data.approvalId === pending);
    expect(asked.event.data.summaryOffRecord).toBe(true);
    expect(JSON.stringify(asked.event)).not.toContain('PERSONAL37');
    const carolBefore = ok200(await api.get(`/v1/approvals/${carols}`, KEYS.admin));

    const erased = ok200(await api.post('/v1/erasures', KEYS.admin, { user: 'alice' }));
    expect(erased).toMatchObject({ subject: expect.stringMatching(/^psn_/), erased: 2 });

    // After: neither the pending list (the dashboard inbox reads it) nor the approval itself holds
    // the personal text; what binds and decides it is unchanged.
    const after = await pendingOf(api, pending);
    expect(after.summary).toBe('[erased]');
    expect(after.args).toEqual({ customerId: 'erased', amount: 'erased', note: 'erased' });
    const { summary: _s, args: _a, ...bound } = before;
    expect(after).toMatchObject(bound);
    const all = ok200(await api.get('/v1/approvals', KEYS.admin)).items as Json[];
    expect(all.map((a) => a.id)).toEqual(expect.arrayContaining([pending, approved, carols]));
    for (const text of [JSON.stringify(all), (await api.get(`/v1/approvals/${pending}`, KEYS.frank)).text])
      for (const personal of ['PERSONAL37', 'PERSONAL38', 'Elm St', 'Oak Ave'])
        expect(text).not.toContain(personal);
    // Nor the trail (the args were kept aside, the summaries off record).
    const trail = (await api.get('/v1/audit/export', KEYS.admin)).text;
    expect(trail).not.toContain('PERSONAL37');
    expect(trail).not.toContain('PERSONAL38');
    // carol's approval is untouched.
    expect(ok200(await api.get(`/v1/approvals/${carols}`, KEYS.admin))).toEqual(carolBefore);
    // The erasure says how many approvals it blanked, by pseudonymous id only.
    const records = ok200(await api.get('/v1/audit?type=personal_data.erased', KEYS.admin)).items as Json[];
    expect(records).toHaveLength(1);
    expect(records[0].event.data).toMatchObject({ subject: erased.subject, records: 2, approvals: 2 });
    expect(JSON.stringify(records[0].event)).not.toContain('alice');

    // The same call again finds the same pending approval (bound by the keyed call hash).
    const again = ok200(await api.decide(KEYS.supportBot, refundWith(900, NOTE)));
    expect(again.effect).toBe('approval_required');
    expect(again.approval!.id).toBe(pending);
    // Approved after the erasure, it runs the exact call it was asked for, and only that call.
    const voted = await api.approve(pending, KEYS.frank);
    expect(voted.status, voted.text).toBe(200);
    expect(voted.body).toMatchObject({ status: 'approved', summary: '[erased]' });
    for (const other of [refundWith(900, 'another note'), refundWith(9000, NOTE)]) {
      const d: Decision = ok200(await api.decide(KEYS.supportBot, { ...other, approvalId: pending }));
      expect(d.effect).toBe('deny');
      expect(codes(d)).toEqual(['approval_mismatch']);
    }
    const used = ok200(await api.decide(KEYS.supportBot, refundWith(900, NOTE, { approvalId: pending })));
    expect(used.effect).toBe('allow');
    expect(used.approval).toMatchObject({ id: pending, status: 'consumed' });
    // The one approved before the erasure runs too.
    const usedToo = ok200(
      await api.decide(KEYS.supportBot, refundWith(901, OTHER_NOTE, { approvalId: approved })),
    );
    expect(usedToo.effect).toBe('allow');
    expect(ok200(await api.get(`/v1/approvals/${approved}`, KEYS.admin))).toMatchObject({
      status: 'consumed',
      summary: '[erased]',
      args: { customerId: 'erased', amount: 'erased', note: 'erased' },
    });

    // Erasing again: the five decisions made since kept their args anew, and no approval is left
    // to blank (the retry above found the erased approval, it asked for none).
    expect(ok200(await api.post('/v1/erasures', KEYS.admin, { user: 'alice' }))).toEqual({
      subject: erased.subject,
      erased: 5,
    });
    const second = ok200(await api.get('/v1/audit?type=personal_data.erased', KEYS.admin)).items as Json[];
    expect(second.map((r) => r.event.data.approvals).sort()).toEqual([0, 2]);
    expect(ok200(await api.get('/v1/audit/verify', KEYS.admin)).ok).toBe(true);
  }, 120_000);

  it('args not kept aside: the summary is on the chain, and the approvals table copy is blanked too', async () => {
    const { api } = await setup({
      store: kind,
      config: (c) => {
        c.audit = { ...c.audit, personal: { keep: ['userDisplayName'] } };
      },
    });
    const id = await ask(api, refundWith(900, NOTE));
    expect((await pendingOf(api, id)).summary).toContain('PERSONAL37');
    ok200(await api.post('/v1/erasures', KEYS.admin, { user: 'alice' }));
    const after = await pendingOf(api, id);
    expect(after).toMatchObject({ summary: '[erased]', status: 'pending' });
    expect(JSON.stringify(after)).not.toContain('PERSONAL37');
    expect((await api.approve(id, KEYS.frank)).status).toBe(200);
    const used = ok200(await api.decide(KEYS.supportBot, refundWith(900, NOTE, { approvalId: id })));
    expect(used.effect).toBe('allow');
  }, 60_000);
});
