import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { client, KEYS, refund, type Client } from '../fixtures/http.js';
import { HAVE_CHROMIUM, expectAccessible, launch, personPage, signIn } from './harness.js';

/**
 * A pending approval of a user whose personal data was erased keeps its binding to the exact call,
 * but its args read `erased`: a probe's approver approved a 9000 refund shown as `amount: erased`
 * under "Arguments (exactly what will run)", with no warning. The card says the values are hidden
 * and that the approver is approving them unseen, as for redacted ones.
 */
describe.skipIf(!HAVE_CHROMIUM)('dashboard: an approval whose values were erased', () => {
  let t: TestMandate;
  let api: Client;
  let browser: Browser;

  beforeAll(async () => {
    t = await createTestMandate({
      config: (c) => {
        c.audit = { ...(c.audit as object), personal: { keep: ['args'] } };
      },
    });
    api = client(t.url);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await disposeAll();
  });

  it('shows the erased values as hidden, with the notice that they are approved unseen', async () => {
    const d = await api.decide(KEYS.supportBot, refund(900));
    expect(d.body.effect, JSON.stringify(d.body)).toBe('approval_required');
    const id = d.body.approval!.id as string;
    const erased = await api.post('/v1/erasures', KEYS.admin, { user: 'alice' });
    expect(erased.status, erased.text).toBe(200);
    expect((await api.get(`/v1/approvals/${id}`, KEYS.admin)).body.args).toEqual({
      customerId: 'erased',
      amount: 'erased',
    });

    const { context, page } = await personPage(browser);
    await signIn(page, t.url, KEYS.frank, `#/inbox/${id}`);
    const card = page.locator(`article[data-approval="${id}"]`);
    const args = card.locator('table.args');
    await args.waitFor();
    // No value cell reads as if `erased` were what runs.
    expect(await args.locator('td').allTextContents()).toEqual([
      '(hidden: erased with the user’s personal data)',
      '(hidden: erased with the user’s personal data)',
    ]);
    const note = card.locator('.redaction');
    expect(await note.textContent()).toBe(
      '⚠ The values the agent supplied were erased with the user’s personal data; you are approving them unseen. Erased: amount, customerId.',
    );
    expect(await args.locator('tr.redacted').count()).toBe(2);
    await expectAccessible(page, 'inbox: erased approval');
    await context.close();
  });
});
