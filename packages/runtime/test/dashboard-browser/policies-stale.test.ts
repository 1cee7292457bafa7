import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { client, KEYS, refund, type Client } from '../fixtures/http.js';
import { HAVE_CHROMIUM, expectAccessible, launch, openScreen, personPage, signIn } from './harness.js';

const FREEZE =
  '@id("refund-freeze")\n@reason("incident: all refunds frozen")\nforbid (principal, action == Action::"payments.refund", resource);\n';

/**
 * Activate on a Policies page loaded before another admin's activation: the page sends the version
 * it loaded, the server refuses, and the admin is told and shown what changed (a probe re-allowed
 * refunds an emergency forbid had just denied, with "Activated version …" and no warning).
 */
describe.skipIf(!HAVE_CHROMIUM)('dashboard: activating a candidate edited from a stale set', () => {
  let t: TestMandate;
  let api: Client;
  let browser: Browser;

  beforeAll(async () => {
    t = await createTestMandate();
    api = client(t.url);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await disposeAll();
  });

  it('is refused with what changed, and the newer set stays active', async () => {
    const { context, page } = await personPage(browser);
    await signIn(page, t.url, KEYS.admin);
    await openScreen(page, 'Policies');
    const loaded = (await api.get('/v1/policies', KEYS.admin)).body;
    const text = page.getByLabel('Candidate text');
    await text.fill(`${await text.inputValue()}\n// reviewed by A\n`);

    // Meanwhile admin B adds an emergency forbid through the API (with no base: an older client).
    const b = await api.put('/v1/policies', KEYS.admin, {
      policies: { ...loaded.policies, 'freeze.cedar': FREEZE },
      schema: loaded.schema,
    });
    expect(b.status, b.text).toBe(200);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('deny');

    await page.getByRole('button', { name: 'Activate' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'changed since this page loaded' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain(`version ${b.body.version} is active now`);
    expect(await alert.locator('figure.diff .add').allTextContents()).toContain(
      '+ forbid (principal, action == Action::"payments.refund", resource);\n',
    );
    expect(await page.getByText(/Activated version/).count()).toBe(0);
    await expectAccessible(page, 'policies: changed since loaded');

    // Nothing was activated: B's forbid still decides.
    const now = (await api.get('/v1/policies', KEYS.admin)).body;
    expect(now.version).toBe(b.body.version);
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('deny');

    // Loading the active set and activating from it works.
    await page.getByRole('button', { name: 'Load the active set (discards your edits)' }).click();
    await page.getByRole('heading', { name: `Active version ${b.body.version}` }).waitFor();
    await text.fill(`${await text.inputValue()}\n// reviewed by A\n`);
    await page.getByRole('button', { name: 'Activate' }).click();
    await page.getByRole('status').filter({ hasText: 'Activated version' }).waitFor();
    const after = (await api.get('/v1/policies', KEYS.admin)).body;
    expect(after.version).not.toBe(b.body.version);
    expect(Object.keys(after.policies)).toContain('freeze.cedar');
    expect((await api.decide(KEYS.supportBot, refund(120))).body.effect).toBe('deny');
    await context.close();
  });
});
