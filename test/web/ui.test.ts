/**
 * The admin UI end to end in Chromium against a real `sesame serve` (SQLite): sign in, the
 * flows of each page, what a scoped operator and an auditor must not see or do, no secret value
 * anywhere the page can reach unless revealed, and axe-core on every page. Screenshots go to
 * docs/images/. Needs `npm run build` first (CI runs it before vitest) and /usr/bin/chromium.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { launchChromium, ROOT, type Sesame, startSesame } from './helpers.js';

const IMAGES = path.join(ROOT, 'docs/images');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Every secret value written in these tests: none may reach the page unless revealed. */
const VALUES = {
  acme: 'acme-db-pass-9f3c1e77b2',
  globex: 'globex-api-key-4a8d0c55e1',
  ui: 'ui-typed-value-7b1e93c2d4',
  pem: '-----BEGIN PRIVATE KEY-----\nMIIEv-canary-1c9e0a4f\n-----END PRIVATE KEY-----',
};
const CANARIES = [VALUES.acme, VALUES.globex, VALUES.ui, 'MIIEv-canary-1c9e0a4f'];

interface Recorded {
  url: string;
  body: string;
}

let sesame: Sesame;
let browser: Browser;
let revealToken: string;
let operatorToken: string;
let auditorToken: string;
const responses: Recorded[] = [];
const contexts: BrowserContext[] = [];

async function open(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  // A step that waits longer than this fails naming its locator, well inside the test's time
  // (a step takes well under a second here).
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  // What the page did, printed only if the test fails: the calls it made and their statuses (no
  // bodies), failed requests and console errors, with the time since the page opened.
  const started = Date.now();
  const events: string[] = [];
  const event = (what: string) => events.push(`+${Date.now() - started}ms ${what}`);
  page.on('request', (req) => event(`${req.method()} ${new URL(req.url()).pathname}`));
  page.on('requestfinished', async (req) =>
    event(`${(await req.response())?.status() ?? '?'} ${req.method()} ${new URL(req.url()).pathname}`),
  );
  page.on('requestfailed', (req) => event(`failed ${req.method()} ${new URL(req.url()).pathname}: ${req.failure()?.errorText}`));
  page.on('console', (m) => m.type() === 'error' && event(`console: ${m.text()}`));
  page.on('pageerror', (e) => event(`page error: ${e.message}`));
  onTestFailed(() => console.error(`what the page did:\n${events.join('\n')}`));
  page.on('response', async (res) => {
    if (!res.url().includes('/api/')) return;
    try {
      responses.push({ url: res.url(), body: await res.text() });
    } catch {}
  });
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${sesame.url}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** No secret value in the DOM, web storage or script-readable cookies. */
async function expectNoValues(page: Page): Promise<void> {
  const seen = (await page.evaluate(
    '[document.documentElement.outerHTML, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie].join("\\n")',
  )) as string;
  for (const v of CANARIES) expect(seen, `value ${v} visible`).not.toContain(v);
  // Nor the session's token in storage or cookies readable by scripts.
  const storage = (await page.evaluate(
    '[JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie].join("\\n")',
  )) as string;
  for (const t of [sesame.adminToken, revealToken, operatorToken, auditorToken])
    expect(storage).not.toContain(t);
}

async function axe(page: Page, name: string): Promise<void> {
  // evaluate, not a script tag: the page's CSP (rightly) refuses inline scripts.
  await page.evaluate(AXE);
  const result = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3) })))',
  )) as Array<{ id: string; impact: string; nodes: string[] }>;
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${name}: ${JSON.stringify(bad)}`).toEqual([]);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(IMAGES, `${name}.png`) });
}

beforeAll(async () => {
  mkdirSync(IMAGES, { recursive: true });
  sesame = await startSesame();
  browser = await launchChromium();
  const admin = sesame.adminToken;
  revealToken = (
    JSON.parse(
      await sesame.cli('tokens', 'create', '--role', 'admin', '--reveal', '--name', 'revealer', '--json'),
    ) as { token: string }
  ).token;
  for (const ns of ['acme', 'globex']) {
    expect((await sesame.call('POST', '/api/v1/namespaces', admin, { name: ns })).status).toBe(201);
  }
  expect(
    (await sesame.call('PUT', '/api/v1/secrets/db-password?namespace=acme', admin, { value: VALUES.acme }))
      .status,
  ).toBe(200);
  expect(
    (await sesame.call('PUT', '/api/v1/secrets/api-key?namespace=globex', admin, { value: VALUES.globex }))
      .status,
  ).toBe(200);
  const token = async (role: string, namespace: string) =>
    (
      (
        await sesame.call('POST', '/api/v1/tokens', admin, {
          role,
          namespace,
          name: `${role}-${namespace || 'root'}`,
        })
      ).body as { token: string }
    ).token;
  operatorToken = await token('operator', 'acme');
  auditorToken = await token('auditor', '');
}, 60_000);

// Each test's pages close with it: pages left open keep using the browser's share of the CPU.
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await sesame?.stop();
});

// Browser flows on a loaded 2-core machine: each takes a few seconds here, and a stuck step
// fails after 10 s (above) with its locator, so the test's own limit is only a backstop.
describe('admin UI', { timeout: 60_000 }, () => {
  it("refuses a bad token with the API's words, then an admin signs in and sees every page", async () => {
    const page = await open();
    await page.goto(`${sesame.url}/`);
    await axe(page, 'sign-in');
    await shot(page, 'sign-in');
    await page.getByLabel('Token').fill('not-a-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not known');
    await page.getByLabel('Token').fill(sesame.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const name of ['Namespaces', 'Stores', 'Secrets', 'Connections', 'Audit', 'Cache', 'Tokens']) {
      await page.getByRole('link', { name, exact: true }).click();
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle');
      await axe(page, name);
      await expectNoValues(page);
    }
    const options = await page.getByLabel('Namespace', { exact: true }).locator('option').allTextContents();
    expect(options).toEqual(expect.arrayContaining(['(root)', 'acme', 'globex']));
  });

  it('an admin creates a secret with Name and Value, sees it listed, then signs out and the session is over', async () => {
    const page = await open();
    await signIn(page, sesame.adminToken);
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByLabel('Namespace', { exact: true }).selectOption('acme');
    await page.getByRole('button', { name: 'Open db-password' }).waitFor();
    await page.getByRole('button', { name: 'New secret' }).click();
    await page.getByLabel('Name', { exact: true }).fill('stripe-key');
    await page.getByLabel('Value').fill(VALUES.ui);
    expect(await page.getByLabel('Value').getAttribute('type')).toBe('password');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Open stripe-key' }).waitFor();
    // A PEM key: multi-line.
    await page.getByRole('button', { name: 'New secret' }).click();
    await page.getByLabel('Name', { exact: true }).fill('tls-key');
    await page.getByLabel('Multi-line (PEM, JSON)').check();
    await page.getByLabel('Value').fill(VALUES.pem);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Open tls-key' }).waitFor();
    // Versions of the selected secret; an admin without reveal has no Reveal button.
    await page
      .getByRole('region', { name: 'Secret tls-key' })
      .getByRole('heading', { name: 'Versions' })
      .waitFor();
    expect(await page.getByRole('button', { name: 'Reveal' }).count()).toBe(0);
    await page.getByText('showing it needs a token with the reveal permission').waitFor();
    await page.waitForLoadState('networkidle');
    await axe(page, 'secrets');
    await shot(page, 'secrets');
    await expectNoValues(page);
    const stored = await sesame.call('GET', '/api/v1/secrets/stripe-key/value?namespace=acme', revealToken);
    expect((stored.body as { value: string }).value).toBe(VALUES.ui);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor();
    const after = await page.context().request.get(`${sesame.url}/api/v1/session`);
    expect(after.status()).toBe(401);
    const list = await page.context().request.get(`${sesame.url}/api/v1/secrets?namespace=acme`);
    expect(list.status()).toBe(401);
  });

  it('a token with reveal shows a value, and it is hidden again', async () => {
    const page = await open();
    await page.clock.install();
    await signIn(page, revealToken);
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByLabel('Namespace', { exact: true }).selectOption('acme');
    await page.getByRole('button', { name: 'Open db-password' }).click();
    await page.getByRole('button', { name: 'Reveal' }).click();
    await page.getByText(VALUES.acme).waitFor();
    await shot(page, 'reveal');
    await page.clock.runFor(21_000);
    await page.getByRole('button', { name: 'Reveal' }).waitFor();
    expect(await page.getByText(VALUES.acme).count()).toBe(0);
    await expectNoValues(page);
  });

  it('May reveal values is offered for admin and operator tokens only', async () => {
    const page = await open();
    await signIn(page, revealToken);
    await page.getByRole('link', { name: 'Tokens' }).click();
    const reveal = page.getByLabel('May reveal values');
    for (const [role, offered] of [['operator', 1], ['runtime', 0], ['auditor', 0], ['admin', 1]] as const) {
      await page.getByLabel('Role').selectOption(role);
      expect(await reveal.count(), role).toBe(offered);
    }
    // Ticked for an operator, then the role changed to runtime: the token is made, without reveal.
    await page.getByLabel('Role').selectOption('operator');
    await reveal.check();
    await page.getByLabel('Role').selectOption('runtime');
    await page.getByLabel('Token name').fill('no-reveal-runtime');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('region', { name: 'New token' }).getByRole('button', { name: 'Copy' }).waitFor();
    const listed = await sesame.call('GET', '/api/v1/tokens', revealToken);
    const made = (listed.body as { items: Array<{ name: string; role: string; reveal: boolean }> }).items.find(
      (t) => t.name === 'no-reveal-runtime',
    );
    expect(made).toMatchObject({ role: 'runtime', reveal: false });
  });

  it('an admin creates a token (shown once, with Copy) and revokes it', async () => {
    const page = await open();
    await signIn(page, sesame.adminToken);
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Token name').fill('ci-deploy');
    await page.getByLabel('Role').selectOption('runtime');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('region', { name: 'New token' });
    await shown.getByRole('button', { name: 'Copy' }).waitFor();
    const token = (await shown.locator('code').textContent()) ?? '';
    expect(token).toMatch(/^sesame_/);
    expect((await sesame.call('GET', '/api/v1/cache', token)).status).toBe(403); // a runtime token, valid
    await shot(page, 'tokens');
    await shown.getByRole('button', { name: 'Done' }).click();
    expect(await page.getByText(token).count()).toBe(0);
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Revoke ci-deploy' }).click();
    await expect
      .poll(async () => (await sesame.call('POST', '/api/v1/refresh', token, { namespace: '' })).status)
      .toBe(401);
    await page.getByRole('button', { name: 'Revoke ci-deploy' }).waitFor({ state: 'detached' });
  });

  it('Audit Verify shows the chain verifies; Cache Refresh drops values', async () => {
    const page = await open();
    await signIn(page, sesame.adminToken);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('The chain verifies.').waitFor();
    await page.getByLabel('Action').fill('secret.');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('cell', { name: 'secret.write' }).first().waitFor();
    await shot(page, 'audit');
    await page.getByRole('link', { name: 'Cache' }).click();
    await page.getByLabel('Refresh what').selectOption('all');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByText(/Dropped \d+ cached values/).waitFor();
    await shot(page, 'cache');
    await expectNoValues(page);
  });

  it('a connection field takes a secret through Pick secret (a chip, never the value); Test, Refresh; Namespaces tree and New store pass axe', async () => {
    const page = await open();
    await signIn(page, sesame.adminToken);
    await page.getByLabel('Namespace', { exact: true }).selectOption('acme');
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'New connection' }).click();
    await page.getByLabel('Connection name').fill('billing-db');
    await page.getByRole('button', { name: 'Pick secret' }).click();
    await page.getByRole('radio', { name: 'db-password' }).check();
    await page.getByRole('button', { name: 'Use this secret' }).click();
    await page.getByText('builtin / db-password').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'builtin / db-password' }).waitFor();
    const row = page.getByRole('row', { name: /billing-db/ });
    await row.getByRole('button', { name: 'Test', exact: true }).click();
    await page.getByText(/billing-db: (ok|failed)/).waitFor();
    await row.getByRole('button', { name: 'Refresh', exact: true }).click();
    await page.getByText(/Dropped \d+ cached values/).waitFor();
    await axe(page, 'connections');
    await shot(page, 'connections');
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('link', { name: 'Namespaces' }).click();
    await page.getByRole('list', { name: 'Workspaces and projects' }).getByText('globex').waitFor();
    await shot(page, 'namespaces');
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('button', { name: 'New store' }).click();
    await axe(page, 'stores');
    await expectNoValues(page);
  });

  it('an operator scoped to acme sees acme only: globex is neither offered nor served', async () => {
    const page = await open();
    await signIn(page, operatorToken);
    const options = await page.getByLabel('Namespace', { exact: true }).locator('option').allTextContents();
    expect(options).toContain('acme');
    expect(options).not.toContain('globex');
    expect(await page.getByRole('link', { name: 'Tokens' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Audit' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByRole('button', { name: 'Open db-password' }).waitFor();
    expect(await page.getByText('api-key').count()).toBe(0);
    const globex = await page.context().request.get(`${sesame.url}/api/v1/secrets?namespace=globex`);
    expect(globex.status()).toBe(403);
    await expectNoValues(page);
  });

  it('an auditor sees Audit only, and the API refuses the rest', async () => {
    const page = await open();
    await signIn(page, auditorToken);
    const links = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(links).toEqual(['Audit']);
    await page.goto(`${sesame.url}/secrets`);
    await page.getByRole('heading', { name: /Audit trail/ }).waitFor();
    const secrets = await page.context().request.get(`${sesame.url}/api/v1/secrets`);
    expect(secrets.status()).toBe(403);
    await axe(page, 'audit (auditor)');
  });

  it('no secret value reached the page in any API response except the reveal', () => {
    expect(responses.length).toBeGreaterThan(20);
    for (const r of responses) {
      if (new URL(r.url).pathname.endsWith('/value')) continue;
      for (const v of CANARIES) expect(r.body, `${r.url} carried a value`).not.toContain(v);
    }
    expect(responses.some((r) => r.body.includes(VALUES.acme))).toBe(true); // the reveal itself was recorded
  });
});
