/**
 * The admin UI as an operator meets it on a bad day, in Chromium against a real `sesame serve`
 * (SQLite): every kind of error the API answers is shown next to what caused it, with the API's
 * message and fix, and the form keeps what was typed; a network failure says what happened; a
 * revealed value goes away when the page shows something else; long lists page instead of
 * being cut. Statuses a test cannot provoke cheaply on a real server (429, 503) are answered in
 * the API's own error shape by the browser's request routing. Needs `npm run build`.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Sesame, signInWith, startSesame } from './helpers.js';

const TYPED = 'review-typed-value-5d1c8e2a7f';
const STORED = 'review-stored-value-0b9e4c61d3';
const CANARIES = [TYPED, STORED];

let sesame: Sesame;
let browser: Browser;
let revealToken: string;
const contexts: BrowserContext[] = [];

async function open(token = sesame.adminToken): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  await signInWith(page, sesame.url, token);
  return page;
}

/** No value in the DOM, the title, the URL or web storage. */
async function expectNoValues(page: Page, what: string): Promise<void> {
  const seen = (await page.evaluate(
    '[document.documentElement.outerHTML, document.title, location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join("\\n")',
  )) as string;
  for (const v of CANARIES) expect(seen, `${what}: value visible`).not.toContain(v);
}

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
        'review-reveal',
        '--json',
      ),
    ) as { token: string }
  ).token;
  for (const ns of ['acme', 'globex']) {
    expect((await sesame.call('POST', '/api/v1/namespaces', sesame.adminToken, { name: ns })).status).toBe(
      201,
    );
  }
  const put = await sesame.call('PUT', '/api/v1/secrets/db-password?namespace=acme', sesame.adminToken, {
    value: STORED,
  });
  expect(put.status).toBe(200);
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await sesame?.stop();
});

async function newSecretForm(page: Page) {
  await page.getByRole('link', { name: 'Secrets' }).click();
  await page.getByRole('button', { name: 'New secret' }).click();
  const form = page.getByRole('form', { name: 'New secret' });
  await form.getByLabel('Name', { exact: true }).fill('review-key');
  await form.getByLabel('Value').fill(TYPED);
  return form;
}

describe('errors in the admin UI', () => {
  it("each status the API answers is shown in the form with the API's message and fix; Name and Value stay typed", async () => {
    const page = await open();
    const form = await newSecretForm(page);
    const answers: Array<{
      status: number;
      code: string;
      issues?: Array<{ path: string; message: string }>;
    }> = [
      { status: 400, code: 'invalid_request', issues: [{ path: 'body.description', message: 'too long' }] },
      { status: 403, code: 'forbidden' },
      { status: 404, code: 'store_not_found' },
      { status: 409, code: 'conflict' },
      { status: 413, code: 'payload_too_large' },
      { status: 429, code: 'rate_limited' },
      { status: 503, code: 'store_unavailable' },
    ];
    for (const a of answers) {
      const message = `review message ${a.status}`;
      const fix = `review fix ${a.status}: do this`;
      await page.route('**/api/v1/secrets/review-key**', (route) =>
        route.fulfill({
          status: a.status,
          contentType: 'application/json',
          body: JSON.stringify({
            error: { code: a.code, message, fix, ...(a.issues ? { issues: a.issues } : {}) },
          }),
        }),
      );
      await form.getByRole('button', { name: 'Save' }).click();
      const alert = form.getByRole('alert');
      await alert.filter({ hasText: message }).waitFor();
      expect(await alert.textContent(), `${a.status}`).toContain(fix);
      if (a.issues) expect(await alert.textContent()).toContain('body.description');
      expect(await form.getByLabel('Name', { exact: true }).inputValue()).toBe('review-key');
      // The value is kept in the password input's live value (never an attribute), so Save can be pressed again.
      expect(await form.getByLabel('Value').inputValue()).toBe(TYPED);
      await page.unroute('**/api/v1/secrets/review-key**');
    }
    await expectNoValues(page, 'after errors');
  });

  it('real refusals of the server: 400 with its issues and 413, next to the form that caused them', async () => {
    const page = await open();
    const form = await newSecretForm(page);
    await form.getByLabel('Description').fill('d'.repeat(3000));
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('alert').filter({ hasText: 'description' }).waitFor();
    await form.getByLabel('Description').fill('');
    await form.getByLabel('Multi-line (PEM, JSON)').check();
    await form.getByLabel('Value').fill('v'.repeat(1_100_000));
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('alert').filter({ hasText: 'server.bodyLimit' }).waitFor();
    expect(await form.getByLabel('Name', { exact: true }).inputValue()).toBe('review-key');
  });

  it('a network failure says the server could not be reached and what to do, not the browser\'s "Failed to fetch"', async () => {
    const page = await open();
    const form = await newSecretForm(page);
    await page.route('**/api/v1/secrets/review-key**', (route) => route.abort('connectionrefused'));
    await form.getByRole('button', { name: 'Save' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    expect(text).toMatch(/could not reach the Sesame server/i);
    expect(text).toMatch(/retry/i);
    expect(text).not.toContain('Failed to fetch');
    expect(await form.getByLabel('Value').inputValue()).toBe(TYPED);
  });
});

describe('values in the admin UI', () => {
  it('a revealed value goes away when the Namespace picker shows another namespace', async () => {
    const page = await open(revealToken);
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByLabel('Namespace', { exact: true }).selectOption('acme');
    await page.getByRole('button', { name: 'Open db-password' }).click();
    await page.getByRole('button', { name: 'Reveal' }).click();
    await page.getByText(STORED).waitFor();
    await page.getByLabel('Namespace', { exact: true }).selectOption('globex');
    await page.getByRole('heading', { name: 'Secrets in globex' }).waitFor();
    await page.waitForLoadState('networkidle');
    expect(await page.getByText(STORED).count()).toBe(0);
    await expectNoValues(page, 'after switching namespace');
  });
});

describe('long lists in the admin UI', () => {
  it('the secret picker pages through hundreds of names instead of offering the first 50 only', async () => {
    for (let i = 0; i < 130; i += 1) {
      const name = `bulk-${String(i).padStart(3, '0')}`;
      expect(
        (await sesame.call('PUT', `/api/v1/secrets/${name}`, sesame.adminToken, { value: `v${i}` })).status,
      ).toBe(200);
    }
    const page = await open();
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'New connection' }).click();
    await page.getByRole('button', { name: 'Pick secret' }).click();
    const names = page.getByRole('list', { name: 'Secret names' });
    await names.getByRole('radio', { name: 'bulk-000' }).waitFor();
    const more = page.getByRole('button', { name: 'More names' });
    for (let shown = 50; shown < 130; shown += 50) {
      await more.click();
      await names
        .getByRole('radio')
        .nth(Math.min(shown + 50, 130) - 1)
        .waitFor();
    }
    // All there: no more to load.
    await more.waitFor({ state: 'detached' });
    expect(await names.getByRole('radio').count()).toBe(130);
    await names.getByRole('radio', { name: 'bulk-129' }).check();
  });
});

describe('long lists of configuration in the admin UI', () => {
  it('the Connections page lists every connection of a namespace, past the 500 of one API page', async () => {
    const total = 505;
    for (let i = 0; i < total; i += 25) {
      const batch = Array.from({ length: Math.min(25, total - i) }, (_, j) => i + j);
      const created = await Promise.all(
        batch.map((n) =>
          sesame.call('POST', '/api/v1/connections', sesame.adminToken, {
            name: `conn-${String(n).padStart(3, '0')}`,
            namespace: 'globex',
            type: 'generic',
            fields: { user: 'app' },
          }),
        ),
      );
      for (const c of created) expect(c.status, JSON.stringify(c.body)).toBe(201);
    }
    const page = await open();
    await page.getByLabel('Namespace', { exact: true }).selectOption('globex');
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('cell', { name: /^conn-000/ }).waitFor();
    await page.waitForLoadState('networkidle');
    expect(await page.getByRole('cell', { name: /^conn-\d{3}/ }).count()).toBe(total);
    await page.getByRole('cell', { name: /^conn-504/ }).waitFor();
  }, 120_000);
});

describe('keyboard in the admin UI', () => {
  it('closing the secret picker (Use this secret, or Cancel) puts focus back on Pick secret, not on the page', async () => {
    const page = await open();
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'New connection' }).click();
    const focused = () =>
      page.evaluate('document.activeElement ? document.activeElement.textContent : ""') as Promise<string>;
    await page.getByRole('button', { name: 'Pick secret' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Cancel' }).first().waitFor();
    await page.getByRole('group', { name: 'Pick a secret' }).getByRole('button', { name: 'Cancel' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(focused).toBe('Pick secret');
    await page.keyboard.press('Enter');
    await page.getByRole('radio', { name: 'bulk-000' }).check();
    await page.getByRole('button', { name: 'Use this secret' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText('builtin / bulk-000').waitFor();
    await expect.poll(focused).toBe('Pick secret');
  });
});
