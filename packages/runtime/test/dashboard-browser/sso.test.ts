import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll, type TestMandate } from '../fixtures/mandate.js';
import { createTestIssuer, type TestIssuer } from '../fixtures/oidc.js';
import { HAVE_CHROMIUM, expectAccessible, launch, personPage } from './harness.js';

/** Single sign-on in the browser: the dashboard's SSO link, a real OpenID provider's pages, back signed in. */
describe.skipIf(!HAVE_CHROMIUM)('dashboard: sign in with SSO (OpenID Connect) in a real browser', () => {
  let op: TestIssuer;
  let withSso: TestMandate;
  let withoutSso: TestMandate;
  let browser: Browser;

  beforeAll(async () => {
    op = await createTestIssuer({ frank: 'approver' });
    withSso = await createTestMandate({
      config: (raw) => {
        raw.dashboard = { oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret } };
      },
    });
    withoutSso = await createTestMandate();
    op.start([`${withSso.url}/v1/sessions/oidc/callback`]);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await op?.close();
    await disposeAll();
  });

  it('offers SSO when an issuer is configured; the issuer signs frank in as an approver', async () => {
    const { context, page } = await personPage(browser);
    await page.goto(`${withSso.url}/ui/`);
    const sso = page.getByRole('link', { name: 'Sign in with SSO' });
    await sso.waitFor();
    expect(await page.locator('form.signin').getAttribute('data-sso')).toBe('offered');
    expect(await sso.getAttribute('href')).toBe('/v1/sessions/oidc/login');
    await expectAccessible(page, 'sign-in with SSO');
    await sso.click();
    // The provider's own pages (its development login and consent forms).
    await page.locator('input[name="login"]').fill('frank');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]', { hasText: /continue/i }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(new URL(page.url()).origin).toBe(withSso.url);
    expect(await page.locator('header .who').textContent()).toContain('frank · approver');
    await page.getByRole('heading', { name: 'Approvals', level: 1 }).waitFor();
    await context.close();
  });

  it('hides the SSO link when no issuer is configured', async () => {
    const { context, page } = await personPage(browser);
    const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/sessions/oidc');
    const logins: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/sessions/oidc/login')) logins.push(r.url());
    });
    await page.goto(`${withoutSso.url}/ui/`);
    expect(await (await asked).json()).toEqual({ enabled: false });
    await page.locator('form[data-sso="absent"]').waitFor();
    expect(await page.getByRole('link', { name: 'Sign in with SSO' }).isVisible()).toBe(false);
    // The sign-in page asks the cheap route only: no login transaction is started to find out.
    expect(logins).toEqual([]);
    await context.close();
  });
});
