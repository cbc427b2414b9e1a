/**
 * PRODUCT.md's "Admin UI" accessible names, used the way an outside tester reads them: plain
 * `getByRole(role, { name })` and `getByLabel(name)` (Playwright's default, a case-insensitive
 * substring, strict: one match or the call fails) and the same names with `exact: true`. Each
 * name must find one element on the page where a user looks for it, and do what it says.
 * Against a real `sesame serve` (SQLite) in Chromium; needs `npm run build`.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Sesame, signInWith, startSesame } from './helpers.js';

const VALUE = 'names-typed-value-3c7f1a9e';

let sesame: Sesame;
let browser: Browser;
let revealToken: string;
const contexts: BrowserContext[] = [];
/** What Chromium reported refused by the page's CSP (none: the UI runs no inline script or style). */
const refusedByCsp: string[] = [];

async function open(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refusedByCsp.push(m.text());
  });
  await signInWith(page, sesame.url, token);
  return page;
}

/** The locator finds exactly one element, with the default (substring) match and with exact. */
async function one(loose: Locator, exact: Locator, what: string): Promise<Locator> {
  await exact.first().waitFor();
  expect(await loose.count(), `${what} (substring match)`).toBe(1);
  expect(await exact.count(), `${what} (exact match)`).toBe(1);
  return exact;
}

const button = (scope: Page | Locator, name: string) =>
  one(
    scope.getByRole('button', { name }),
    scope.getByRole('button', { name, exact: true }),
    `button ${name}`,
  );
const field = (scope: Page | Locator, name: string) =>
  one(scope.getByLabel(name), scope.getByLabel(name, { exact: true }), `field ${name}`);

beforeAll(async () => {
  sesame = await startSesame();
  browser = await launchChromium();
  revealToken = (
    JSON.parse(
      await sesame.cli(
        'tokens',
        'create',
        '--role',
        'admin',
        '--reveal',
        '--name',
        'names-revealer',
        '--json',
      ),
    ) as { token: string }
  ).token;
  expect((await sesame.call('POST', '/api/v1/namespaces', sesame.adminToken, { name: 'acme' })).status).toBe(
    201,
  );
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await sesame?.stop();
});

describe('the accessible names PRODUCT.md promises', () => {
  it('the sign-in page and the signed-in pages settle (network idle), as an outside test may wait for', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${sesame.url}/`, { waitUntil: 'networkidle', timeout: 8_000 });
    await page.getByLabel('Token').fill(sesame.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.waitForLoadState('networkidle', { timeout: 8_000 });
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toMatch(/Secrets/);
  });

  it('Namespace picks the namespace on every page, the Namespaces page included', async () => {
    const page = await open(sesame.adminToken);
    for (const link of ['Namespaces', 'Stores', 'Secrets', 'Connections', 'Audit', 'Cache', 'Tokens']) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1 }).waitFor();
      const picker = await field(page, 'Namespace');
      await picker.selectOption('acme');
      expect(await picker.inputValue()).toBe('acme');
      await picker.selectOption('');
    }
  });

  it('New secret, Name, Value, Save create a secret; Reveal shows it (reveal token)', async () => {
    const page = await open(revealToken);
    await page.getByRole('link', { name: 'Secrets' }).click();
    await (await button(page, 'New secret')).click();
    // "Name" is part of "Namespace" (the picker at the top), so a substring match of Name finds
    // both on any page: the page-wide check is exact, the substring one inside the form.
    await page.getByLabel('Name', { exact: true }).fill('names-secret');
    const form = page.getByRole('form', { name: 'New secret' });
    expect(await form.getByLabel('Name').count()).toBe(1);
    await (await field(page, 'Value')).fill(VALUE);
    await (await button(page, 'Save')).click();
    await page.getByRole('button', { name: 'Open names-secret' }).waitFor();
    await (await button(page, 'Reveal')).click();
    await page.getByText(VALUE).waitFor();
  });

  it('on a connection: Pick secret, Save, then Test and Refresh in its row', async () => {
    const page = await open(sesame.adminToken);
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'New connection' }).click();
    await page.getByLabel('Connection name').fill('names-conn');
    await (await button(page, 'Pick secret')).click();
    await page.getByRole('radio', { name: 'names-secret' }).check();
    await page.getByRole('button', { name: 'Use this secret' }).click();
    await (await button(page, 'Save')).click();
    const row = page.getByRole('row', { name: /names-conn/ });
    await row.waitFor();
    // Saved with the picked secret as a reference, never its value.
    const saved = await sesame.call('GET', '/api/v1/connections/names-conn', sesame.adminToken);
    expect(saved.status).toBe(200);
    expect(JSON.stringify(saved.body)).toContain('secret://builtin/names-secret');
    await (await button(row, 'Test')).click();
    await page.getByText(/names-conn: (ok|failed)/).waitFor();
    await (await button(row, 'Refresh')).click();
    await page.getByText(/Dropped \d+ cached values/).waitFor();
  });

  it('on a new store: Test checks the form, with other stores listed beside it', async () => {
    const page = await open(sesame.adminToken);
    const created = await sesame.call('POST', '/api/v1/stores', sesame.adminToken, {
      name: 'names-files',
      type: 'file',
      settings: { root: sesame.dir },
    });
    expect(created.status).toBe(201);
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('row', { name: /names-files/ }).waitFor();
    await page.getByRole('button', { name: 'New store' }).click();
    await page.getByLabel('Store name').fill('names-builtin');
    await page.getByLabel('Type').selectOption('builtin');
    await (await button(page, 'Test')).click();
    await page.getByText('names-builtin: all checks pass.').waitFor();
    await (await button(page, 'Save')).click();
    const row = page.getByRole('row', { name: /names-builtin/ });
    await (await button(row, 'Test')).click();
    await page.getByText('names-builtin: all checks pass.').waitFor();
    // Editing a store: Test checks the form's settings there too (the list is hidden meanwhile).
    await row.getByRole('button', { name: 'Edit names-builtin' }).click();
    await page.getByRole('form', { name: 'Edit store names-builtin' }).waitFor();
    await (await button(page, 'Test')).click();
    await page.getByText('names-builtin: all checks pass.').waitFor();
    await (await button(page, 'Save')).click();
    await page.getByRole('row', { name: /names-builtin/ }).waitFor();
  });

  it('after a failed check, Save is still the one Save: saving anyway is a choice beside it', async () => {
    const page = await open(sesame.adminToken);
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('button', { name: 'New store' }).click();
    await page.getByLabel('Store name').fill('names-vault');
    await page.getByLabel('Type').selectOption('vault');
    await page.getByLabel('auth method').selectOption('token');
    await page.getByLabel('address', { exact: true }).fill('https://203.0.113.10:8200');
    await page.getByLabel('token', { exact: true }).fill('hvs.names-not-a-real-token');
    await (await button(page, 'Test')).click();
    await page.getByText('names-vault: a check failed.').waitFor();
    await (await button(page, 'Save')).click();
    await page.getByText('The store was not saved because a check failed.').waitFor();
    await page.getByLabel('Save even though a check failed').check();
    await (await button(page, 'Save')).click();
    await page.getByRole('row', { name: /names-vault/ }).waitFor();
    const saved = await sesame.call('GET', '/api/v1/stores/names-vault', sesame.adminToken);
    expect(saved.status).toBe(200);
    expect(JSON.stringify(saved.body)).not.toContain('hvs.names-not-a-real-token');
  });

  it('Verify on Audit, Refresh on Cache, then Sign out', async () => {
    const page = await open(sesame.adminToken);
    await page.getByRole('link', { name: 'Audit' }).click();
    await (await button(page, 'Verify')).click();
    await page.getByText('The chain verifies.').waitFor();
    await page.getByRole('link', { name: 'Cache' }).click();
    await (await button(page, 'Refresh')).click();
    await page.getByText(/Dropped \d+ cached values/).waitFor();
    await (await button(page, 'Sign out')).click();
    await (await field(page, 'Token')).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    await button(page, 'Sign in');
  });

  it('a session that ends while the page is open (expired, signed out elsewhere) says so on the sign-in form', async () => {
    const page = await open(sesame.adminToken);
    // The page's own first requests done, so the first one refused is the Tokens page's.
    await page.waitForLoadState('networkidle');
    await page.context().clearCookies();
    await page.getByRole('link', { name: 'Tokens' }).click();
    await (await field(page, 'Token')).waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/session.*ended.*sign in again/i);
    // Signing in again clears it.
    await page.getByLabel('Token').fill(sesame.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
  });

  it('nothing on these pages was refused by the Content-Security-Policy, which does refuse an inline script', async () => {
    expect(contexts.length).toBeGreaterThan(3);
    expect(refusedByCsp).toEqual([]);
    // The control: an inline script added to the page does not run, and is reported.
    const page = await open(sesame.adminToken);
    await page.evaluate(`{
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.body.appendChild(s);
    }`);
    await expect.poll(() => refusedByCsp.length).toBeGreaterThan(0);
    expect(await page.evaluate('window.inlineRan === true')).toBe(false);
  });
});
