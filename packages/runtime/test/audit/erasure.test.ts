// Issue 14 §3: personal data a deployment keeps lives beside the chain, keyed by a pseudonymous id;
// erasing a user deletes it, is itself on the record, and leaves the chain and checkpoints verifying.
import { afterAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, durableStoreKinds } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';

afterAll(disposeAll);

const trade = {
  agent: 'trade-bot',
  onBehalfOf: 'bob',
  action: 'trade.place_order',
  args: { symbol: 'ACME', qty: 3, side: 'buy' },
};

describe.each(durableStoreKinds())('erasure of kept personal data (%s)', (store) => {
  it('keeps display name and args beside the chain, erases one user, records it, and the chain still verifies', async () => {
    ensureBuilt();
    const t = await createTestMandate({
      store,
      clock: createManualClock(Date.parse('2026-03-02T15:00:00Z')),
      config: (c) => {
        c.audit = { ...c.audit, checkpointEvery: 2, personal: { keep: ['userDisplayName', 'args'] } };
      },
      entities: (doc) => {
        for (const u of doc.users) {
          if (u.id === 'alice') u.attributes.displayName = 'Alice Liddell';
          if (u.id === 'bob') u.attributes.displayName = 'Bob Dylan';
        }
      },
    });
    const api = client(t.url);
    const a = await api.decide(KEYS.supportBot, refund(120));
    expect(a.body.effect).toBe('allow');
    const b = await api.decide(KEYS.tradeBot, trade);
    expect(b.status).toBe(200);

    const decisionOf = async (id: string) =>
      (await api.get(`/v1/audit?decisionId=${id}`, KEYS.admin)).body.items[0];
    const before = await decisionOf(a.body.decisionId);
    // The hashed record names the kept fields and their subject, and holds neither.
    expect(before.event.data.personal).toEqual({
      subject: expect.stringMatching(/^psn_[0-9a-f]{64}$/),
      fields: ['userDisplayName', 'args'],
      // A keyed digest of the kept copy: an edit of it beside the chain shows (kept-tampered.test.ts).
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(before.event.data.args).toBeUndefined();
    expect(before.event.data.argsDigest).toMatch(/^hmac-sha256:/);
    expect(JSON.stringify(before.event)).not.toContain('Alice Liddell');
    // Nor do the recorded policy inputs (replay): the args are kept aside there too, and say so.
    expect(before.event.data.policyInputs.context.args).toBe('[KEPT ASIDE]');
    expect(before.event.data.policyInputs.redacted).toContain('context.args');
    expect(JSON.stringify(before.event)).not.toContain('"amount"');

    // An approval requested for a user whose args are kept aside: the approver sees the summary,
    // the hashed approval.requested record does not hold it.
    const big = await api.decide(KEYS.supportBot, refund(900));
    expect(big.body.effect).toBe('approval_required');
    const pending = (await api.get(`/v1/approvals/${big.body.approval!.id}`, KEYS.admin)).body;
    expect(pending.summary).toContain('900');
    const requested = (await api.get('/v1/audit?type=approval.requested', KEYS.admin)).body.items;
    const asked = requested.find(
      (i: { event: { decisionId: string } }) => i.event.decisionId === big.body.decisionId,
    );
    expect(asked.event.data.summary).toBeUndefined();
    expect(asked.event.data.summaryOffRecord).toBe(true);
    // As a value, not inside a hex hash or an id (the keyed call hash is random: it held "900" once).
    expect(JSON.stringify(asked.event)).not.toMatch(/\b900\b/);
    expect(before.personal).toEqual({
      userDisplayName: 'Alice Liddell',
      args: { customerId: 'c-42', amount: 120 },
    });
    const subject = before.event.data.personal.subject as string;

    // Deny: only an admin erases.
    expectError(await api.post('/v1/erasures', KEYS.alice, { user: 'alice' }), 403, 'forbidden');
    expectError(await api.post('/v1/erasures', KEYS.supportBot, { user: 'alice' }), 403, 'forbidden');
    const refused = await runCli(['erase', '--user', 'alice', '--url', t.url, '--key', KEYS.alice]);
    expect(refused.code).not.toBe(0);
    expect((await decisionOf(a.body.decisionId)).personal.userDisplayName).toBe('Alice Liddell');

    const cli = await runCli(['erase', '--user', 'alice', '--url', t.url, '--key', KEYS.admin, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual({ subject, erased: 2 }); // the refund and the approval request

    // Gone, shown as erased; bob's is untouched.
    const after = await decisionOf(a.body.decisionId);
    expect(after.personal).toEqual({ userDisplayName: 'erased', args: 'erased' });
    expect(after.hash).toBe(before.hash);
    const bobs = await decisionOf(b.body.decisionId);
    expect(bobs.personal).toEqual({
      userDisplayName: 'Bob Dylan',
      args: { symbol: 'ACME', qty: 3, side: 'buy' },
    });

    // The erasure is on the record, by pseudonymous id, not by name.
    const erasures = (await api.get('/v1/audit?type=personal_data.erased', KEYS.admin)).body.items;
    expect(erasures).toHaveLength(1);
    expect(erasures[0].event.data).toMatchObject({ subject, records: 2 });
    expect(JSON.stringify(erasures[0].event)).not.toContain('alice');
    // Again through the API: nothing left, still recorded.
    const again = await api.post('/v1/erasures', KEYS.admin, { user: 'alice' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ subject, erased: 0 });

    // The chain and its checkpoints verify, through the API and the CLI.
    const verified = (await api.get('/v1/audit/verify', KEYS.admin)).body;
    expect(verified.ok).toBe(true);
    expect(verified.checkpoints).toBeGreaterThan(0);
    // The CLI commands that open the database read the config's store: the test's SQLite file (the
    // Postgres variant runs in a schema the config file does not name).
    if (store === 'sqlite') {
      const cliVerify = await runCli(['audit', 'verify', '--config', t.configFile, '--json']);
      expect(cliVerify.code, cliVerify.stderr).toBe(0);
      expect(JSON.parse(cliVerify.stdout).ok).toBe(true);
    }

    // The exports show erased where the data was and the kept data where it was not.
    const lines = (await api.get('/v1/audit/export?type=decision', KEYS.admin)).text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const line = (id: string) => lines.find((l) => l.event.decisionId === id);
    expect(line(a.body.decisionId).personal).toEqual({ userDisplayName: 'erased', args: 'erased' });
    expect(line(b.body.decisionId).personal.userDisplayName).toBe('Bob Dylan');
    const cef = (await api.get('/v1/audit/export?format=cef&type=decision', KEYS.admin)).text;
    expect(cef).toContain(
      `cs1=${a.body.decisionId} cs2Label=hash cs2=${after.hash} cs3Label=personal cs3=erased`,
    );
    expect(cef).toContain('cs3Label=personal cs3=kept');
    if (store === 'sqlite') {
      const cliExport = await runCli(['audit', 'export', '--config', t.configFile, '--user', 'alice']);
      expect(cliExport.code, cliExport.stderr).toBe(0);
      expect(cliExport.stdout).toContain('"personal":{"userDisplayName":"erased","args":"erased"}');
    }
  }, 120_000);

  it('without audit.personal nothing is kept aside: the redacted args copy stays in the record', async () => {
    const t = await createTestMandate({ store });
    const api = client(t.url);
    const d = await api.decide(KEYS.supportBot, refund(120));
    const item = (await api.get(`/v1/audit?decisionId=${d.body.decisionId}`, KEYS.admin)).body.items[0];
    expect(item.event.data.args).toEqual({ customerId: 'c-42', amount: 120 });
    expect(item.event.data.personal).toBeUndefined();
    expect(item.event.data.policyInputs.context.args).toEqual({ customerId: 'c-42', amount: 120 });
    expect(item.personal).toBeUndefined();
  });
});
