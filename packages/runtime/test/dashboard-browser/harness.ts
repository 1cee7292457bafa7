import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { REPO_ROOT } from '../fixtures/mandate.js';

/**
 * Browser tests drive Debian's chromium (never a downloaded browser). Where it is missing they
 * are skipped — except in CI, where `.ci/run` installs it and a missing browser is a failure.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && process.env.CI)
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests`);
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} is missing: the dashboard browser tests are skipped.`);

const DIST = join(REPO_ROOT, 'apps', 'dashboard', 'dist', 'index.html');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const SHOTS = join(REPO_ROOT, 'docs', 'images', 'dashboard');

export async function launch(): Promise<Browser> {
  if (!existsSync(DIST)) throw new Error('apps/dashboard/dist is not built: run `npm run build`');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh context (its own cookie jar) per person. bypassCSP only so the test can inject axe-core;
 * the CSP itself is checked by a test that runs without it.
 */
export async function personPage(
  browser: Browser,
  width = 1280,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 } });
  // Short waits: a missing element fails in seconds, with its name, not at the test's timeout.
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  return { context, page };
}

/** Signs in through the form with an API key; waits for the signed-in header. */
export async function signIn(page: Page, baseUrl: string, key: string, hash = ''): Promise<void> {
  await page.goto(`${baseUrl}/ui/${hash}`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Opens a screen by its nav link, as a person would. */
/** The heading a screen shows once its data is in, by the name of its navigation link. */
const HEADINGS: Record<string, string> = { 'Agents & tools': 'Agents and tools' };

/**
 * Opens a screen from the navigation and waits until it is drawn: its own heading, which the
 * dashboard renders with the screen's data. (Any first heading would do for the screen before
 * the click, which is still there until the new screen starts loading.)
 */
export async function openScreen(page: Page, name: string, heading = HEADINGS[name] ?? name): Promise<void> {
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** axe-core on the page as it is: no serious or critical violation. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  await page.addScriptTag({ path: AXE });
  // A string: the test's TypeScript has no DOM types; this runs in the page.
  const violations = await page.evaluate<Violation[]>(`axe
    .run(document, { resultTypes: ['violations'] })
    .then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)),
    })))`);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `axe on ${screen}`).toEqual([]);
}

/** With MANDATE_SCREENSHOTS=1, a PNG of the screen for docs/dashboard.md. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.MANDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
