import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { client, KEYS, refund, type Client } from '../fixtures/http.js';
import { HAVE_CHROMIUM, expectAccessible, launch, personPage, screenshot, signIn } from './harness.js';

/** The README's large refund, approved in the dashboard by a finance manager (issue 11). */
describe.skipIf(!HAVE_CHROMIUM)('dashboard: the approvals inbox in a real browser', () => {
  let t: TestMandate;
  let api: Client;
  let browser: Browser;
  let attacker: Server;
  let attackerPort: number;
  /** The page the attacker serves: a form that posts itself to the approve route on load. */
  let attackForm = '';

  beforeAll(async () => {
    t = await createTestMandate();
    api = client(t.url);
    browser = await launch();
    attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(attackForm);
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    attackerPort = (attacker.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => attacker?.close(r));
    await disposeAll();
  });

  const requestLargeRefund = async (amount = 900) => {
    const d = await api.decide(KEYS.supportBot, refund(amount, { intent: 'duplicate charge' }));
    expect(d.body.effect).toBe('approval_required');
    return d.body.approval!.id;
  };
  const statusOf = async (id: string) =>
    (await api.get(`/v1/approvals/${id}`, KEYS.admin)).body.status as string;

  it('a finance manager sees the 900 refund with its real args and binding, approves it; the retry runs once', async () => {
    const id = await requestLargeRefund();
    const { context, page } = await personPage(browser);
    await page.goto(`${t.url}/ui/`);
    await expectAccessible(page, 'sign-in');
    await screenshot(page, 'sign-in');
    await signIn(page, t.url, KEYS.frank);
    const card = page.locator(`article[data-approval="${id}"]`);
    await card.waitFor();
    // The real args, from the stored redacted copy: amount 900 for customer c-42.
    const args = card.locator('table.args');
    await expect
      .poll(() => args.locator('tr', { hasText: 'amount' }).locator('td').textContent())
      .toBe('900');
    expect(await args.locator('tr', { hasText: 'customerId' }).locator('td').textContent()).toBe('c-42');
    expect(await card.locator('.summary').textContent()).toBe('Refund 900 to customer c-42');
    expect(await card.textContent()).toContain('0 of 1 approvals');
    // Why it asks, from the approval itself (frank may not read the decision or the audit).
    const why = card.locator('.why-policy');
    await expect.poll(() => why.textContent()).toContain('refund-large-needs-finance');
    expect(await why.textContent()).toContain("refunds over 500 need a finance manager's approval");
    // The agent's recent decisions for alice, including the one waiting here.
    const recent = card.locator('.recent ul.history li');
    await recent.first().waitFor();
    expect(await recent.count()).toBeGreaterThanOrEqual(1);
    expect(await recent.first().textContent()).toContain('payments.refund');
    expect(await card.textContent()).not.toContain('not readable with your role');
    expect(await card.textContent()).not.toContain('not available to your role');
    await expectAccessible(page, 'inbox');
    await screenshot(page, 'inbox');

    // Not yet approved: the agent's retry with the approval id is still not allowed.
    const early = await api.decide(KEYS.supportBot, refund(900, { approvalId: id }));
    expect(early.body.effect).not.toBe('allow');

    await card.getByLabel('Comment (recorded in the audit trail)').fill('duplicate charge confirmed');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByRole('status').filter({ hasText: 'Recorded: approved' }).waitFor();
    expect(await statusOf(id)).toBe('approved');
    const votes = (await api.get(`/v1/approvals/${id}`, KEYS.admin)).body.votes;
    expect(votes).toEqual([
      expect.objectContaining({
        approver: 'frank',
        verdict: 'approve',
        comment: 'duplicate charge confirmed',
      }),
    ]);

    const retry = await api.decide(KEYS.supportBot, refund(900, { approvalId: id }));
    expect(retry.body.effect).toBe('allow');
    const replay = await api.decide(KEYS.supportBot, refund(900, { approvalId: id }));
    expect(replay.body.effect).toBe('deny');
    expect(replay.body.errors.map((e: { code: string }) => e.code)).toContain('approval_consumed');

    // The History tab lists it as consumed.
    await page.getByRole('tab', { name: 'History' }).click();
    await page.locator('ol.inbox li', { hasText: 'payments.refund · consumed' }).first().waitFor();
    await expectAccessible(page, 'inbox history');

    // Signing out ends the session on the server: the same browser can no longer read the inbox.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const after = await page.evaluate<number>("fetch('/v1/approvals').then((r) => r.status)");
    expect(after).toBe(401);
    await context.close();
  });

  it('runs under the served Content-Security-Policy with nothing refused (no bypass)', async () => {
    const id = await requestLargeRefund();
    const context = await browser.newContext();
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    const answer = await page.goto(`${t.url}/ui/`);
    expect(answer!.headers()['content-security-policy']).toContain("script-src 'self'");
    await signIn(page, t.url, KEYS.frank);
    await page.locator(`article[data-approval="${id}"] table.args`).waitFor();
    expect(refused).toEqual([]);
    await context.close();
  });

  it("the agent's own user cannot approve it: the screen shows the server's refusal", async () => {
    const id = await requestLargeRefund();
    const { context, page } = await personPage(browser);
    // alice may read the approval of a call made for her, not vote on it.
    await signIn(page, t.url, KEYS.alice, `#/inbox/${id}`);
    const card = page.locator(`article[data-approval="${id}"]`);
    await card.waitFor();
    // The policy that asked and its @reason (from the decision, which the call's own user may read).
    await expect
      .poll(() => card.textContent())
      .toContain("refunds over 500 need a finance manager's approval");
    expect(await card.textContent()).toContain('refund-large-needs-finance');
    await card.getByRole('button', { name: 'Approve' }).click();
    const refusal = card.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/Refused \((forbidden|wrong_role|self_approval)\)/);
    expect(await statusOf(id)).toBe('pending');
    await context.close();
  });

  it('a finance manager who already voted gets the refusal for a second vote shown', async () => {
    const id = await requestLargeRefund();
    const { context, page } = await personPage(browser);
    await signIn(page, t.url, KEYS.frank);
    const card = page.locator(`article[data-approval="${id}"]`);
    await card.getByRole('button', { name: 'Deny' }).click();
    await card.getByRole('status').filter({ hasText: 'Recorded: denied' }).waitFor();
    await card.getByRole('button', { name: 'Approve' }).click();
    await card
      .getByRole('alert')
      .filter({ hasText: /Refused \(\w+\)/ })
      .waitFor();
    expect(await statusOf(id)).toBe('denied');
    await context.close();
  });

  it('is usable at phone width (390 px): the args, the binding and the buttons fit on screen', async () => {
    const id = await requestLargeRefund();
    const { context, page } = await personPage(browser, 390);
    await signIn(page, t.url, KEYS.frank);
    const card = page.locator(`article[data-approval="${id}"]`);
    await card.waitFor();
    // Nothing wider than the screen: no sideways scrolling to read the amount or reach the buttons.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    for (const name of ['Approve', 'Deny']) {
      const box = (await card.getByRole('button', { name }).boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.height).toBeGreaterThanOrEqual(40);
    }
    const amount = (await card.locator('table.args tr', { hasText: 'amount' }).boundingBox())!;
    expect(amount.x + amount.width).toBeLessThanOrEqual(390);
    // Keyboard: Tab reaches the Approve button, which shows its focus.
    await card.getByLabel('Comment (recorded in the audit trail)').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Approve');
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).not.toBe(
      'none',
    );
    // A request made while the inbox is open shows after Refresh; the arrow keys move between the tabs.
    const later = await requestLargeRefund(901);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator(`article[data-approval="${later}"]`).waitFor();
    await page.getByRole('tab', { name: 'Pending' }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.getByRole('tab', { name: 'History' }).getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('History');
    await page.keyboard.press('ArrowLeft');
    await page.locator(`article[data-approval="${later}"]`).waitFor();
    await expectAccessible(page, 'inbox at 390 px');
    await screenshot(page, 'inbox-phone');
    await context.close();
  });

  // Cross-site, SameSite=Strict keeps the cookie home (401); same-site on another port the cookie
  // rides along and the missing CSRF token refuses it (403 csrf).
  for (const [label, host, status, code] of [
    ['a cross-site page (other host)', 'localhost', 401, 'unauthenticated'],
    ['a same-site page on another port', '127.0.0.1', 403, 'csrf'],
  ] as const) {
    it(`a form post from ${label} approves nothing while the approver is signed in`, async () => {
      const id = await requestLargeRefund();
      const { context, page } = await personPage(browser);
      await signIn(page, t.url, KEYS.frank);
      await page.locator(`article[data-approval="${id}"]`).waitFor();
      const target = `${t.url}/v1/approvals/${id}/approve`;
      attackForm = `<!doctype html><form id="f" method="POST" action="${target}" enctype="text/plain">
        <input name='{"comment":"x","a":"' value='"}'></form><script>document.getElementById('f').submit()</script>`;
      const evil = await context.newPage();
      const answered = evil.waitForResponse((r) => r.url() === target);
      await evil.goto(`http://${host}:${attackerPort}/`);
      const res = await answered;
      // The post reached the server and was refused.
      expect(res.status()).toBe(status);
      expect(JSON.parse(await res.text()).error.code).toBe(code);
      expect(await statusOf(id)).toBe('pending');
      await context.close();
    });
  }
});
